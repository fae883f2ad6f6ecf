//! The generated code: the model struct over a flat parameter vector, its layout
//! constants, and the straight-line engine calls of each phase of a step.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::args::{Args, LossKind};
use dpsgd_layers::{Layer, NormStrategy};

use crate::graph::{Act, Graph, Op};
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
    let layer_defs = plan.layers.iter().zip(&layer_consts).map(|(layer, name)| match *layer {
        Layer::Dense(l) => {
            let (offset, inputs, outputs) = (l.offset, l.inputs, l.outputs);
            quote! {
                pub(super) const #name: #krate::Dense = #krate::Dense { offset: #offset, inputs: #inputs, outputs: #outputs };
            }
        }
        Layer::Conv2d(l) => {
            let (offset, in_channels, out_channels, kernel, stride) =
                (l.offset, l.in_channels, l.out_channels, l.kernel, l.stride);
            let (pad_top, pad_left, in_h, in_w, out_h, out_w) = (l.pad_top, l.pad_left, l.in_h, l.in_w, l.out_h, l.out_w);
            quote! {
                pub(super) const #name: #krate::Conv2d = #krate::Conv2d {
                    offset: #offset, in_channels: #in_channels, out_channels: #out_channels, kernel: #kernel,
                    stride: #stride, pad_top: #pad_top, pad_left: #pad_left, in_h: #in_h, in_w: #in_w,
                    out_h: #out_h, out_w: #out_w,
                };
            }
        }
        Layer::Embedding(l) => {
            let (offset, vocab, dim, positions, mean) = (l.offset, l.vocab, l.dim, l.positions, l.mean);
            quote! {
                pub(super) const #name: #krate::Embedding =
                    #krate::Embedding { offset: #offset, vocab: #vocab, dim: #dim, positions: #positions, mean: #mean };
            }
        }
        Layer::Lstm(l) => {
            let (offset, inputs, hidden, positions) = (l.offset, l.inputs, l.hidden, l.positions);
            quote! {
                pub(super) const #name: #krate::Lstm =
                    #krate::Lstm { offset: #offset, inputs: #inputs, hidden: #hidden, positions: #positions };
            }
        }
    });
    let param_tensors = model.layers.iter().zip(&plan.layers).flat_map(|(decl, layer)| {
        layer.tensors(&decl.ident.to_string()).into_iter().map(|t| {
            let (name, offset, shape, fan_in, transposed) = (t.name, t.offset, t.shape, t.fan_in, t.transposed);
            quote! {
                #krate::ParamTensor { name: #name, offset: #offset, shape: &[#(#shape),*], fan_in: #fan_in, transposed: #transposed }
            }
        })
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
                #krate::spec::ParamView::view(&__plan::#name, &self.params)
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
        Act::LeakyRelu => quote! { #krate::Activation::LeakyRelu },
        Act::Elu => quote! { #krate::Activation::Elu },
        Act::Softplus => quote! { #krate::Activation::Softplus },
        Act::Gelu => quote! { #krate::Activation::Gelu },
        Act::GeluTanh => quote! { #krate::Activation::GeluTanh },
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
            Op::Activation { act: a, arg } => {
                let (a, x, y) = (act(a), value(arg), value(step.from));
                quote! { engine.activation_backward(#a, #x, #y, #dy, #dx, #acc); }
            }
            Op::Add { .. } => quote! { engine.copy(#dy, #dx, #acc); },
            Op::Input => unreachable!("the input has no arguments"),
        }
    });

    let strategy_tokens = |strategy: NormStrategy| match strategy {
        NormStrategy::Ghost => quote! { #krate::NormStrategy::Ghost },
        NormStrategy::Materialized => quote! { #krate::NormStrategy::Materialized },
    };

    // The calls of each phase for every layer application, by layer kind.
    let mut sq_norm_calls = Vec::new();
    let mut param_grad_calls = Vec::new();
    let mut per_example_calls = Vec::new();
    for (id, node) in graph.nodes.iter().enumerate() {
        let Op::Layer { layer, arg, .. } = node.op else { continue };
        let (l, x, dy) = (layer_const(layer), value(arg), delta(id));
        let strategy = strategy_tokens(plan.layers[layer].norm_cost().strategy());
        match model.layers[layer].kind {
            LayerKind::Linear { .. } => {
                sq_norm_calls.push(quote! { engine.dense_add_sq_norms(#l, #x, #dy, #sq_norms); });
                param_grad_calls.push(quote! { engine.dense_param_grad(#l, #x, #dy, weights); });
                per_example_calls.push(quote! { engine.dense_per_example_grads(#l, #x, #dy); });
            }
            LayerKind::Embedding { .. } => {
                sq_norm_calls.push(quote! { engine.embedding_add_sq_norms(#l, #x, #dy, #sq_norms); });
                param_grad_calls.push(quote! { engine.embedding_param_grad(#l, #x, #dy, weights); });
                per_example_calls.push(quote! { engine.embedding_per_example_grads(#l, #x, #dy); });
            }
            LayerKind::Lstm { .. } => {
                let (y, s) = (value(id), state(id));
                sq_norm_calls.push(quote! { engine.lstm_add_sq_norms(#l, #x, #y, #s, #sq_norms, #strategy); });
                param_grad_calls.push(quote! { engine.lstm_param_grad(#l, #x, #y, #s, weights); });
                per_example_calls.push(quote! { engine.lstm_per_example_grads(#l, #x, #y, #s); });
            }
            LayerKind::Conv2d { .. } => {
                sq_norm_calls.push(quote! { engine.conv2d_add_sq_norms(#l, #x, #dy, #sq_norms, #strategy); });
                param_grad_calls.push(quote! { engine.conv2d_param_grad(#l, #x, #dy, weights); });
                per_example_calls.push(quote! { engine.conv2d_per_example_grads(#l, #x, #dy); });
            }
        }
    }

    // What one example holds during a private step (f32): its activations and deltas,
    // each convolution's patches and each layer's norm scratch.
    let step_bytes_per_example =
        4 * plan.arena_width + plan.layers.iter().map(|l| l.norm_cost().step_bytes()).sum::<usize>();
    let forward_flops_per_example: usize = plan.layers.iter().map(Layer::forward_flops).sum();

    let layer_const_by_index = |layer: usize| {
        let name = &layer_consts[layer];
        let wrapped = match plan.layers[layer] {
            Layer::Dense(_) => quote! { Dense },
            Layer::Conv2d(_) => quote! { Conv2d },
            Layer::Embedding(_) => quote! { Embedding },
            Layer::Lstm(_) => quote! { Lstm },
        };
        quote! { #krate::spec::Layer::#wrapped(#name) }
    };
    let mut activations: Vec<Act> = Vec::new();
    for node in &graph.nodes {
        if let Op::Activation { act: a, .. } = node.op
            && !activations.contains(&a)
        {
            activations.push(a);
        }
    }
    let activations = activations.into_iter().map(act);
    let pools =
        graph.nodes.iter().enumerate().filter(|(_, n)| matches!(n.op, Op::Pool { .. })).map(|(id, _)| pool_const(id));
    let layer_plans = model.layers.iter().zip(&plan.layers).enumerate().map(|(index, (decl, layer))| {
        let name = decl.ident.to_string();
        let cost = layer.norm_cost();
        let kind = match (decl.kind, layer) {
            (LayerKind::Linear { inputs, outputs }, _) => format!("Linear<{inputs}, {outputs}>"),
            (LayerKind::Conv2d { in_channels, out_channels, kernel, stride, same }, _) => format!(
                "Conv2d<{in_channels}, {out_channels}, {kernel}, {stride}, {}>",
                if same { "Same" } else { "Valid" }
            ),
            (LayerKind::Embedding { vocab, dim }, Layer::Embedding(e)) if e.mean => {
                format!("Embedding<{vocab}, {dim}>, mean")
            }
            (LayerKind::Embedding { vocab, dim }, _) => format!("Embedding<{vocab}, {dim}>"),
            (LayerKind::Lstm { inputs, hidden }, _) => format!("Lstm<{inputs}, {hidden}>"),
        };
        let (input_shape, output_shape) = (&cost.input_shape, &cost.output_shape);
        let strategy = strategy_tokens(cost.strategy());
        let (positions, gf, mf, gb, mb) =
            (cost.positions, cost.ghost_flops, cost.materialized_flops, cost.ghost_bytes, cost.materialized_bytes);
        let contract = layer_const_by_index(index);
        quote! {
            #krate::spec::LayerPlan {
                name: #name, kind: #kind, layer: #contract, input_shape: &[#(#input_shape),*], output_shape: &[#(#output_shape),*],
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
                    pools: &[#(#pools),*],
                    activations: &[#(#activations),*],
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
