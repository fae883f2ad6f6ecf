//! Where everything lives: each layer's parameters in the flat parameter vector, and
//! each per-example value and gradient in the engine's scratch arena. Also the order
//! of the backward pass: which gradient contributions write and which accumulate.

use dpsgd_layers::{Conv2d, Dense, Embedding, Layer, Lstm, conv_output};

use crate::graph::{Graph, NodeId, Op};
use crate::parse::{LayerKind, ModelDef};

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
    let mut layers = Vec::new();
    let mut num_params = 0;
    for layer in 0..def.model.layers.len() {
        let contract = contract(def, graph, layer, num_params);
        num_params += contract.num_params();
        layers.push(contract);
    }
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
            Op::Layer { layer, .. } => Some(layers[layer].state_width()).filter(|&w| w > 0).map(&mut alloc),
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

/// Layer `layer`'s contract at parameter offset `offset`, with the shapes the graph
/// applies it at.
fn contract(def: &ModelDef, graph: &Graph, layer: usize, offset: usize) -> Layer {
    let applied = || graph.layer_node(layer).expect("every layer is used once");
    match def.model.layers[layer].kind {
        LayerKind::Linear { inputs, outputs } => Layer::Dense(Dense { offset, inputs, outputs }),
        LayerKind::Embedding { vocab, dim } => {
            let (id, arg) = applied();
            let mean = matches!(graph.nodes[id].op, Op::Layer { mean: true, .. });
            Layer::Embedding(Embedding { offset, vocab, dim, positions: graph.nodes[arg].width, mean })
        }
        LayerKind::Lstm { inputs, hidden } => {
            let (id, _) = applied();
            let positions = graph.nodes[id].sequence.expect("an LSTM gives a sequence").0;
            Layer::Lstm(Lstm { offset, inputs, hidden, positions })
        }
        LayerKind::Conv2d { in_channels, out_channels, kernel, stride, same } => {
            let (id, arg) = applied();
            let (_, in_h, in_w) = graph.nodes[arg].image.expect("a convolution takes an image");
            let (_, out_h, out_w) = graph.nodes[id].image.expect("a convolution gives an image");
            let pad = |size| conv_output(size, kernel, stride, same).expect("checked when the graph was built").1;
            Layer::Conv2d(Conv2d {
                offset,
                in_channels,
                out_channels,
                kernel,
                stride,
                pad_top: pad(in_h),
                pad_left: pad(in_w),
                in_h,
                in_w,
                out_h,
                out_w,
            })
        }
    }
}
