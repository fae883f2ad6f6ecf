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

/// Lists the rows of `rows` in `list`, each once (marking them in `listed`, which
/// must be clear), and returns their number. Without a branch: every row is written
/// at the list's end, which moves on past the rows not seen before (a branch on
/// whether a row was seen mispredicted about once in three lookups, and cost more
/// than the update it saved). Its own function, so that the compiler knows the marks
/// and the list apart.
pub(crate) fn list_once(rows: impl Iterator<Item = usize>, listed: &mut [bool], list: &mut [u32]) -> usize {
    let mut count = 0;
    for row in rows {
        list[count] = row as u32;
        count += usize::from(!std::mem::replace(&mut listed[row], true));
    }
    count
}
