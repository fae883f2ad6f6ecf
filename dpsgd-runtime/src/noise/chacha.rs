//! The ChaCha12 keystream, sixteen blocks at a time.
//!
//! Bernstein's ChaCha with 12 rounds, keyed and laid out as `rand_chacha`'s
//! `ChaCha12Rng` (state words 12-13 the 64-bit block counter, 14-15 the 64-bit
//! stream id), computed with each state word held for sixteen consecutive blocks side
//! by side, so that every step of a round is one AVX-512 instruction on sixteen
//! lanes. The words of each group of sixteen blocks are read state word by state word
//! (word `j` of the sixteen blocks, then word `j + 1`), where `rand_chacha` reads
//! block by block: the same keystream words, in an order that needs no transpose
//! (a test checks both).

use rand_chacha::ChaCha12Rng;

/// Blocks computed together.
const LANES: usize = 16;
/// 32-bit words per block.
const BLOCK_WORDS: usize = 16;
/// `"expand 32-byte k"`.
const CONSTANTS: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// A position in a ChaCha12 stream and the words of sixteen blocks from it.
pub struct ChaCha12 {
    /// The initial state of the buffer's sixteen blocks: constants, key, counters
    /// (words 12-13, advanced at each refill) and stream id.
    state: [Lanes; BLOCK_WORDS],
    /// The block the buffer starts with.
    block: u64,
    /// Sixteen blocks of the stream as 64-bit words, little-endian pairs.
    buffer: [u64; LANES * BLOCK_WORDS / 2],
    /// The next unread word of the buffer.
    next: usize,
}

impl ChaCha12 {
    /// The stream of `rng` (its key and stream id) from 32-bit word `word_pos` on,
    /// which must be even (a whole number of 64-bit words). At a multiple of 256 (a
    /// group of sixteen blocks) that is where `rand_chacha`'s word `word_pos` is.
    pub fn at(rng: &ChaCha12Rng, word_pos: u128) -> Self {
        assert!(word_pos.is_multiple_of(2), "the noise reads the stream in 64-bit words");
        let group_words = (LANES * BLOCK_WORDS) as u128;
        let seed = rng.get_seed();
        let key = std::array::from_fn(|i| u32::from_le_bytes(seed[4 * i..4 * i + 4].try_into().expect("4 bytes")));
        let mut chacha = ChaCha12 {
            state: initial_state(&key, rng.get_stream(), 0),
            block: (word_pos / group_words * LANES as u128) as u64,
            buffer: [0; LANES * BLOCK_WORDS / 2],
            next: 0,
        };
        chacha.refill();
        chacha.next = (word_pos % group_words) as usize / 2;
        chacha
    }

    /// The next 64-bit word.
    pub fn next_u64(&mut self) -> u64 {
        self.refill_if_read();
        self.next += 1;
        self.buffer[self.next - 1]
    }

    /// The next words of the stream, at most `max`, read in place: at least one (the
    /// buffer is refilled first when it has been read), at most what is left of it.
    pub fn take(&mut self, max: usize) -> &[u64] {
        self.refill_if_read();
        let start = self.next;
        self.next += max.min(self.buffer.len() - start);
        &self.buffer[start..self.next]
    }

    /// Moves on to the next sixteen blocks once the buffer has been read.
    fn refill_if_read(&mut self) {
        if self.next == self.buffer.len() {
            self.block = self.block.wrapping_add(LANES as u64);
            self.refill();
        }
    }

    /// Computes the sixteen blocks from `self.block` on into the buffer, to be read
    /// from its start.
    fn refill(&mut self) {
        self.next = 0;
        [self.state[12], self.state[13]] = counters(self.block);
        #[cfg(target_arch = "x86_64")]
        if crate::kernels::simd::has_avx512() {
            // SAFETY: the CPU has AVX-512F.
            unsafe { avx512::packed_blocks(&self.state, &mut self.buffer) };
            return;
        }
        pack(&blocks(&self.state), &mut self.buffer);
    }
}

/// The counter words (12, 13) of blocks `block .. block + 16`.
fn counters(block: u64) -> [Lanes; 2] {
    let counter = |lane: usize| block.wrapping_add(lane as u64);
    [std::array::from_fn(|lane| counter(lane) as u32), std::array::from_fn(|lane| (counter(lane) >> 32) as u32)]
}

