//! The generated code: the model struct over a flat parameter vector, its layout
//! constants, and the straight-line engine calls of each phase of a step.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::args::{Args, LossKind};
use crate::graph::{Act, Graph, Op, conv_output};
use crate::parse::{LayerKind, ModelDef};
use crate::plan::{Plan, Slot};

pub fn emit(def: &ModelDef, args: &Args, graph: &Graph, plan: &Plan) -> TokenStream {
    let krate = &args.krate;
    let model = &def.model;
    let forward = &def.forward;
    let ident = &model.ident;
    let struct_vis = &model.vis;
    let struct_docs = &model.docs;

    // Each layer as a `Dense` constant named after its field; the prefix keeps a layer
    // called `spec` from colliding with `SPEC`.
    let layer_consts: Vec<_> =
        model.layers.iter().map(|l| format_ident!("LAYER_{}", l.ident.to_string().to_uppercase())).collect();
    let geometry: Vec<LayerGeometry> = (0..model.layers.len()).map(|i| layer_geometry(def, graph, i)).collect();
    let layer_defs = model.layers.iter().zip(&layer_consts).zip(&plan.layer_offsets).zip(&geometry).map(
        |(((layer, name), offset), geometry)| match (layer.kind, geometry) {
            (LayerKind::Linear { inputs, outputs }, _) => quote! {
                pub(super) const #name: #krate::Dense = #krate::Dense { offset: #offset, inputs: #inputs, outputs: #outputs };
            },
            (LayerKind::Conv2d { in_channels, out_channels, kernel, stride, .. }, LayerGeometry::Conv { input, output, pad }) => {
                let ((in_h, in_w), (out_h, out_w), (pad_top, pad_left)) = (*input, *output, *pad);
                quote! {
                    pub(super) const #name: #krate::Conv2d = #krate::Conv2d {
                        offset: #offset, in_channels: #in_channels, out_channels: #out_channels, kernel: #kernel,
                        stride: #stride, pad_top: #pad_top, pad_left: #pad_left, in_h: #in_h, in_w: #in_w,
                        out_h: #out_h, out_w: #out_w,
                    };
                }
            }
            (LayerKind::Embedding { vocab, dim }, LayerGeometry::Embedding { positions, mean }) => quote! {
                pub(super) const #name: #krate::Embedding =
                    #krate::Embedding { offset: #offset, vocab: #vocab, dim: #dim, positions: #positions, mean: #mean };
            },
            (LayerKind::Lstm { inputs, hidden }, LayerGeometry::Lstm { positions }) => quote! {
                pub(super) const #name: #krate::Lstm =
                    #krate::Lstm { offset: #offset, inputs: #inputs, hidden: #hidden, positions: #positions };
            },
            _ => unreachable!("every layer has the geometry of its kind"),
        },
    );
    let param_tensors = model.layers.iter().zip(&plan.layer_offsets).flat_map(|(layer, &offset)| {
        let (weight, bias) = (format!("{}.weight", layer.ident), format!("{}.bias", layer.ident));
        let (weight_len, _) = layer.kind.param_lens();
        let bias_offset = offset + weight_len;
        match layer.kind {
            LayerKind::Linear { inputs, outputs } => vec![
                quote! { #krate::ParamTensor { name: #weight, offset: #offset, shape: &[#inputs, #outputs], fan_in: #inputs, transposed: true } },
                quote! { #krate::ParamTensor { name: #bias, offset: #bias_offset, shape: &[#outputs], fan_in: #inputs, transposed: false } },
            ],
            LayerKind::Conv2d { in_channels, out_channels, kernel, .. } => {
                let fan_in = in_channels * kernel * kernel;
                vec![
                    quote! { #krate::ParamTensor { name: #weight, offset: #offset, shape: &[#out_channels, #in_channels, #kernel, #kernel], fan_in: #fan_in, transposed: false } },
                    quote! { #krate::ParamTensor { name: #bias, offset: #bias_offset, shape: &[#out_channels], fan_in: #fan_in, transposed: false } },
                ]
            }
            // No bias; initial values uniform in +-1, about the scale of PyTorch's N(0, 1).
            LayerKind::Embedding { vocab, dim } => vec![
                quote! { #krate::ParamTensor { name: #weight, offset: #offset, shape: &[#vocab, #dim], fan_in: 1, transposed: false } },
            ],
            // PyTorch's names; every tensor initialized uniform in +-1/sqrt(hidden) as
            // PyTorch does.
            LayerKind::Lstm { inputs, hidden } => {
                let gates = 4 * hidden;
                let name = |suffix: &str| format!("{}.{suffix}_l0", layer.ident);
                let (w_ih, w_hh, b_ih, b_hh) = (name("weight_ih"), name("weight_hh"), name("bias_ih"), name("bias_hh"));
                let w_hh_offset = offset + inputs * gates;
                let b_ih_offset = w_hh_offset + hidden * gates;
                let b_hh_offset = b_ih_offset + gates;
                vec![
                    quote! { #krate::ParamTensor { name: #w_ih, offset: #offset, shape: &[#inputs, #gates], fan_in: #hidden, transposed: true } },
                    quote! { #krate::ParamTensor { name: #w_hh, offset: #w_hh_offset, shape: &[#hidden, #gates], fan_in: #hidden, transposed: true } },
                    quote! { #krate::ParamTensor { name: #b_ih, offset: #b_ih_offset, shape: &[#gates], fan_in: #hidden, transposed: false } },
                    quote! { #krate::ParamTensor { name: #b_hh, offset: #b_hh_offset, shape: &[#gates], fan_in: #hidden, transposed: false } },
                ]
            }
        }
    });
    let layer_accessors = model.layers.iter().zip(&layer_consts).map(|(layer, name)| {
        let (field, vis, docs) = (&layer.ident, &layer.vis, &layer.docs);
        let view = match layer.kind {
            LayerKind::Linear { .. } => quote! { #krate::spec::DenseView<'_, F> },
            LayerKind::Conv2d { .. } => quote! { #krate::spec::ConvView<'_, F> },
            LayerKind::Embedding { .. } => quote! { #krate::ndarray::ArrayView2<'_, F> },
            LayerKind::Lstm { .. } => quote! { #krate::spec::LstmView<'_, F> },
        };
        quote! {
            #(#docs)*
            #vis fn #field(&self) -> #view {
                __plan::#name.view(&self.params)
            }
        }
    });

    let buf = |slot: Slot| match slot {
        Slot::Input { width } => quote! { #krate::Buf::Input { width: #width } },
        Slot::Arena { offset, width } => quote! { #krate::Buf::arena(#offset, #width) },
    };
    let value = |id: usize| buf(plan.values[id]);
    let state = |id: usize| buf(plan.states[id].expect("a layer with state"));
    let delta = |id: usize| buf(plan.deltas[id].expect("a planned gradient"));
    let layer_const = |layer: usize| {
        let name = &layer_consts[layer];
        quote! { __plan::#name }
    };
    let pool_const = |id: usize| {
        let node = &graph.nodes[id];
        let Op::Pool { max, window, stride, arg, relu } = node.op else { unreachable!("a pooling node") };
        let ((channels, in_h, in_w), (_, out_h, out_w)) =
            (graph.nodes[arg].image.expect("pooling takes an image"), node.image.expect("pooling gives an image"));
        let kind = if max {
            quote! { #krate::PoolKind::Max }
        } else {
            quote! { #krate::PoolKind::Avg }
        };
        quote! {
            #krate::Pool2d { kind: #kind, relu: #relu, channels: #channels, in_h: #in_h, in_w: #in_w, window: #window,
                stride: #stride, out_h: #out_h, out_w: #out_w }
        }
    };
    let mean_const = |arg: usize| {
        let (positions, width) = graph.nodes[arg].sequence.expect("mean takes a sequence");
        quote! { #krate::SequenceMean { positions: #positions, width: #width } }
    };
    let act = |a: Act| match a {
        Act::Relu => quote! { #krate::Activation::Relu },
        Act::Sigmoid => quote! { #krate::Activation::Sigmoid },
        Act::Tanh => quote! { #krate::Activation::Tanh },
    };

    let forward_calls = graph.nodes.iter().enumerate().filter_map(|(id, node)| {
        let y = value(id);
        Some(match node.op {
            Op::Input => return None,
            Op::Layer { layer, arg, .. } => {
                let (l, x) = (layer_const(layer), value(arg));
                match model.layers[layer].kind {
                    LayerKind::Linear { .. } => quote! { engine.dense_forward(#l, #x, #y); },
                    LayerKind::Conv2d { .. } => quote! { engine.conv2d_forward(#l, #x, #y); },
                    LayerKind::Embedding { .. } => quote! { engine.embedding_forward(#l, #x, #y); },
                    LayerKind::Lstm { .. } => {
                        let s = state(id);
                        quote! { engine.lstm_forward(#l, #x, #y, #s); }
                    }
                }
            }
            Op::Mean { arg } => {
                let (m, x) = (mean_const(arg), value(arg));
                quote! { engine.mean_forward(#m, #x, #y); }
            }
            Op::Pool { arg, .. } => {
                let (p, x) = (pool_const(id), value(arg));
                quote! { engine.pool2d_forward(#p, #x, #y); }
            }
            Op::Flatten { arg } => {
                let x = value(arg);
                quote! { engine.copy(#x, #y, false); }
            }
            Op::Activation { act: a, arg } => {
                let (a, x) = (act(a), value(arg));
                quote! { engine.activation_forward(#a, #x, #y); }
            }
            Op::Add { lhs, rhs } => {
                let (a, b) = (value(lhs), value(rhs));
                quote! { engine.add(#a, #b, #y); }
            }
        })
    });

    let loss = match args.loss {
        LossKind::BinaryLogistic => quote! { #krate::Loss::BinaryLogistic },
        LossKind::SoftmaxCrossEntropy => quote! { #krate::Loss::SoftmaxCrossEntropy },
    };
    let (logits, dlogits) = (value(graph.output), delta(graph.output));
    let (losses, sq_norms, clip_factors) = (buf(plan.losses), buf(plan.sq_norms), buf(plan.clip_factors));
    let backward_calls = plan.backward.iter().map(|step| {
        let (dy, dx, acc) = (delta(step.from), delta(step.to), step.accumulate);
        match graph.nodes[step.from].op {
            Op::Layer { layer, .. } => {
                let l = layer_const(layer);
                match model.layers[layer].kind {
                    LayerKind::Linear { .. } => quote! { engine.dense_backward_input(#l, #dy, #dx, #acc); },
                    LayerKind::Conv2d { .. } => quote! { engine.conv2d_backward_input(#l, #dy, #dx, #acc); },
                    LayerKind::Embedding { .. } => unreachable!("token ids have no gradient"),
                    // Back-propagation through time also leaves the gates' gradients,
                    // which the parameter gradients need. An LSTM's input is a sequence,
                    // and sequences come from embeddings, so this step always exists.
                    LayerKind::Lstm { .. } => {
                        let s = state(step.from);
                        quote! { engine.lstm_backward(#l, #dy, #s, #dx, #acc); }
                    }
                }
            }
            Op::Mean { arg } => {
                let m = mean_const(arg);
                quote! { engine.mean_backward(#m, #dy, #dx, #acc); }
            }
            Op::Pool { arg, .. } => {
                let (p, x) = (pool_const(step.from), value(arg));
                quote! { engine.pool2d_backward(#p, #x, #dy, #dx, #acc); }
            }
            Op::Flatten { .. } => quote! { engine.copy(#dy, #dx, #acc); },
            Op::Activation { act: a, .. } => {
                let (a, y) = (act(a), value(step.from));
                quote! { engine.activation_backward(#a, #y, #dy, #dx, #acc); }
            }
            Op::Add { .. } => quote! { engine.copy(#dy, #dx, #acc); },
            Op::Input => unreachable!("the input has no arguments"),
        }
    });

    // The calls of each phase for every layer application, by layer kind.
    let mut sq_norm_calls = Vec::new();
    let mut param_grad_calls = Vec::new();
    let mut per_example_calls = Vec::new();
    for (id, node) in graph.nodes.iter().enumerate() {
        let Op::Layer { layer, arg, .. } = node.op else { continue };
        let (l, x, dy) = (layer_const(layer), value(arg), delta(id));
        match (model.layers[layer].kind, &geometry[layer]) {
            (LayerKind::Linear { .. }, _) => {
                sq_norm_calls.push(quote! { engine.dense_add_sq_norms(#l, #x, #dy, #sq_norms); });
                param_grad_calls.push(quote! { engine.dense_param_grad(#l, #x, #dy, weights); });
                per_example_calls.push(quote! { engine.dense_per_example_grads(#l, #x, #dy); });
            }
            (LayerKind::Embedding { .. }, _) => {
                sq_norm_calls.push(quote! { engine.embedding_add_sq_norms(#l, #x, #dy, #sq_norms); });
                param_grad_calls.push(quote! { engine.embedding_param_grad(#l, #x, #dy, weights); });
                per_example_calls.push(quote! { engine.embedding_per_example_grads(#l, #x, #dy); });
            }
            (LayerKind::Lstm { .. }, geometry) => {
                let (y, s) = (value(id), state(id));
                let strategy = match geometry.ghost_is_cheaper(model.layers[layer].kind) {
                    true => quote! { #krate::NormStrategy::Ghost },
                    false => quote! { #krate::NormStrategy::Materialized },
                };
                sq_norm_calls.push(quote! { engine.lstm_add_sq_norms(#l, #x, #y, #s, #sq_norms, #strategy); });
                param_grad_calls.push(quote! { engine.lstm_param_grad(#l, #x, #y, #s, weights); });
                per_example_calls.push(quote! { engine.lstm_per_example_grads(#l, #x, #y, #s); });
            }
            (LayerKind::Conv2d { .. }, geometry) => {
                let strategy = match geometry.ghost_is_cheaper(model.layers[layer].kind) {
                    true => quote! { #krate::NormStrategy::Ghost },
                    false => quote! { #krate::NormStrategy::Materialized },
                };
                sq_norm_calls.push(quote! { engine.conv2d_add_sq_norms(#l, #x, #dy, #sq_norms, #strategy); });
                param_grad_calls.push(quote! { engine.conv2d_param_grad(#l, #x, #dy, weights); });
                per_example_calls.push(quote! { engine.conv2d_per_example_grads(#l, #x, #dy); });
            }
        }
    }

    // What one example holds during a private step (f32): its activations and deltas,
    // each convolution's patches and each layer's norm scratch.
    let step_bytes_per_example = 4 * plan.arena_width
        + model
            .layers
            .iter()
            .zip(&geometry)
            .map(|(layer, geometry)| {
                let cost = geometry.cost(layer.kind);
                let norm =
                    if geometry.ghost_is_cheaper(layer.kind) { cost.ghost_bytes } else { cost.materialized_bytes };
                norm + cost.patch_bytes
            })
            .sum::<usize>();

    let forward_flops_per_example: usize =
        model.layers.iter().zip(&geometry).map(|(layer, geometry)| geometry.forward_flops(layer.kind)).sum();

    let layer_plans = model.layers.iter().zip(&geometry).map(|(layer, geometry)| {
        let name = layer.ident.to_string();
        let cost = geometry.cost(layer.kind);
        let kind = match layer.kind {
            LayerKind::Linear { inputs, outputs } => format!("Linear<{inputs}, {outputs}>"),
            LayerKind::Conv2d { in_channels, out_channels, kernel, stride, same } => format!(
                "Conv2d<{in_channels}, {out_channels}, {kernel}, {stride}, {}>",
                if same { "Same" } else { "Valid" }
            ),
            LayerKind::Embedding { vocab, dim } => match geometry {
                LayerGeometry::Embedding { mean: true, .. } => format!("Embedding<{vocab}, {dim}>, mean"),
                _ => format!("Embedding<{vocab}, {dim}>"),
            },
            LayerKind::Lstm { inputs, hidden } => format!("Lstm<{inputs}, {hidden}>"),
        };
        let (input_shape, output_shape) = (&cost.input_shape, &cost.output_shape);
        let strategy = match geometry.ghost_is_cheaper(layer.kind) {
            true => quote! { #krate::NormStrategy::Ghost },
            false => quote! { #krate::NormStrategy::Materialized },
        };
        let (positions, gf, mf, gb, mb) =
            (cost.positions, cost.ghost_flops, cost.materialized_flops, cost.ghost_bytes, cost.materialized_bytes);
        quote! {
            #krate::spec::LayerPlan {
                name: #name, kind: #kind, input_shape: &[#(#input_shape),*], output_shape: &[#(#output_shape),*],
                positions: #positions, strategy: #strategy, ghost_flops: #gf, materialized_flops: #mf,
                ghost_bytes: #gb, materialized_bytes: #mb,
            }
        }
    });

    // Token ids must index every table they are looked up in.
    let token_vocab = model
        .layers
        .iter()
        .filter_map(|l| match l.kind {
            LayerKind::Embedding { vocab, .. } => Some(vocab),
            _ => None,
        })
        .min()
        .filter(|_| forward.input_tokens);
    let token_vocab = match token_vocab {
        Some(v) => quote! { ::std::option::Option::Some(#v) },
        None => quote! { ::std::option::Option::None },
    };

    let name = ident.to_string();
    let (input_width, outputs) = (forward.input_width, forward.output_width);
    let (num_params, arena_width, max_layer_outputs) = (plan.num_params, plan.arena_width, plan.max_layer_outputs);
    let forward_docs = &forward.docs;
    let forward_vis = &forward.vis;
    let module = &def.module;
    let (mod_attrs, mod_vis, mod_ident) = (&module.attrs, &module.vis, &module.ident);

    quote! {
        #(#mod_attrs)*
        #mod_vis mod #mod_ident {
            #(#struct_docs)*
            #[derive(Clone, Debug, PartialEq)]
            #struct_vis struct #ident<F: #krate::Float = f32> {
                params: ::std::vec::Vec<F>,
            }

            /// Layout constants of the model, computed by `#[private_model]`.
            #[doc(hidden)]
            mod __plan {
                #(#layer_defs)*
                pub(super) const SPEC: #krate::ModelSpec = #krate::ModelSpec {
                    name: #name,
                    input_width: #input_width,
                    outputs: #outputs,
                    loss: #loss,
                    num_params: #num_params,
                    params: &[#(#param_tensors),*],
                    arena_width: #arena_width,
                    step_bytes_per_example: #step_bytes_per_example,
                    forward_flops_per_example: #forward_flops_per_example,
                    max_layer_outputs: #max_layer_outputs,
                    logits: #logits,
                    losses: #losses,
                    sq_norms: #sq_norms,
                    clip_factors: #clip_factors,
                    layers: &[#(#layer_plans),*],
                    token_vocab: #token_vocab,
                };
            }

            impl<F: #krate::Float> #ident<F> {
                /// Number of trainable parameters.
                pub const NUM_PARAMS: usize = #num_params;

                #(#forward_docs)*
                ///
                /// Batched: the logits of every row of `features` (`[rows, inputs]`).
                #forward_vis fn forward(
                    &self,
                    features: #krate::ndarray::ArrayView2<'_, F>,
                ) -> #krate::Result<#krate::ndarray::Array2<F>> {
                    <Self as #krate::PrivateModel<F>>::logits(self, features)
                }

                #(#layer_accessors)*
            }

            impl<F: #krate::Float> #krate::PrivateModel<F> for #ident<F> {
                const SPEC: #krate::ModelSpec = __plan::SPEC;

                fn params(&self) -> &[F] {
                    &self.params
                }

                fn params_mut(&mut self) -> &mut [F] {
                    &mut self.params
                }

                fn from_params_unchecked(params: ::std::vec::Vec<F>) -> Self {
                    assert_eq!(params.len(), #num_params, "parameter vector of the wrong length");
                    #ident { params }
                }

                fn run_forward<E: #krate::Engine<F>>(engine: &mut E) {
                    #(#forward_calls)*
                }

                fn run_backward<E: #krate::Engine<F>>(engine: &mut E) {
                    engine.loss(#loss, #logits, #losses, #dlogits);
                    #(#backward_calls)*
                }

                fn run_sq_norms<E: #krate::Engine<F>>(engine: &mut E) {
                    engine.fill(#sq_norms, F::ZERO);
                    #(#sq_norm_calls)*
                }

                fn run_param_grads<E: #krate::Engine<F>>(engine: &mut E, weights: ::std::option::Option<#krate::Buf>) {
                    #(#param_grad_calls)*
                }

                fn run_per_example_grads<E: #krate::Engine<F>>(engine: &mut E) {
                    #(#per_example_calls)*
                }
            }
        }
    }
}

/// Where a layer applies: a dense layer has nothing more to know; a convolution its
/// input and output sizes and its padding.
enum LayerGeometry {
    Dense,
    Conv {
        input: (usize, usize),
        output: (usize, usize),
        pad: (usize, usize),
    },
    /// Token ids per example, and whether the lookup gives their rows' mean.
    Embedding {
        positions: usize,
        mean: bool,
    },
    /// Steps of the sequence.
    Lstm {
        positions: usize,
    },
}

/// What each way to a layer's per-example norm costs per example.
struct NormCost {
    input_shape: Vec<usize>,
    output_shape: Vec<usize>,
    positions: usize,
    ghost_flops: usize,
    materialized_flops: usize,
    ghost_bytes: usize,
    materialized_bytes: usize,
    /// Bytes per example of a convolution's patches, which the step keeps whichever
    /// way it takes the norm.
    patch_bytes: usize,
}

impl LayerGeometry {
    /// For `T` positions, patches of `P` values and `O` outputs: the ghost norm forms
    /// two `T x T` Gram matrices (`2 T^2 (P + O)` FLOPs; `2 T^2` floats, and the
    /// patches transposed, `T P`); the materialized gradient is a `P x O` product over
    /// `T` positions (`2 T P O` FLOPs, `P O` floats) and its squared norm. A dense
    /// layer is `T = 1`, where the ghost norm is two dot products.
    ///
    /// Both ways then pay for the clipped sum: the ghost way forms the gradient
    /// product again, weighted (`2 T P O`), the materialized way sums the gradients it
    /// kept (`2 P O`). Counting it makes the materialized way the cheaper one for a
    /// convolution at few positions, such as the MNIST CNN's second (25).
    fn cost(&self, kind: LayerKind) -> NormCost {
        let (input_shape, output_shape, t, p, o) = match (self, kind) {
            (
                LayerGeometry::Conv { input, output, .. },
                LayerKind::Conv2d { in_channels, out_channels, kernel, .. },
            ) => (
                vec![in_channels, input.0, input.1],
                vec![out_channels, output.0, output.1],
                output.0 * output.1,
                in_channels * kernel * kernel,
                out_channels,
            ),
            (_, LayerKind::Linear { inputs, outputs }) => (vec![inputs], vec![outputs], 1, inputs, outputs),
            // Fused with the mean, every position's row gradient is `dy / T`: the
            // norm is `|dy|^2` times the sum of the squared token counts, counted in a
            // map per thread (nothing per example).
            (LayerGeometry::Embedding { positions, mean: true }, LayerKind::Embedding { vocab, dim }) => {
                return NormCost {
                    input_shape: vec![*positions],
                    output_shape: vec![dim],
                    positions: *positions,
                    ghost_flops: 2 * positions + 2 * dim + 2 * positions * dim,
                    materialized_flops: 2 * positions * dim + 2 * vocab * dim + 2 * vocab * dim,
                    ghost_bytes: 0,
                    materialized_bytes: 4 * vocab * dim,
                    patch_bytes: 0,
                };
            }
            // A lookup's ghost norm groups equal tokens: `T D` work, no table-sized buffer;
            // its materialized gradient is the whole `V x D` table per example.
            (LayerGeometry::Embedding { positions, mean: false }, LayerKind::Embedding { vocab, dim }) => {
                return NormCost {
                    input_shape: vec![*positions],
                    output_shape: vec![*positions, dim],
                    positions: *positions,
                    ghost_flops: 2 * positions * dim + 2 * positions * dim,
                    materialized_flops: 2 * positions * dim + 2 * vocab * dim + 2 * vocab * dim,
                    ghost_bytes: 4 * (positions + dim),
                    materialized_bytes: 4 * vocab * dim,
                    patch_bytes: 0,
                };
            }
            // Two weights applied at every step: `W_ih` to the inputs, `W_hh` to the
            // previous hidden states. Ghost: three `T x T` Gram matrices (inputs, hidden
            // states, gate gradients) and two element-wise products; materialized: the
            // two weight gradients, `(IN + H) x 4H`, formed over the `T` steps.
            (LayerGeometry::Lstm { positions: t }, LayerKind::Lstm { inputs, hidden }) => {
                let (t, gates) = (*t, 4 * hidden);
                return NormCost {
                    input_shape: vec![t, inputs],
                    output_shape: vec![t, hidden],
                    positions: t,
                    ghost_flops: 2 * t * t * (inputs + hidden + gates) + 4 * t * t + 2 * t * (inputs + hidden) * gates,
                    materialized_flops: 2 * t * (inputs + hidden) * gates + 4 * (inputs + hidden) * gates,
                    ghost_bytes: 4 * 3 * t * t,
                    materialized_bytes: 4 * (inputs + hidden) * gates,
                    patch_bytes: 0,
                };
            }
            _ => unreachable!("every layer has the geometry of its kind"),
        };
        let ghost_norm = if t == 1 { 2 * (p + o) } else { 2 * t * t * (p + o) + 2 * t * t };
        NormCost {
            input_shape,
            output_shape,
            positions: t,
            ghost_flops: ghost_norm + 2 * t * p * o,
            materialized_flops: 2 * t * p * o + 4 * p * o,
            ghost_bytes: if t == 1 { 0 } else { 4 * (2 * t * t + t * p) },
            materialized_bytes: 4 * p * o,
            patch_bytes: if t == 1 { 0 } else { 4 * t * p },
        }
    }

    /// FLOPs of the layer's forward pass for one example: its products (a lookup's
    /// row moves or sums count one each).
    fn forward_flops(&self, kind: LayerKind) -> usize {
        match (self, kind) {
            (LayerGeometry::Dense, LayerKind::Linear { inputs, outputs }) => 2 * inputs * outputs,
            (LayerGeometry::Conv { output, .. }, LayerKind::Conv2d { in_channels, out_channels, kernel, .. }) => {
                2 * output.0 * output.1 * in_channels * kernel * kernel * out_channels
            }
            (LayerGeometry::Embedding { positions, .. }, LayerKind::Embedding { dim, .. }) => positions * dim,
            (LayerGeometry::Lstm { positions }, LayerKind::Lstm { inputs, hidden }) => {
                2 * positions * (inputs + hidden) * 4 * hidden
            }
            _ => unreachable!("every layer has the geometry of its kind"),
        }
    }

    /// Whether the ghost norm costs fewer FLOPs than the materialized gradient.
    fn ghost_is_cheaper(&self, kind: LayerKind) -> bool {
        let cost = self.cost(kind);
        cost.ghost_flops < cost.materialized_flops
    }
}

fn layer_geometry(def: &ModelDef, graph: &Graph, layer: usize) -> LayerGeometry {
    match def.model.layers[layer].kind {
        LayerKind::Linear { .. } => LayerGeometry::Dense,
        LayerKind::Embedding { .. } => {
            let (id, arg) = graph.layer_node(layer).expect("every layer is used once");
            let mean = matches!(graph.nodes[id].op, Op::Layer { mean: true, .. });
            LayerGeometry::Embedding { positions: graph.nodes[arg].width, mean }
        }
        LayerKind::Lstm { .. } => {
            let (id, _) = graph.layer_node(layer).expect("every layer is used once");
            LayerGeometry::Lstm { positions: graph.nodes[id].sequence.expect("an LSTM gives a sequence").0 }
        }
        LayerKind::Conv2d { kernel, stride, same, .. } => {
            let (id, arg) = graph.layer_node(layer).expect("every layer is used once");
            let (_, h, w) = graph.nodes[arg].image.expect("a convolution takes an image");
            let (_, oh, ow) = graph.nodes[id].image.expect("a convolution gives an image");
            let pad = |size| conv_output(size, kernel, stride, same).expect("checked when the graph was built").1;
            LayerGeometry::Conv { input: (h, w), output: (oh, ow), pad: (pad(h), pad(w)) }
        }
    }
}
