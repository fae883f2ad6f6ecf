//! Where everything lives: each layer's parameters in the flat parameter vector, and
//! each per-example value and gradient in the engine's scratch arena. Also the order
//! of the backward pass: which gradient contributions write and which accumulate.

use dpsgd_layers::{Attention, Layer, Shape};

use crate::graph::{Graph, NodeId, Op};

/// A per-example buffer: the model input, or `width` floats at `offset` in the arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    Input { width: usize },
    Arena { offset: usize, width: usize },
}

pub struct Plan {
    /// Each layer's contract, at its offset in the parameter vector and with the
    /// shapes it is applied at: layout, names and norm cost come from it.
    pub layers: Vec<Layer>,
    pub num_params: usize,
    pub max_layer_outputs: usize,
    /// Each node's value.
    pub values: Vec<Slot>,
    /// Each node's gradient, for nodes that depend on a parameter.
    pub deltas: Vec<Option<Slot>>,
    /// What a layer or an attention keeps between its passes (an LSTM's gates, cells
    /// and gate gradients, an attention's probabilities).
    pub states: Vec<Option<Slot>>,
    pub losses: Slot,
    pub sq_norms: Slot,
    pub clip_factors: Slot,
    pub arena_width: usize,
    pub backward: Vec<BackwardStep>,
}

/// One step of the backward pass: from node `from`'s gradient to the gradient of its
/// argument `to`. The first contribution to a gradient overwrites it, later ones add
/// to it. A layer whose argument needs no gradient still has its step (`to` is
/// `None`): its backward pass may keep what its parameter gradients need (an LSTM's
/// gate gradients).
#[derive(Clone, Copy, Debug)]
pub struct BackwardStep {
    pub from: NodeId,
    pub to: Option<NodeId>,
    /// Which of `from`'s arguments `to` is (an operation may take one value twice).
    pub operand: usize,
    pub accumulate: bool,
}

pub fn plan(graph: &Graph) -> Plan {
    let layers = graph.layers.clone();
    let num_params = layers.iter().map(Layer::num_params).sum();
    let max_layer_outputs = layers.iter().map(Layer::scaled_outputs).max().unwrap_or(0);

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
            Op::Input => Slot::Input { width: n.width() },
            _ => alloc(n.width()),
        })
        .collect();
    let deltas: Vec<Option<Slot>> =
        graph.nodes.iter().zip(&requires_grad).map(|(n, &r)| r.then(|| alloc(n.width()))).collect();
    let states: Vec<Option<Slot>> = graph
        .nodes
        .iter()
        .map(|n| match n.op {
            Op::Layer { layer, .. } => Some(layers[layer].state_width()).filter(|&w| w > 0).map(&mut alloc),
            Op::Attention { heads, .. } => match n.shape {
                Shape::Sequence { positions, width } => {
                    Some(alloc(Attention { positions, dim: width, heads, padding_mask: false }.state_width()))
                }
                _ => unreachable!("attention gives a sequence"),
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
        for (operand, to) in node.op.args().into_iter().enumerate() {
            if requires_grad[to] {
                backward.push(BackwardStep { from, to: Some(to), operand, accumulate: written[to] });
                written[to] = true;
            } else if matches!(node.op, Op::Layer { .. }) {
                backward.push(BackwardStep { from, to: None, operand, accumulate: false });
            }
        }
    }

    Plan {
        layers,
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