/// The initial state of blocks `block .. block + 16`, word by word.
fn initial_state(key: &[u32; 8], stream: u64, block: u64) -> [Lanes; BLOCK_WORDS] {
    let mut state = [[0u32; LANES]; BLOCK_WORDS];
    for (word, value) in state.iter_mut().zip(CONSTANTS.iter().chain(key)) {
        *word = [*value; LANES];
    }
    [state[12], state[13]] = counters(block);
    state[14] = [stream as u32; LANES];
    state[15] = [(stream >> 32) as u32; LANES];
    state
}

/// The buffer's 64-bit words: state words `2k` and `2k + 1` of each block, little
/// endian, for `k` in order, each over the sixteen blocks.
fn pack(words: &[Lanes; BLOCK_WORDS], buffer: &mut [u64; LANES * BLOCK_WORDS / 2]) {
    for (k, out) in buffer.chunks_exact_mut(LANES).enumerate() {
        for (lane, word) in out.iter_mut().enumerate() {
            *word = u64::from(words[2 * k][lane]) | (u64::from(words[2 * k + 1][lane]) << 32);
        }
    }
}

/// The column and diagonal quarter rounds of a double round.
const QUARTER_ROUNDS: [[usize; 4]; 8] = [
    [0, 4, 8, 12],
    [1, 5, 9, 13],
    [2, 6, 10, 14],
    [3, 7, 11, 15],
    [0, 5, 10, 15],
    [1, 6, 11, 12],
    [2, 7, 8, 13],
    [3, 4, 9, 14],
];

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{BLOCK_WORDS, LANES, Lanes};

    /// The sixteen blocks that start from `initial` into `buffer`, as
    /// [`super::pack`] of [`super::blocks`] leaves them.
    #[target_feature(enable = "avx512f")]
    pub fn packed_blocks(initial: &[Lanes; BLOCK_WORDS], buffer: &mut [u64; LANES * BLOCK_WORDS / 2]) {
        // SAFETY: each load and store reads or writes one whole array of 16 u32.
        let state: [__m512i; BLOCK_WORDS] =
            std::array::from_fn(|j| unsafe { _mm512_loadu_si512(initial[j].as_ptr().cast()) });
        let mut x = state;
        // Spelled out with constant indices, so that the sixteen state vectors stay in
        // registers (a loop over `QUARTER_ROUNDS` kept them in memory).
        macro_rules! quarter_round {
            ($a:literal, $b:literal, $c:literal, $d:literal) => {
                x[$a] = _mm512_add_epi32(x[$a], x[$b]);
                x[$d] = _mm512_rol_epi32::<16>(_mm512_xor_si512(x[$d], x[$a]));
                x[$c] = _mm512_add_epi32(x[$c], x[$d]);
                x[$b] = _mm512_rol_epi32::<12>(_mm512_xor_si512(x[$b], x[$c]));
                x[$a] = _mm512_add_epi32(x[$a], x[$b]);
                x[$d] = _mm512_rol_epi32::<8>(_mm512_xor_si512(x[$d], x[$a]));
                x[$c] = _mm512_add_epi32(x[$c], x[$d]);
                x[$b] = _mm512_rol_epi32::<7>(_mm512_xor_si512(x[$b], x[$c]));
            };
        }
        for _ in 0..6 {
            // The rows of QUARTER_ROUNDS.
            quarter_round!(0, 4, 8, 12);
            quarter_round!(1, 5, 9, 13);
            quarter_round!(2, 6, 10, 14);
            quarter_round!(3, 7, 11, 15);
            quarter_round!(0, 5, 10, 15);
            quarter_round!(1, 6, 11, 12);
            quarter_round!(2, 7, 8, 13);
            quarter_round!(3, 4, 9, 14);
        }
        // Words `2k` and `2k + 1` of each block as one 64-bit word: interleaved within
        // each 128-bit lane (blocks 0, 1, 4, 5, ... low; 2, 3, 6, 7, ... high), then
        // put back in block order.
        let (first, second) =
            (_mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0), _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4));
        for (k, out) in buffer.chunks_exact_mut(LANES).enumerate() {
            let low = _mm512_add_epi32(x[2 * k], state[2 * k]);
            let high = _mm512_add_epi32(x[2 * k + 1], state[2 * k + 1]);
            let (even, odd) = (_mm512_unpacklo_epi32(low, high), _mm512_unpackhi_epi32(low, high));
            // SAFETY: each store writes 8 of the 16 u64 of `out`.
            unsafe {
                _mm512_storeu_si512(out.as_mut_ptr().cast(), _mm512_permutex2var_epi64(even, first, odd));
                _mm512_storeu_si512(out[8..].as_mut_ptr().cast(), _mm512_permutex2var_epi64(even, second, odd));
            }
        }
    }
}

