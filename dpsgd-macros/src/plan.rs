//! Where everything lives: each layer's parameters in the flat parameter vector, and
//! each per-example value and gradient in the engine's scratch arena. Also the order
//! of the backward pass: which gradient contributions write and which accumulate.

use crate::graph::{Graph, NodeId, Op};
use crate::parse::{LayerKind, ModelDef};

/// A per-example buffer: the model input, or `width` floats at `offset` in the arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    Input { width: usize },
    Arena { offset: usize, width: usize },
}

pub struct Plan {
    /// Offset of each layer's parameters (weight, then bias).
    pub layer_offsets: Vec<usize>,
    pub num_params: usize,
    pub max_layer_outputs: usize,
    /// Each node's value.
    pub values: Vec<Slot>,
    /// Each node's gradient, for nodes that depend on a parameter.
    pub deltas: Vec<Option<Slot>>,
    /// What a layer keeps between its passes (an LSTM's gates, cells and gate gradients).
    pub states: Vec<Option<Slot>>,
    pub losses: Slot,
    pub sq_norms: Slot,
    pub clip_factors: Slot,
    pub arena_width: usize,
    pub backward: Vec<BackwardStep>,
}

/// One gradient contribution of the backward pass: from node `from`'s gradient to the
/// gradient of its argument `to`. The first contribution to a gradient overwrites it,
/// later ones add to it.
#[derive(Clone, Copy, Debug)]
pub struct BackwardStep {
    pub from: NodeId,
    pub to: NodeId,
    pub accumulate: bool,
}

pub fn plan(def: &ModelDef, graph: &Graph) -> Plan {
    let mut layer_offsets = Vec::new();
    let mut num_params = 0;
    let mut max_layer_outputs = 0;
    for layer in &def.model.layers {
        layer_offsets.push(num_params);
        let (weight, bias) = layer.kind.param_lens();
        num_params += weight + bias;
        // Only dense layers scale their deltas in the engine's `[batch, outputs]` scratch.
        if let LayerKind::Linear { outputs, .. } = layer.kind {
            max_layer_outputs = max_layer_outputs.max(outputs);
        }
    }

    let mut arena_width = 0;
    let mut alloc = |width: usize| {
        let slot = Slot::Arena { offset: arena_width, width };
        arena_width += width;
        slot
    };
    let requires_grad = graph.requires_grad();
    let values: Vec<Slot> = graph
        .nodes
        .iter()
        .map(|n| match n.op {
            Op::Input => Slot::Input { width: n.width },
            _ => alloc(n.width),
        })
        .collect();
    let deltas: Vec<Option<Slot>> =
        graph.nodes.iter().zip(&requires_grad).map(|(n, &r)| r.then(|| alloc(n.width))).collect();
    let states: Vec<Option<Slot>> = graph
        .nodes
        .iter()
        .map(|n| match n.op {
            Op::Layer { layer, .. } => match def.model.layers[layer].kind {
                // `Lstm::state_width`: gates and their gradients (4 hidden each) and the
                // cells, at every position.
                LayerKind::Lstm { hidden, .. } => {
                    let (positions, _) = n.sequence.expect("an LSTM gives a sequence");
                    Some(alloc(positions * 9 * hidden))
                }
                _ => None,
            },
            _ => None,
        })
        .collect();
    let losses = alloc(1);
    let sq_norms = alloc(1);
    let clip_factors = alloc(1);

    // Reverse evaluation order visits every consumer of a value before the value itself,
    // so a gradient is complete when its node's turn comes.
    let mut written = vec![false; graph.nodes.len()];
    written[graph.output] = true; // by the loss
    let mut backward = Vec::new();
    for (from, node) in graph.nodes.iter().enumerate().rev() {
        if !requires_grad[from] {
            continue;
        }
        for to in node.op.args() {
            if requires_grad[to] {
                backward.push(BackwardStep { from, to, accumulate: written[to] });
                written[to] = true;
            }
        }
    }

    Plan {
        layer_offsets,
        num_params,
        max_layer_outputs,
        values,
        deltas,
        states,
        losses,
        sq_norms,
        clip_factors,
        arena_width,
        backward,
    }
}
