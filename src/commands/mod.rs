pub mod audit;
pub mod bench;
pub mod interop;
pub mod plan;
pub mod privacy;
pub mod progress;
pub mod train;
