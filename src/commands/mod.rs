pub mod bench;
pub mod privacy;
pub mod progress;
pub mod train;
