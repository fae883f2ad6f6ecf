//! Splitting a batch into one contiguous range of examples per rayon thread, for
//! kernels that keep per-thread state (accumulators, lookup tables) in scratch.

use std::ops::Range;

use rayon::prelude::*;

/// Examples per thread when a batch of `batch` is split into one contiguous group per
/// rayon thread (the last group may be shorter).
pub fn examples_per_thread(batch: usize) -> usize {
    batch.div_ceil(rayon::current_num_threads()).max(1)
}

/// Examples per thread, and how many threads get some, for a batch of `batch`.
fn chunks(batch: usize) -> (usize, usize) {
    let chunk = examples_per_thread(batch);
    (chunk, batch.div_ceil(chunk))
}

/// Runs `body` in parallel, once per thread that gets examples, on its range of
/// `0..batch`, its own `per` values of `scratch` (which must hold `per` for each of
/// `rayon::current_num_threads()` threads), and its examples' rows of `out`
/// (`out_per_example` values each; none when that is 0). Returns how many threads
/// ran, so that per-thread results in scratch can be combined.
pub fn per_thread<S: Send, O: Send>(
    batch: usize,
    scratch: &mut [S],
    per: usize,
    out: &mut [O],
    out_per_example: usize,
    body: impl Fn(Range<usize>, &mut [S], &mut [O]) + Sync,
) -> usize {
    if batch == 0 {
        return 0;
    }
    let (chunk, used) = chunks(batch);
    let range = |i: usize| i * chunk..((i + 1) * chunk).min(batch);
    let scratch = scratch[..used * per].par_chunks_mut(per.max(1)).enumerate();
    if out_per_example == 0 {
        scratch.for_each(|(i, scratch)| body(range(i), scratch, &mut []));
    } else {
        let out = out[..batch * out_per_example].par_chunks_mut(chunk * out_per_example);
        scratch.zip(out).for_each(|((i, scratch), out)| body(range(i), scratch, out));
    }
    used
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_is_visited_once_with_its_rows() {
        for batch in [0, 1, 2, 3, 7, 64, 101] {
            let threads = rayon::current_num_threads();
            let mut scratch = vec![0usize; threads * 2];
            let mut out = vec![0usize; batch * 3];
            let used = per_thread(batch, &mut scratch, 2, &mut out, 3, |range, scratch, out| {
                assert_eq!(out.len(), range.len() * 3);
                scratch[0] = range.len();
                for (e, row) in range.zip(out.chunks_exact_mut(3)) {
                    row.fill(e + 1);
                }
            });
            assert_eq!(scratch.chunks(2).take(used).map(|s| s[0]).sum::<usize>(), batch);
            let want: Vec<usize> = (0..batch).flat_map(|e| [e + 1; 3]).collect();
            assert_eq!(out, want);
        }
    }
}