type Lanes = [u32; LANES];

#[inline(always)]
fn add(a: &mut Lanes, b: &Lanes) {
    a.iter_mut().zip(b).for_each(|(a, b)| *a = a.wrapping_add(*b));
}

#[inline(always)]
fn xor_rotate(d: &mut Lanes, a: &Lanes, bits: u32) {
    d.iter_mut().zip(a).for_each(|(d, a)| *d = (*d ^ *a).rotate_left(bits));
}

#[inline(always)]
fn quarter_round(x: &mut [Lanes; BLOCK_WORDS], [a, b, c, d]: [usize; 4]) {
    let [xa, xb, xc, xd] = x.get_disjoint_mut([a, b, c, d]).expect("distinct state words");
    add(xa, xb);
    xor_rotate(xd, xa, 16);
    add(xc, xd);
    xor_rotate(xb, xc, 12);
    add(xa, xb);
    xor_rotate(xd, xa, 8);
    add(xc, xd);
    xor_rotate(xb, xc, 7);
}

/// The output words of the sixteen blocks that start from `state`, word by word
/// (portable).
fn blocks(state: &[Lanes; BLOCK_WORDS]) -> [Lanes; BLOCK_WORDS] {
    let mut x = *state;
    for _ in 0..6 {
        for quarter in QUARTER_ROUNDS {
            quarter_round(&mut x, quarter);
        }
    }
    for (x, s) in x.iter_mut().zip(state) {
        add(x, s);
    }
    x
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn the_stream_holds_rand_chachas_words_state_word_by_state_word() {
        let mut rng = ChaCha12Rng::seed_from_u64(42);
        rng.set_stream(7);
        for start in [0u128, 1 << 20, (1 << 36) - 256, 3 * (1 << 40)] {
            let mut ours = ChaCha12::at(&rng, start);
            let mut theirs = rng.clone();
            theirs.set_word_pos(start);
            // Three groups of sixteen blocks, the first read in place in two parts.
            let mut bulk = ours.take(5).to_vec();
            bulk.extend_from_slice(ours.take(1000));
            assert_eq!(bulk.len(), 128, "a take ends with the buffer");
            bulk.extend((0..256).map(|_| ours.next_u64()));
            for (group, ours) in bulk.chunks_exact(128).enumerate() {
                let theirs: Vec<u64> = (0..128).map(|_| theirs.next_u64()).collect();
                for (i, word) in ours.iter().enumerate() {
                    let (k, block) = (i / LANES, i % LANES);
                    assert_eq!(*word, theirs[block * 8 + k], "group {group} word {i} from {start}");
                }
            }
        }
    }

    #[test]
    fn a_position_inside_a_group_reads_on_from_there() {
        let rng = ChaCha12Rng::seed_from_u64(3);
        let mut whole = ChaCha12::at(&rng, 0);
        let first: Vec<u64> = (0..140).map(|_| whole.next_u64()).collect();
        let mut inside = ChaCha12::at(&rng, 2 * 37);
        assert!((37..140).all(|i| inside.next_u64() == first[i]));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_packed_blocks_equal_the_portable_ones() {
        if !crate::kernels::simd::has_avx512() {
            eprintln!("skipped: this CPU has no AVX-512");
            return;
        }
        let key = std::array::from_fn(|i| 0x0101_0101 * i as u32 + 17);
        for block in [0, 5, u64::from(u32::MAX) - 3, u64::MAX - 7] {
            let state = initial_state(&key, 99, block);
            let (mut ours, mut portable) = ([0; LANES * BLOCK_WORDS / 2], [0; LANES * BLOCK_WORDS / 2]);
            // SAFETY: the CPU has AVX-512F.
            unsafe { avx512::packed_blocks(&state, &mut ours) };
            pack(&blocks(&state), &mut portable);
            assert_eq!(ours, portable);
        }
    }
}
