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

/// Words of a stream reserved for each step (or epoch): a step's draws start at
/// `index * STEP_WORDS`, so any step's draws can be reproduced from its index alone,
/// which is what makes a stopped run resume bit for bit. 2^40 words hold far more
/// than any step draws.
pub const STEP_WORDS: u128 = 1 << 40;

/// Moves `rng` to the start of step `index`'s draws.
pub fn seek(rng: &mut ChaCha12Rng, index: u64) {
    rng.set_word_pos(index as u128 * STEP_WORDS);
}
