//! The noise of embedding-table rows, drawn when a row is next read rather than at
//! every step.
//!
//! Under plain SGD (no momentum, no weight decay) a step moves a row that its batch
//! does not look up by the noise alone: `-lr / B * sigma C z` with `z` standard normal
//! per coordinate. Between two reads of the row these moves add up to one normal of
//! the summed variance, so one draw of it, made when the row is next read, gives the
//! row the same distribution, jointly with everything else, as a draw at every step:
//! the draws are independent of the data and of each other, and the increments of a
//! sum of independent normals between the times it is looked at are independent
//! normals of the summed variances. A step then draws one normal per coordinate of
//! the rows its batch reads that owe noise, instead of one per coordinate of every
//! table (160,064 per step for the embedding net's 10,004 x 16 table).
//!
//! What is released is as private as with a draw at every step provided nothing
//! reads a row that still owes noise: the lookup settles the rows of its tokens
//! before it reads them, and [`settle_all`](DeferredTableNoise::settle_all) settles
//! every row before the parameters leave the engine (checkpoints, the trained model
//! and whatever is evaluated on it). A row read as it was before its noise would show
//! which tokens the sampled batches held; a row given two independent draws for the
//! same steps would carry less noise than the accountant assumes.
//!
//! The draws are the standard normal stream of the run's key for [`Stream::TableNoise`]
//! (drawn ahead on a second core, [`PrefetchedNoise`]), taken in order: the rows a
//! batch reads in the order it first looks them up (in table order where it settles
//! the table whole, and for a read of the parameters), each row's coordinates in
//! order. So they do not depend on the thread count. (Which draw goes to which row
//! depends on the batch, as which rows are settled does; the draws are independent
//! of the data and of each other, so every row still gets an independent normal.)
//! They do depend on when rows are read: a run stopped and resumed (its checkpoint
//! settled every row) draws other values than one never stopped, from the same
//! distribution. A run resumed after `s` updates starts at call `s * 2^20` of
//! the stream, past any value the run before it can have read by then: an update
//! reads fewer than `2^20` of the stream's vectors.

use std::ops::Range;

use super::{GaussianNoise, PrefetchedNoise};
use crate::Float;
use crate::kernels::simd::multiversion;
use crate::layers::embedding::{RowList, tables};
use crate::rng::{SecretKey, Stream};
use crate::spec::{Embedding, ModelSpec};

/// Stream calls set aside for each update, so that a resumed run starts at a call no
/// earlier run has reached.
const CALLS_PER_UPDATE: u64 = 1 << 20;
/// Lookups per table row from which a batch settles its tables whole: four per row
/// leave about 2% of the rows unread (with tokens drawn uniformly), whose draws cost
/// less than marking each lookup.
const WHOLE_TABLE_READS: usize = 4;
/// The fewest draws in one vector of the stream. A vector holds the tables' worth, so
/// that the two drawn ahead last for two steps that read every row (at least).
const MIN_VECTOR: usize = 1 << 15;

/// The noise a model's embedding tables owe since their rows were last read.
pub struct DeferredTableNoise<F: Float> {
    normals: PrefetchedNoise<F>,
    /// The variance per coordinate every row has been owed since `settled` was reset.
    owed: f64,
    tables: Vec<Table>,
    /// The parameter ranges outside the tables, in order.
    outside: Vec<Range<usize>>,
}

/// One table's rows and what each has settled.
struct Table {
    offset: usize,
    dim: usize,
    /// `owed` when each row was last settled.
    settled: Vec<f64>,
    /// The rows the last batch looked up.
    read: RowList,
}

impl Table {
    fn range(&self) -> Range<usize> {
        self.offset..self.offset + self.settled.len() * self.dim
    }
}

