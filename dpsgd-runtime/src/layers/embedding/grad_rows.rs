//! The rows of the embedding tables that the CPU engine's gradient can be nonzero in.
//!
//! A batch's table gradient is nonzero only in the rows of the tokens it looked up:
//! a batch of 20 reviews of 256 tokens reads at most 5,120 of the embedding net's
//! 10,004 rows. The engine therefore zeroes, scales and (under SGD without momentum,
//! where a zero gradient leaves a parameter as it is) applies only the rows its last
//! batches looked up, not the whole table, which was a third of a non-private step of
//! the embedding net at batch 20. A table whose batch read half its rows or more is
//! treated whole (streaming through it costs less than visiting its rows one by one),
//! and so is every table once anything writes the gradient whole (noise drawn for
//! every coordinate, weight decay, physical batches summed, a gradient written from
//! outside). Momentum and Adam move every parameter at every step and take the whole
//! gradient.

use std::ops::Range;

use super::{RowList, tables};
use crate::Float;
use crate::kernels::{optim, vector};
use crate::spec::ModelSpec;

/// Where each table's gradient can be nonzero, and the parameters outside the tables.
pub struct GradRows {
    tables: Vec<TableRows>,
    /// The parameter ranges outside the tables, which are always taken whole.
    outside: Vec<Range<usize>>,
}

/// One table's rows that its gradient can be nonzero in.
struct TableRows {
    offset: usize,
    dim: usize,
    /// Any row, or the rows of `rows` only.
    whole: bool,
    /// The rows the gradient can be nonzero in, when not `whole`.
    rows: RowList,
}

impl TableRows {
    fn range(&self) -> Range<usize> {
        self.offset..self.offset + self.rows.vocab() * self.dim
    }

    /// The table's range when `whole`, else the range of each row in `rows`.
    fn ranges(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        let rows: &[u32] = if self.whole { &[] } else { self.rows.rows() };
        let row_range = move |&row: &u32| {
            let start = self.offset + row as usize * self.dim;
            start..start + self.dim
        };
        self.whole.then(|| self.range()).into_iter().chain(rows.iter().map(row_range))
    }
}

impl GradRows {
    /// The tables of `spec`, each taken whole until its first lookup's gradient; `None`
    /// when the model has no table.
    pub fn for_model(spec: &ModelSpec) -> Option<Self> {
        let (layers, outside) = tables(spec);
        if layers.is_empty() {
            return None;
        }
        let tables = layers
            .iter()
            .map(|e| TableRows { offset: e.offset, dim: e.dim, whole: true, rows: RowList::new(e.vocab) })
            .collect();
        Some(GradRows { tables, outside })
    }

    /// Before the table at parameter `offset` scatters the gradient of a batch that
    /// makes `lookups` lookups, of rows `rows`, into `grads` (the whole gradient):
    /// zeroes what the table's gradient can hold and notes the rows the new one will.
    /// A batch of as many lookups as the table has rows or more is taken whole without
    /// noting its rows: it would read most of them (63% or more where tokens are drawn
    /// uniformly), and noting them costs about as much as the scatter itself.
    pub fn clear_for<F: Float>(
        &mut self,
        offset: usize,
        rows: impl Iterator<Item = usize>,
        lookups: usize,
        grads: &mut [F],
    ) {
        let Some(table) = self.tables.iter_mut().find(|t| t.offset == offset) else { return };
        for range in table.ranges() {
            grads[range].fill(F::ZERO);
        }
        let vocab = table.rows.vocab();
        table.whole = match lookups >= vocab {
            true => {
                table.rows.clear();
                true
            }
            false => 2 * table.rows.replace(rows).len() >= vocab,
        };
    }

    /// Something wrote the gradient whole: any row of any table can be nonzero.
    pub fn written_whole(&mut self) {
        self.tables.iter_mut().for_each(|t| t.whole = true);
    }

    /// `grads *= factor` where `grads` can be nonzero.
    pub fn scale<F: Float>(&self, grads: &mut [F], factor: F) {
        vector::scale_ranges(grads, factor, self.ranges());
    }

    /// SGD without momentum (`params -= lr grads`) where `grads` can be nonzero: a
    /// zero gradient leaves the parameter as it is.
    pub fn sgd<F: Float>(&self, params: &mut [F], grads: &[F], lr: F) {
        optim::sgd_ranges(params, grads, lr, self.ranges());
    }

    /// The ranges outside the tables, then each table's (whole or row by row).
    fn ranges(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        self.outside.iter().cloned().chain(self.tables.iter().flat_map(TableRows::ranges))
    }
}
