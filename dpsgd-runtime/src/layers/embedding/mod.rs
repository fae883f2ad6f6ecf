//! An embedding table: the CPU engine's [`LayerOps`](crate::LayerOps) (`cpu.rs`, on the
//! kernels of `kernels.rs`, tested there), the CUDA engine's (`cuda.rs`), and the view
//! of its parameters. The layer's contract (layout, PyTorch names, shapes, cost model)
//! is [`Embedding`], in `dpsgd-layers`.

mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
mod grad_rows;
pub(crate) mod kernels;
pub(crate) mod mean_kernels;
mod token;

use std::ops::Range;

use ndarray::ArrayView2;

pub(crate) use self::grad_rows::GradRows;
use crate::spec::{Embedding, Layer, ModelSpec, ParamView};

/// The embedding tables of `spec` in parameter order, and the parameter ranges
/// outside them.
pub(crate) fn tables(spec: &ModelSpec) -> (Vec<Embedding>, Vec<Range<usize>>) {
    let mut tables: Vec<Embedding> = spec
        .layers
        .iter()
        .filter_map(|plan| match plan.layer {
            Layer::Embedding(e) => Some(e),
            _ => None,
        })
        .collect();
    tables.sort_by_key(|t| t.offset);
    let mut outside = Vec::new();
    let mut start = 0;
    for t in &tables {
        outside.push(start..t.offset);
        start = t.offset + t.vocab * t.dim;
    }
    outside.push(start..spec.num_params);
    outside.retain(|r| !r.is_empty());
    (tables, outside)
}

/// The table `[vocab, dim]`.
impl ParamView for Embedding {
    type View<'a, F: 'a> = ArrayView2<'a, F>;

    fn view<'a, F>(&self, params: &'a [F]) -> ArrayView2<'a, F> {
        ArrayView2::from_shape((self.vocab, self.dim), &params[self.offset..][..self.vocab * self.dim]).expect("table")
    }
}

/// Rows of a table, each listed once: the rows a batch looks up, for the CPU engine's
/// gradient ([`GradRows`]) and the deferred table noise alike.
pub(crate) struct RowList {
    /// Room for every row of the table once, and one more written past the end.
    rows: Vec<u32>,
    len: usize,
    /// Whether each row is among the first `len` of `rows`.
    listed: Vec<bool>,
}

impl RowList {
    /// An empty list of rows of a table of `vocab` rows.
    pub(crate) fn new(vocab: usize) -> Self {
        RowList { rows: vec![0; vocab + 1], len: 0, listed: vec![false; vocab] }
    }

    /// The rows listed.
    pub(crate) fn rows(&self) -> &[u32] {
        &self.rows[..self.len]
    }

    /// Rows of the table.
    pub(crate) fn vocab(&self) -> usize {
        self.listed.len()
    }

    /// Lists nothing.
    pub(crate) fn clear(&mut self) {
        let RowList { rows, len, listed } = self;
        rows[..*len].iter().for_each(|&row| listed[row as usize] = false);
        *len = 0;
    }

    /// Lists the rows of `rows` in place of those listed, each once.
    pub(crate) fn replace(&mut self, rows: impl Iterator<Item = usize>) -> &[u32] {
        self.clear();
        self.len = list_once(rows, &mut self.listed, &mut self.rows);
        self.rows()
    }
}

/// Lists the rows of `rows` in `list`, each once (marking them in `listed`, which
/// must be clear), and returns their number. Without a branch: every row is written
/// at the list's end, which moves on past the rows not seen before (a branch on
/// whether a row was seen mispredicted about once in three lookups, and cost more
/// than the update it saved). Its own function, so that the compiler knows the marks
/// and the list apart.
fn list_once(rows: impl Iterator<Item = usize>, listed: &mut [bool], list: &mut [u32]) -> usize {
    let mut count = 0;
    for row in rows {
        list[count] = row as u32;
        count += usize::from(!std::mem::replace(&mut listed[row], true));
    }
    count
}
