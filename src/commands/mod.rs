pub mod bench;
pub mod train;
