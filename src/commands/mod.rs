pub mod bench;
pub mod privacy;
pub mod train;