impl<F: Float> DeferredTableNoise<F> {
    /// Deferred noise for `spec`'s embedding tables under `key`, after `updates`
    /// private updates; `None` when the model has no table.
    pub fn for_model(spec: &ModelSpec, key: &SecretKey, updates: u64) -> Option<Self> {
        let (layers, outside) = tables(spec);
        if layers.is_empty() {
            return None;
        }
        let table = |e: &Embedding| Table {
            offset: e.offset,
            dim: e.dim,
            settled: vec![0.0; e.vocab],
            read: RowList::new(e.vocab),
        };
        let tables: Vec<Table> = layers.iter().map(table).collect();
        let coordinates: usize = tables.iter().map(|t| t.range().len()).sum();
        let calls = updates.checked_mul(CALLS_PER_UPDATE).expect("fewer than 2^44 updates");
        let source = GaussianNoise::keyed_for(key, Stream::TableNoise, calls);
        let normals = PrefetchedNoise::new(source, coordinates.max(MIN_VECTOR));
        Some(DeferredTableNoise { normals, owed: 0.0, tables, outside })
    }

    /// The parameter ranges outside the tables, whose noise is drawn at every step.
    pub fn outside(&self) -> &[Range<usize>] {
        &self.outside
    }

    /// Parameters outside the tables.
    pub fn outside_len(&self) -> usize {
        self.outside.iter().map(|r| r.len()).sum()
    }

    /// An update has moved every row by noise of `variance` per coordinate; the rows
    /// owe it until they are next read.
    pub fn owe(&mut self, variance: f64) {
        self.owed += variance;
    }

    /// Adds to the rows `rows` (`count` of them, repeats included) of the table at
    /// parameter `offset` the noise they owe, before they are read: listed once each,
    /// without a scan of the whole table. Lookups of several times as many rows as the
    /// table holds read nearly all of them, and the table is settled whole without
    /// listing each.
    pub fn settle_rows(&mut self, offset: usize, rows: impl Iterator<Item = usize>, count: usize, params: &mut [F]) {
        let Some(table) = self.tables.iter_mut().find(|t| t.offset == offset) else { return };
        let values = &mut params[table.range()];
        let Table { dim, settled, read, .. } = table;
        let vocab = settled.len();
        if count >= WHOLE_TABLE_READS * vocab {
            return draw_owed(values, *dim, settled, 0..vocab, self.owed, &mut self.normals);
        }
        let read = read.replace(rows).iter().map(|&row| row as usize);
        draw_owed(values, *dim, settled, read, self.owed, &mut self.normals);
    }

    /// Adds to every row the noise it owes: before the parameters are read.
    pub fn settle_all(&mut self, params: &mut [F]) {
        if self.owed == 0.0 {
            return;
        }
        for table in &mut self.tables {
            let (values, vocab) = (&mut params[table.range()], table.settled.len());
            draw_owed(values, table.dim, &mut table.settled, 0..vocab, self.owed, &mut self.normals);
        }
        // Every row is even: count again from zero.
        self.forget();
    }

    /// Forgets what the rows owe: their values were replaced.
    pub fn forget(&mut self) {
        self.owed = 0.0;
        self.tables.iter_mut().for_each(|t| t.settled.fill(0.0));
    }
}

multiversion! {
/// Adds to each row of `rows` (distinct, of `dim` values each in `values`) the noise
/// it owes, `sqrt(owed - settled) z` for the next normals `z`, in the order given.
fn draw_owed<F: Float>(
    values: &mut [F],
    dim: usize,
    settled: &mut [f64],
    rows: impl Iterator<Item = usize>,
    owed: f64,
    normals: &mut PrefetchedNoise<F>,
) {
    for row in rows {
        let owes = owed - std::mem::replace(&mut settled[row], owed);
        if owes <= 0.0 {
            continue;
        }
        let std = F::from_f64(owes.sqrt());
        let mut row = &mut values[row * dim..][..dim];
        while !row.is_empty() {
            let z = normals.take(row.len());
            let (head, rest) = row.split_at_mut(z.len());
            head.iter_mut().zip(z).for_each(|(v, z)| *v += std * *z);
            row = rest;
        }
    }
}
}
