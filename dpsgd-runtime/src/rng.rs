//! Seeded random streams. One user seed gives independent ChaCha12 streams for each
//! purpose, so changing how often one of them is drawn from never shifts another.

use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;

/// What a random stream is used for; each purpose has its own ChaCha stream id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Init = 1,
    Noise = 2,
    Sampling = 3,
    Data = 4,
}

/// The generator for `purpose` under the user's `seed`.
pub fn stream(seed: u64, purpose: Stream) -> ChaCha12Rng {
    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    rng.set_stream(purpose as u64);
    rng
}
