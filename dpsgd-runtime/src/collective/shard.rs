//! Which examples of the training set a process holds.

use std::ops::Range;

use crate::error::{Result, ensure_config};

/// One rank's share of a training set of `total` examples: a contiguous block of
/// rows, fixed by the rank and the number of ranks alone (never by a shuffle), so
/// that every process knows every other's without talking. Ranks hold `total /
/// ranks` examples, one more for some.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// The rank that holds it.
    pub rank: usize,
    /// Ranks in the group.
    pub ranks: usize,
    /// Examples in the whole training set.
    pub total: usize,
}

impl Shard {
    /// Rank `rank`'s shard of `total` examples split among `ranks`.
    pub fn new(rank: usize, ranks: usize, total: usize) -> Result<Self> {
        ensure_config!(ranks > 0 && rank < ranks, "rank {rank} of {ranks} processes does not exist");
        ensure_config!(
            total >= ranks,
            "{total} training examples cannot be shared among {ranks} processes: use at most {total}"
        );
        Ok(Shard { rank, ranks, total })
    }

    /// The rows of the training set this shard holds.
    pub fn rows(&self) -> Range<usize> {
        self.start(self.rank)..self.start(self.rank + 1)
    }

    /// Where rank `rank`'s rows start.
    fn start(&self, rank: usize) -> usize {
        rank * self.total / self.ranks
    }

    /// The row of this shard's dataset that holds example `global` of the whole
    /// training set, if this shard holds it.
    pub fn local(&self, global: usize) -> Option<usize> {
        let rows = self.rows();
        rows.contains(&global).then(|| global - rows.start)
    }

    /// The blocks `0..blocks` of a vector this rank draws noise for: a contiguous
    /// run, disjoint from every other rank's, all of them together covering it once.
    pub fn blocks(&self, blocks: usize) -> Range<usize> {
        self.rank * blocks / self.ranks..(self.rank + 1) * blocks / self.ranks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_set_once_in_order() {
        for (total, ranks) in [(10, 3), (7, 7), (1000, 4), (5, 2)] {
            let mut next = 0;
            for rank in 0..ranks {
                let shard = Shard::new(rank, ranks, total).unwrap();
                let rows = shard.rows();
                assert_eq!(rows.start, next, "shard {rank} of {ranks} starts where the last ended");
                assert!(rows.len() == total / ranks || rows.len() == total / ranks + 1);
                assert_eq!(shard.local(rows.start), Some(0));
                assert_eq!(shard.local(rows.end), None);
                next = rows.end;
            }
            assert_eq!(next, total);
        }
    }

    #[test]
    fn noise_blocks_are_split_once() {
        for (blocks, ranks) in [(0, 2), (1, 3), (40, 3), (5, 5)] {
            let mut covered = vec![0; blocks];
            for rank in 0..ranks {
                for b in Shard::new(rank, ranks, 100).unwrap().blocks(blocks) {
                    covered[b] += 1;
                }
            }
            assert!(covered.iter().all(|&c| c == 1), "{blocks} blocks over {ranks} ranks: {covered:?}");
        }
    }

    #[test]
    fn impossible_groups_are_refused() {
        let err = Shard::new(2, 2, 10).unwrap_err().to_string();
        assert!(err.contains("rank 2 of 2 processes does not exist"), "{err}");
        let err = Shard::new(0, 4, 3).unwrap_err().to_string();
        assert!(err.contains("3 training examples cannot be shared among 4 processes"), "{err}");
    }
}
