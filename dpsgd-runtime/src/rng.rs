//! Random streams: secret ones for what the privacy guarantee needs kept secret (the
//! noise and the batch sampler), seeded ones for what may be public (parameter
//! initialization, the non-private baseline's shuffles, synthetic data).
//!
//! One 256-bit key gives independent ChaCha12 streams for each purpose, so changing
//! how often one of them is drawn from never shifts another.

use std::fmt;

use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;

use crate::error::{Error, Result};

/// What a random stream is used for; each purpose has its own ChaCha stream id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Parameter initialization (public: drawn from a seed).
    Init = 1,
    /// The Gaussian noise of private steps (secret).
    Noise = 2,
    /// Which examples each batch holds: Poisson sampling, or the shuffles of
    /// [`ShuffledBatches`](crate::sampling::ShuffledBatches).
    Sampling = 3,
    /// Synthetic data and other draws of data rather than of training.
    Data = 4,
    /// The discrete Gaussian noise of `--secure-noise` runs.
    SecureNoise = 5,
    /// The noise embedding-table rows owe, drawn when they are next read
    /// ([`DeferredTableNoise`](crate::noise::DeferredTableNoise)).
    TableNoise = 6,
}

/// Where a private run's noise and batch sampling come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Randomness {
    /// A fresh 256-bit key from the operating system's entropy for every run (kept in
    /// its checkpoint, so a resumed run continues it): nobody can regenerate the
    /// noise or learn which examples a batch held. The default, and the only mode in
    /// which the reported epsilon holds.
    #[default]
    Secret,
    /// The key derived from this public seed: runs repeat bit for bit, and anyone who
    /// knows the seed can regenerate every noise draw and every batch, so the
    /// reported epsilon does NOT hold. For tests and debugging only.
    InsecureReproducible(u64),
}

impl Randomness {
    /// The key of a new run in this mode.
    pub fn new_key(self) -> Result<SecretKey> {
        match self {
            Randomness::Secret => SecretKey::from_os(),
            Randomness::InsecureReproducible(seed) => Ok(SecretKey::insecure_from_seed(seed)),
        }
    }
}

/// The 256-bit ChaCha12 key of a run's noise and sampler. It never prints (its
/// `Debug` hides it); only checkpoints hold it, which makes them as secret as the
/// training data.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    /// A key from the operating system's entropy (`getrandom`).
    pub fn from_os() -> Result<Self> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)
            .map_err(|e| Error::Config(format!("the operating system gave no random key for the noise: {e}")))?;
        Ok(SecretKey(key))
    }

    /// The key that [`Randomness::InsecureReproducible`] derives from `seed`: the same
    /// as `ChaCha12Rng::seed_from_u64(seed)`'s, so anybody can compute it.
    pub fn insecure_from_seed(seed: u64) -> Self {
        SecretKey(ChaCha12Rng::seed_from_u64(seed).get_seed())
    }

    /// The generator for `purpose` under this key.
    pub fn stream(&self, purpose: Stream) -> ChaCha12Rng {
        let mut rng = ChaCha12Rng::from_seed(self.0);
        rng.set_stream(purpose as u64);
        rng
    }

    /// The key as 64 hexadecimal digits, for checkpoints only.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The key written by [`to_hex`](Self::to_hex); `None` unless `hex` is 64
    /// hexadecimal digits.
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut key = [0u8; 32];
        for (byte, pair) in key.iter_mut().zip(hex.as_bytes().chunks(2)) {
            *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
        }
        Some(SecretKey(key))
    }

    /// The key of these 32 bytes: for the processes of a data-parallel run, which
    /// receive the key the first drew.
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        SecretKey(bytes)
    }

    /// The raw key, for tests that search outputs for it.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(hidden)")
    }
}

/// The generator for `purpose` under a public seed: for what may be public
/// (initialization, shuffles of the non-private baseline, synthetic data).
pub fn stream(seed: u64, purpose: Stream) -> ChaCha12Rng {
    SecretKey::insecure_from_seed(seed).stream(purpose)
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn keys_from_the_os_differ_and_never_print() {
        let (a, b) = (SecretKey::from_os().unwrap(), SecretKey::from_os().unwrap());
        assert_ne!(a, b);
        let hex = a.to_hex();
        assert_eq!(format!("{a:?}"), "SecretKey(hidden)");
        assert!(!format!("{:?}", Some(&a)).contains(&hex[..16]));
        assert_eq!(SecretKey::from_hex(&hex), Some(a));
        for bad in ["", "00", &hex[1..], &format!("{}g", &hex[1..]), &"é".repeat(32)] {
            assert_eq!(SecretKey::from_hex(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_insecure_key_is_the_seeded_generator_of_rand_chacha() {
        let mut ours = SecretKey::insecure_from_seed(9).stream(Stream::Noise);
        let mut theirs = ChaCha12Rng::seed_from_u64(9);
        theirs.set_stream(Stream::Noise as u64);
        assert_eq!(ours.next_u64(), theirs.next_u64());
        let secret = SecretKey::from_os().unwrap();
        assert_ne!(secret.stream(Stream::Noise).next_u64(), stream(0, Stream::Noise).next_u64());
    }
}
