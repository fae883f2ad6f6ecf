//! The generated code: the model struct over a flat parameter vector, its layout
//! constants, and the straight-line engine calls of each phase of a step.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::args::Args;
use dpsgd_layers::{Layer, NormStrategy, Shape};

use crate::graph::{Act, Graph, Op};
use crate::parse::ModelDef;
use crate::plan::{Plan, Slot};

pub fn emit(def: &ModelDef, args: &Args, graph: &Graph, plan: &Plan) -> TokenStream {
    let krate = &args.krate;
    let model = &def.model;
    let forward = &def.forward;
    let ident = &model.ident;
    let struct_vis = &model.vis;
    // A struct without doc comments (its module usually has them) still gets a line,
    // so that it does not trip `missing_docs` in the user's crate.
    let struct_docs = match model.docs.is_empty() {
        false => {
            let docs = &model.docs;
            quote! { #(#docs)* }
        }
        true => {
            let line = format!(
                " The `{ident}` model of this module, as `#[private_model]` generates it: its parameters in one \
                 flat vector, and the batched forward, backward and per-example gradient code of its `forward`."
            );
            quote! { #[doc = #line] }
        }
    };

    // Each layer's contract as a constant named after its field; the prefix keeps a
    // layer called `spec` from colliding with `SPEC`.
    let contracts = quote! { #krate::contracts };
    let layer_consts: Vec<_> =
        model.layers.iter().map(|l| format_ident!("LAYER_{}", l.ident.to_string().to_uppercase())).collect();
    let contract_type = |layer: &Layer| format_ident!("{}", layer.struct_name());
    let layer_defs = plan.layers.iter().zip(&layer_consts).map(|(layer, name)| {
        let ty = contract_type(layer);
        let fields = layer.fields().into_iter().map(|(field, value)| {
            let (field, value) = (format_ident!("{field}"), syn::parse_str::<syn::Expr>(&value).expect("a literal"));
            quote! { #field: #value }
        });
        quote! {
            pub(super) const #name: #contracts::#ty = #contracts::#ty { #(#fields),* };
        }
    });
    let param_tensors = model.layers.iter().zip(&plan.layers).flat_map(|(decl, layer)| {
        layer.tensors(&decl.ident.to_string()).into_iter().map(|t| {
            let (name, offset, shape, fan_in, transposed) = (t.name, t.offset, t.shape, t.fan_in, t.transposed);
            let init = format_ident!("{}", format!("{:?}", t.init));
            quote! {
                #krate::ParamTensor {
                    name: #name, offset: #offset, shape: &[#(#shape),*], fan_in: #fan_in, transposed: #transposed,
                    init: #contracts::Init::#init,
                }
            }
        })
    });
    let layer_accessors = model.layers.iter().zip(&plan.layers).zip(&layer_consts).map(|((decl, layer), name)| {
        let (field, vis, docs, ty) = (&decl.ident, &decl.vis, &decl.docs, contract_type(layer));
        // A layer without doc comments still gets a line, so that a public accessor
        // does not trip `missing_docs` in the user's crate.
        let docs = match docs.is_empty() {
            false => quote! { #(#docs)* },
            true => {
                let line = format!(
                    " The parameters of layer `{field}` (`{}`), viewed in place in the model's parameter vector.",
                    decl.declared.type_name()
                );
                quote! { #[doc = #line] }
            }
        };
        quote! {
            #docs
            #vis fn #field(&self) -> <#contracts::#ty as #krate::spec::ParamView>::View<'_, F> {
                #krate::spec::ParamView::view(&__plan::#name, &self.params)
            }
        }
    });

    let buf = |slot: Slot| match slot {
        Slot::Input { width } => quote! { #krate::Buf::Input { width: #width } },
        Slot::Arena { offset, width } => quote! { #krate::Buf::arena(#offset, #width) },
    };
    let value = |id: usize| buf(plan.values[id]);
    let delta = |id: usize| buf(plan.deltas[id].expect("a planned gradient"));
    let state = |id: usize| buf(plan.states[id].expect("an operation that keeps state"));
    let layer_const = |layer: usize| {
        let name = &layer_consts[layer];
        quote! { __plan::#name }
    };
    // The buffers of each layer's application, as a constant beside the layer's:
    // its input and output, its output's gradient and its state.
    let site_consts: Vec<_> =
        model.layers.iter().map(|l| format_ident!("SITE_{}", l.ident.to_string().to_uppercase())).collect();
    let site_defs = graph.nodes.iter().enumerate().filter_map(|(id, node)| {
        let Op::Layer { layer, arg } = node.op else { return None };
        let (x, y, dy) = (value(arg), value(id), delta(id));
        let state = match plan.states[id] {
            Some(slot) => {
                let s = buf(slot);
                quote! { ::std::option::Option::Some(#s) }
            }
            None => quote! { ::std::option::Option::None },
        };
        let name = &site_consts[layer];
        Some(quote! {
            pub(super) const #name: #krate::Site = #krate::Site { x: #x, y: #y, dy: #dy, state: #state };
        })
    });
    let site = |id: usize| {
        let Op::Layer { layer, .. } = graph.nodes[id].op else { unreachable!("a layer node") };
        let name = &site_consts[layer];
        quote! { __plan::#name }
    };
    let pool_const = |id: usize| {
        let node = &graph.nodes[id];
        let Op::Pool { max, window, stride, arg, relu } = node.op else { unreachable!("a pooling node") };
        let (Shape::Image { channels, height: in_h, width: in_w }, Shape::Image { height: out_h, width: out_w, .. }) =
            (graph.nodes[arg].shape, node.shape)
        else {
            unreachable!("pooling takes and gives images")
        };
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
    let attention_const = |id: usize| {
        let Op::Attention { heads, padding_mask, .. } = graph.nodes[id].op else { unreachable!("an attention node") };
        let Shape::Sequence { positions, width } = graph.nodes[id].shape else { unreachable!("a sequence") };
        quote! { #krate::Attention { positions: #positions, dim: #width, heads: #heads, padding_mask: #padding_mask } }
    };
    let mean_const = |arg: usize| {
        let Shape::Sequence { positions, width } = graph.nodes[arg].shape else {
            unreachable!("mean takes a sequence")
        };
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
            Op::Layer { layer, .. } => {
                let (l, at) = (layer_const(layer), site(id));
                quote! { engine.layer_forward(#l, #at); }
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
            Op::Attention { q, k, v, .. } => {
                let (a, q, k, v, s) = (attention_const(id), value(q), value(k), value(v), state(id));
                quote! { engine.attention_forward(#a, #q, #k, #v, #y, #s); }
            }
        })
    });

    let loss = format_ident!("{}", args.loss.variant());
    let loss = quote! { #krate::Loss::#loss };
    let (logits, dlogits) = (value(graph.output), delta(graph.output));
    let (losses, sq_norms, clip_factors) = (buf(plan.losses), buf(plan.sq_norms), buf(plan.clip_factors));
    let attention_calls = attention_calls(graph, plan);
    let backward_calls = plan.backward.iter().enumerate().map(|(i, step)| {
        let (dy, acc) = (delta(step.from), step.accumulate);
        let dx = step.to.map(delta);
        if let Op::Layer { layer, .. } = graph.nodes[step.from].op {
            let (l, at) = (layer_const(layer), site(step.from));
            let dx = match dx {
                Some(dx) => quote! { ::std::option::Option::Some(#dx) },
                None => quote! { ::std::option::Option::None },
            };
            return quote! { engine.layer_backward(#l, #at, #dx, #acc); };
        }
        let dx = dx.expect("a gradient to write");
        match graph.nodes[step.from].op {
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
            Op::Attention { q, k, v, .. } => {
                // Emitted at the first step of each call (see `attention_calls`).
                let Some(call) = &attention_calls[i] else { return quote! {} };
                let (a, s) = (attention_const(step.from), state(step.from));
                let (q, k, v) = (value(q), value(k), value(v));
                let grads = (0..3).map(|operand| {
                    let step = call.iter().map(|&j| &plan.backward[j]).find(|s| s.operand == operand);
                    match step.and_then(|s| s.to.map(|to| (delta(to), s.accumulate))) {
                        Some((dx, acc)) => quote! { ::std::option::Option::Some((#dx, #acc)) },
                        None => quote! { ::std::option::Option::None },
                    }
                });
                quote! { engine.attention_backward(#a, [#q, #k, #v], #s, #dy, [#(#grads),*]); }
            }
            Op::Input | Op::Layer { .. } => unreachable!("the input has no arguments; layers are above"),
        }
    });

    let strategy_tokens = |strategy: NormStrategy| match strategy {
        NormStrategy::Ghost => quote! { #krate::NormStrategy::Ghost },
        NormStrategy::Materialized => quote! { #krate::NormStrategy::Materialized },
    };

    // The calls of each phase for every layer application.
    let mut sq_norm_calls = Vec::new();
    let mut param_grad_calls = Vec::new();
    let mut per_example_calls = Vec::new();
    for (id, node) in graph.nodes.iter().enumerate() {
        let Op::Layer { layer, .. } = node.op else { continue };
        let (l, at) = (layer_const(layer), site(id));
        let strategy = strategy_tokens(plan.layers[layer].norm_cost().strategy());
        sq_norm_calls.push(quote! { engine.layer_add_sq_norms(#l, #at, #sq_norms, #strategy); });
        param_grad_calls.push(quote! { engine.layer_param_grad(#l, #at, weights); });
        per_example_calls.push(quote! { engine.layer_per_example_grads(#l, #at); });
    }

    // What one example holds during a private step (f32): its activations and deltas,
    // each convolution's patches and each layer's norm scratch.
    let step_bytes_per_example =
        4 * plan.arena_width + plan.layers.iter().map(|l| l.norm_cost().step_bytes()).sum::<usize>();
    let forward_flops_per_example: usize = plan.layers.iter().map(Layer::forward_flops).sum();

    let layer_const_by_index = |layer: usize| {
        let (name, ty) = (&layer_consts[layer], contract_type(&plan.layers[layer]));
        quote! { #contracts::Layer::#ty(#name) }
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
    let attentions = graph
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| matches!(n.op, Op::Attention { .. }))
        .map(|(id, _)| attention_const(id));
    let layer_plans = model.layers.iter().zip(&plan.layers).enumerate().map(|(index, (decl, layer))| {
        let name = decl.ident.to_string();
        let cost = layer.norm_cost();
        let kind = layer.type_name();
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
    let token_vocab = plan.layers.iter().filter_map(Layer::token_vocab).min().filter(|_| forward.input_tokens);
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
            #struct_docs
            #[derive(Clone, Debug, PartialEq)]
            #struct_vis struct #ident<F: #krate::Float = f32> {
                params: ::std::vec::Vec<F>,
            }

            /// Layout constants of the model, computed by `#[private_model]`.
            #[doc(hidden)]
            mod __plan {
                #(#layer_defs)*
                #(#site_defs)*
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
                    attentions: &[#(#attentions),*],
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
                type WithFloat<G: #krate::Float> = #ident<G>;

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

/// The attention backward calls, by the index of their first step in `plan.backward`:
/// the indices of the operand steps each call covers. An attention's steps are
/// consecutive in the plan; one call takes them all, except that a step whose delta an
/// earlier step of the call already writes (one value taken as two operands,
/// `attention(x, x, v)`) starts the next call, since one call writes each buffer once.
fn attention_calls(graph: &Graph, plan: &Plan) -> Vec<Option<Vec<usize>>> {
    let steps = &plan.backward;
    let mut calls = vec![None; steps.len()];
    let mut i = 0;
    while i < steps.len() {
        if !matches!(graph.nodes[steps[i].from].op, Op::Attention { .. }) {
            i += 1;
            continue;
        }
        let mut call = vec![i];
        let mut j = i + 1;
        while j < steps.len() && steps[j].from == steps[i].from && call.iter().all(|&c| steps[c].to != steps[j].to) {
            call.push(j);
            j += 1;
        }
        calls[i] = Some(call);
        i = j;
    }
    calls
}
