pub mod bench;
pub mod interop;
pub mod privacy;
pub mod progress;
pub mod train;
