//! The forward function as a graph of operations on per-example vectors, each with its
//! width, checked as it is built: every mismatch becomes an error at the user's code.

use std::collections::HashMap;

use dpsgd_layers::{Layer, Shape};
use proc_macro2::Span;
use syn::{BinOp, Expr, Ident, Pat, Stmt};

use crate::args::LossKind;
use crate::errors::Errors;
use crate::parse::ModelDef;

pub type NodeId = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Relu,
    Sigmoid,
    Tanh,
    LeakyRelu,
    Elu,
    Softplus,
    Gelu,
    GeluTanh,
}

impl Act {
    const NAMES: &'static str = "relu, sigmoid, tanh, leaky_relu, elu, softplus, gelu, gelu_tanh";

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "relu" => Some(Act::Relu),
            "sigmoid" => Some(Act::Sigmoid),
            "tanh" => Some(Act::Tanh),
            "leaky_relu" => Some(Act::LeakyRelu),
            "elu" => Some(Act::Elu),
            "softplus" => Some(Act::Softplus),
            "gelu" => Some(Act::Gelu),
            "gelu_tanh" => Some(Act::GeluTanh),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// The example's features.
    Input,
    /// A parametrized layer of the struct (index into its layers) applied to `arg`.
    Layer {
        layer: usize,
        arg: NodeId,
    },
    Activation {
        act: Act,
        arg: NodeId,
    },
    Add {
        lhs: NodeId,
        rhs: NodeId,
    },
    /// `max_pool2d(x, window, stride)` or `avg_pool2d(...)` of an image. `relu` marks
    /// a max pooling fused with the relu of its argument ([`Graph::fuse`]).
    Pool {
        max: bool,
        window: usize,
        stride: usize,
        arg: NodeId,
        relu: bool,
    },
    /// `flatten(x)`: an image as a vector, in `[channels, height, width]` order.
    Flatten {
        arg: NodeId,
    },
    /// `mean(x)`: a sequence's mean over its positions.
    Mean {
        arg: NodeId,
    },
    /// `attention(q, k, v, heads)`: multi-head scaled dot-product attention of three
    /// sequences of one shape; `attention(q, k, v, heads, x)` masks the keys whose
    /// token id in the model's input `x` is the padding id.
    Attention {
        q: NodeId,
        k: NodeId,
        v: NodeId,
        heads: usize,
        padding_mask: bool,
    },
}

impl Op {
    pub fn args(&self) -> Vec<NodeId> {
        match *self {
            Op::Input => vec![],
            Op::Layer { arg, .. }
            | Op::Activation { arg, .. }
            | Op::Pool { arg, .. }
            | Op::Flatten { arg }
            | Op::Mean { arg } => vec![arg],
            Op::Add { lhs, rhs } => vec![lhs, rhs],
            Op::Attention { q, k, v, .. } => vec![q, k, v],
        }
    }

    /// The same operation on the arguments `f(arg)`.
    fn map_args(self, f: impl Fn(NodeId) -> NodeId) -> Op {
        match self {
            Op::Input => Op::Input,
            Op::Layer { layer, arg } => Op::Layer { layer, arg: f(arg) },
            Op::Activation { act, arg } => Op::Activation { act, arg: f(arg) },
            Op::Add { lhs, rhs } => Op::Add { lhs: f(lhs), rhs: f(rhs) },
            Op::Pool { max, window, stride, arg, relu } => Op::Pool { max, window, stride, arg: f(arg), relu },
            Op::Flatten { arg } => Op::Flatten { arg: f(arg) },
            Op::Mean { arg } => Op::Mean { arg: f(arg) },
            Op::Attention { q, k, v, heads, padding_mask } => {
                Op::Attention { q: f(q), k: f(k), v: f(v), heads, padding_mask }
            }
        }
    }
}

pub struct Node {
    pub op: Op,
    /// One example's value.
    pub shape: Shape,
}

impl Node {
    /// Floats per example.
    pub fn width(&self) -> usize {
        self.shape.len()
    }
}

/// Nodes in evaluation order (every argument before its use); node 0 is the input.
pub struct Graph {
    pub nodes: Vec<Node>,
    pub output: NodeId,
    /// Each layer of the struct, placed in the parameter vector and applied to the
    /// shape its argument has.
    pub layers: Vec<Layer>,
}

impl Graph {
    /// Whether the node's value depends on a parameter, i.e. needs a gradient.
    pub fn requires_grad(&self) -> Vec<bool> {
        let mut requires = vec![false; self.nodes.len()];
        for (id, node) in self.nodes.iter().enumerate() {
            requires[id] = match node.op {
                Op::Input => false,
                Op::Layer { .. } => true,
                Op::Activation { arg, .. } | Op::Pool { arg, .. } | Op::Flatten { arg } | Op::Mean { arg } => {
                    requires[arg]
                }
                Op::Add { lhs, rhs } => requires[lhs] || requires[rhs],
                Op::Attention { q, k, v, .. } => requires[q] || requires[k] || requires[v],
            };
        }
        requires
    }

    /// Fuses an operation into the one after it where its value has no other use, so
    /// that no pass forms that value:
    /// - `mean(self.layer(x))` where the layer's contract can give the mean itself
    ///   (`Contract::with_mean`: an embedding's lookup gives the mean of its rows),
    ///   never forming the sequence;
    /// - `max_pool2d(relu(x))`: the pooling reads `x` and applies the relu to its
    ///   maxima (a `Pool2d` with `relu`; `relu` of a max is the max of the `relu`s).
    fn fuse(self) -> Graph {
        let Graph { mut nodes, output, mut layers } = self;
        let mut uses = vec![0; nodes.len()];
        nodes.iter().flat_map(|n| n.op.args()).for_each(|arg| uses[arg] += 1);
        let mut fused_away = vec![false; nodes.len()];
        for id in 0..nodes.len() {
            match nodes[id].op {
                Op::Mean { arg: rows } if uses[rows] == 1 => {
                    let Op::Layer { layer, arg } = nodes[rows].op else { continue };
                    if let Some(fused) = layers[layer].with_mean() {
                        layers[layer] = fused;
                        nodes[id].op = Op::Layer { layer, arg };
                        fused_away[rows] = true;
                    }
                }
                Op::Pool { max: true, window, stride, arg: relu, relu: false } if uses[relu] == 1 => {
                    let Op::Activation { act: Act::Relu, arg: x } = nodes[relu].op else { continue };
                    nodes[id].op = Op::Pool { max: true, window, stride, arg: x, relu: true };
                    fused_away[relu] = true;
                }
                _ => {}
            }
        }
        // Drop the fused operations and number the rest again, in order.
        let mut new_id = vec![usize::MAX; nodes.len()];
        let mut kept = Vec::new();
        for (id, node) in nodes.into_iter().enumerate() {
            if !fused_away[id] {
                new_id[id] = kept.len();
                kept.push(Node { op: node.op.map_args(|arg| new_id[arg]), ..node });
            }
        }
        Graph { nodes: kept, output: new_id[output], layers }
    }
}

struct Binding {
    /// `None` when the value's expression had an error (already reported): uses of
    /// the name are then silent, so one mistake gives one message.
    node: Option<NodeId>,
    span: Span,
    used: bool,
}

struct Builder<'a> {
    def: &'a ModelDef,
    nodes: Vec<Node>,
    scope: HashMap<String, Binding>,
    /// Where each layer was applied, if it was.
    layer_uses: Vec<Option<Span>>,
    /// Each layer's offset in the parameter vector, from the declarations in order.
    offsets: Vec<usize>,
    /// Each layer as applied, once it is.
    applied: Vec<Option<Layer>>,
    errors: &'a mut Errors,
}

/// What `forward` may contain, for error messages (the activations from [`Act::NAMES`]).
fn language() -> String {
    format!(
        "forward may use `let` bindings, layer calls `self.layer(x)`, {}, `+`, max_pool2d(x, window, stride), \
         avg_pool2d(x, window, stride), flatten(x), mean(x) and attention(q, k, v, heads)",
        Act::NAMES
    )
}

pub fn build(def: &ModelDef, loss: LossKind, loss_span: Span, errors: &mut Errors) -> Option<Graph> {
    let forward = &def.forward;
    let mut b = Builder {
        def,
        nodes: vec![Node { op: Op::Input, shape: input_shape(def) }],
        scope: HashMap::new(),
        layer_uses: vec![None; def.model.layers.len()],
        offsets: def
            .model
            .layers
            .iter()
            .scan(0, |next, l| {
                let offset = *next;
                *next += l.declared.num_params();
                Some(offset)
            })
            .collect(),
        applied: vec![None; def.model.layers.len()],
        errors,
    };
    b.scope.insert(forward.input.to_string(), Binding { node: Some(0), span: forward.input.span(), used: false });

    let mut output = None;
    let last = forward.stmts.len().wrapping_sub(1);
    for (i, stmt) in forward.stmts.iter().enumerate() {
        match stmt {
            Stmt::Local(local) => b.local(local),
            Stmt::Expr(expr, None) if i == last => output = Some((b.expr(expr), expr)),
            Stmt::Expr(expr, Some(semi)) if i == last => {
                b.expr(expr);
                b.errors.spanned(semi, "remove this `;`: forward ends with the expression that gives the logits");
            }
            other => b.errors.spanned(other, format!("unsupported statement; {}", language())),
        }
    }

    for (name, binding) in &b.scope {
        if !binding.used && binding.node.is_some() {
            b.errors
                .at(binding.span, format!("`{name}` is never used; every value in forward must flow into the logits"));
        }
    }
    for (layer, used) in def.model.layers.iter().zip(&b.layer_uses) {
        if used.is_none() {
            b.errors.spanned(&layer.ident, format!("layer `{}` is never used in forward", layer.ident));
        }
    }

    let Some((Some(output), output_expr)) = output else {
        if output.is_none() {
            b.errors.at(forward.body_end, "forward must end with the expression that gives the logits");
        }
        return None;
    };
    let width = b.nodes[output].width();
    if let shape @ Shape::Sequence { .. } = b.nodes[output].shape {
        b.errors.spanned(
            output_expr,
            format!(
                "forward returns {} per example, not `Logits<{}>`: take `mean(x)` over the positions first",
                shape.describe(),
                forward.output_width
            ),
        );
    } else if width != forward.output_width {
        b.errors.spanned(
            output_expr,
            format!("forward returns {width} values per example but declares `Logits<{}>`", forward.output_width),
        );
    }
    match loss {
        LossKind::BinaryLogistic if forward.output_width != 1 => b.errors.at(
            loss_span,
            format!(
                "binary_logistic takes one logit, but forward returns Logits<{}>; use softmax_cross_entropy",
                forward.output_width
            ),
        ),
        LossKind::SoftmaxCrossEntropy if forward.output_width < 2 => b
            .errors
            .at(loss_span, "softmax_cross_entropy needs at least two classes; with one logit use binary_logistic"),
        _ => {}
    }
    // Every layer was applied, or an error was reported above.
    let layers = b.applied.into_iter().collect::<Option<Vec<Layer>>>()?;
    Some(Graph { nodes: b.nodes, output, layers }.fuse())
}

fn input_shape(def: &ModelDef) -> Shape {
    let forward = &def.forward;
    match (forward.input_image, forward.input_tokens) {
        (Some((channels, height, width)), _) => Shape::Image { channels, height, width },
        (None, true) => Shape::Tokens(forward.input_width),
        (None, false) => Shape::Features(forward.input_width),
    }
}

impl Builder<'_> {
    fn push(&mut self, op: Op, shape: Shape) -> NodeId {
        self.nodes.push(Node { op, shape });
        self.nodes.len() - 1
    }

    /// Errors unless `id` holds values (not token ids, which only an embedding takes).
    fn values(&mut self, id: NodeId, what: &str, call: &Expr) -> Option<NodeId> {
        if matches!(self.nodes[id].shape, Shape::Tokens(_)) {
            self.errors.spanned(
                call,
                format!("{what} takes values, not token ids: look the tokens up in an `Embedding` first"),
            );
            return None;
        }
        Some(id)
    }

    /// Describes a value's shape for messages.
    fn describe(&self, id: NodeId) -> String {
        self.nodes[id].shape.describe()
    }

    fn local(&mut self, local: &syn::Local) {
        let Some(init) = &local.init else {
            self.errors.spanned(local, "give the binding a value: `let h = ...;`");
            return;
        };
        if let Some((else_token, _)) = &init.diverge {
            self.errors.spanned(else_token, format!("`let ... else` is not supported; {}", language()));
        }
        let value = self.expr(&init.expr);
        let ident = match &local.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() && p.mutability.is_none() => &p.ident,
            Pat::Type(t) => {
                self.errors.spanned(&t.ty, "drop the type annotation: the macro infers every shape");
                return;
            }
            other => {
                self.errors.spanned(other, "bind the value to a plain name, e.g. `let h = ...;`");
                return;
            }
        };
        let previous = self.scope.insert(ident.to_string(), Binding { node: value, span: ident.span(), used: false });
        if let Some(previous) = previous.filter(|p| !p.used && p.node.is_some()) {
            self.errors.at(previous.span, format!("`{ident}` is never used before it is shadowed"));
        }
    }

    fn expr(&mut self, expr: &Expr) -> Option<NodeId> {
        match expr {
            Expr::Paren(p) => self.expr(&p.expr),
            Expr::Group(g) => self.expr(&g.expr),
            Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                let ident = p.path.get_ident().expect("checked");
                self.variable(ident)
            }
            Expr::MethodCall(call) => {
                if !is_self(&call.receiver) {
                    return self.unsupported(expr, format!("unsupported method call; {}", language()));
                }
                if let Some(turbofish) = &call.turbofish {
                    self.errors.spanned(turbofish, "layer calls take no type arguments");
                }
                self.layer_call(&call.method, &call.args, expr)
            }
            Expr::Call(call) => match &*call.func {
                // `(self.fc1)(x)`, the spelling plain Rust would need.
                Expr::Paren(p) if matches!(&*p.expr, Expr::Field(f) if is_self(&f.base)) => {
                    let Expr::Field(f) = &*p.expr else { unreachable!() };
                    match &f.member {
                        syn::Member::Named(name) => self.layer_call(name, &call.args, expr),
                        other => {
                            self.errors.spanned(other, "layers are named fields");
                            None
                        }
                    }
                }
                Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                    let name = p.path.get_ident().expect("checked");
                    self.function_call(name, &call.args, expr)
                }
                _ => self.unsupported(expr, format!("unsupported call; {}", language())),
            },
            Expr::Binary(bin) => {
                if !matches!(bin.op, BinOp::Add(_)) {
                    self.errors.spanned(bin.op, "unsupported operator: forward adds values of the same shape with `+`");
                    self.mark_used(quote::ToTokens::to_token_stream(expr));
                    return None;
                }
                let (lhs, rhs) = (self.expr(&bin.left), self.expr(&bin.right));
                let (lhs, rhs) = (lhs?, rhs?);
                let (lhs, rhs) = (self.values(lhs, "`+`", expr)?, self.values(rhs, "`+`", expr)?);
                let shape = self.nodes[lhs].shape;
                if shape != self.nodes[rhs].shape {
                    let (a, b) = (self.describe(lhs), self.describe(rhs));
                    self.errors.spanned(expr, format!("cannot add values of different shapes: {a} and {b}"));
                    return None;
                }
                Some(self.push(Op::Add { lhs, rhs }, shape))
            }
            other => self.unsupported(other, format!("unsupported expression; {}", language())),
        }
    }

    /// Reports `expr` and counts the names it mentions as used, so that the error
    /// does not also make them look unused.
    fn unsupported(&mut self, expr: &Expr, message: String) -> Option<NodeId> {
        self.errors.spanned(expr, message);
        self.mark_used(quote::ToTokens::to_token_stream(expr));
        None
    }

    fn mark_used(&mut self, tokens: proc_macro2::TokenStream) {
        for tree in tokens {
            match tree {
                proc_macro2::TokenTree::Ident(ident) => {
                    if let Some(binding) = self.scope.get_mut(&ident.to_string()) {
                        binding.used = true;
                    }
                }
                proc_macro2::TokenTree::Group(group) => self.mark_used(group.stream()),
                _ => {}
            }
        }
    }

    fn variable(&mut self, ident: &Ident) -> Option<NodeId> {
        if ident == "self" {
            self.errors.spanned(ident, "apply a layer of the model: `self.layer(x)`");
            return None;
        }
        match self.scope.get_mut(&ident.to_string()) {
            Some(binding) => {
                binding.used = true;
                binding.node
            }
            None => {
                self.errors.spanned(ident, format!("unknown value `{ident}`"));
                None
            }
        }
    }

    fn single_arg(
        &mut self,
        args: &syn::punctuated::Punctuated<Expr, syn::Token![,]>,
        call: &Expr,
        what: &str,
    ) -> Option<NodeId> {
        if args.len() != 1 {
            self.errors.spanned(call, format!("{what} takes one argument, got {}", args.len()));
            args.iter().for_each(|a| {
                self.expr(a);
            });
            return None;
        }
        self.expr(&args[0])
    }

    fn layer_call(
        &mut self,
        name: &Ident,
        args: &syn::punctuated::Punctuated<Expr, syn::Token![,]>,
        call: &Expr,
    ) -> Option<NodeId> {
        let model = &self.def.model;
        let Some(index) = model.layers.iter().position(|l| l.ident == *name) else {
            let known: Vec<String> = model.layers.iter().map(|l| l.ident.to_string()).collect();
            self.errors
                .spanned(name, format!("`{}` has no layer `{name}`; its layers are {}", model.ident, known.join(", ")));
            return None;
        };
        let arg = self.single_arg(args, call, &format!("layer `{name}`"));
        if let Some(first) = self.layer_uses[index] {
            let mut error = syn::Error::new(
                name.span(),
                format!(
                    "layer `{name}` is applied twice; each layer may be used once (shared weights are not supported)"
                ),
            );
            error.combine(syn::Error::new(first, "first used here"));
            self.errors.push(error);
            return None;
        }
        self.layer_uses[index] = Some(name.span());
        let arg = arg?;
        let declared = model.layers[index].declared;
        match declared.apply(self.offsets[index], &self.nodes[arg].shape) {
            Ok((applied, output)) => {
                self.applied[index] = Some(applied);
                Some(self.push(Op::Layer { layer: index, arg }, output))
            }
            Err(why) => {
                self.errors.spanned(call, format!("layer `{name}` is {}{why}", declared.type_name()));
                None
            }
        }
    }

    fn function_call(
        &mut self,
        name: &Ident,
        args: &syn::punctuated::Punctuated<Expr, syn::Token![,]>,
        call: &Expr,
    ) -> Option<NodeId> {
        match name.to_string().as_str() {
            "max_pool2d" | "avg_pool2d" => return self.pool_call(name, args, call),
            "attention" => return self.attention_call(args, call),
            "mean" => {
                let arg = self.single_arg(args, call, "`mean`")?;
                let Shape::Sequence { width, .. } = self.nodes[arg].shape else {
                    let got = self.describe(arg);
                    self.errors
                        .spanned(call, format!("`mean` averages a sequence over its positions; this value is {got}"));
                    return None;
                };
                return Some(self.push(Op::Mean { arg }, Shape::Features(width)));
            }
            "flatten" => {
                let arg = self.single_arg(args, call, "`flatten`")?;
                let image @ Shape::Image { .. } = self.nodes[arg].shape else {
                    self.errors.spanned(call, "flatten takes an image; this value is already a vector");
                    return None;
                };
                return Some(self.push(Op::Flatten { arg }, Shape::Features(image.len())));
            }
            _ => {}
        }
        let Some(act) = Act::from_name(&name.to_string()) else {
            let hint = if self.def.model.layers.iter().any(|l| l.ident == *name) {
                format!("; call the layer as `self.{name}(...)`")
            } else {
                format!("; forward may call {} and the model's layers", Act::NAMES)
            };
            self.errors.spanned(name, format!("unknown function `{name}`{hint}"));
            args.iter().for_each(|a| {
                self.expr(a);
            });
            return None;
        };
        let arg = self.single_arg(args, call, &format!("`{name}`"))?;
        let arg = self.values(arg, &format!("`{name}`"), call)?;
        let shape = self.nodes[arg].shape;
        Some(self.push(Op::Activation { act, arg }, shape))
    }

    /// `attention(q, k, v, heads)`: three sequences of one shape, `heads` dividing
    /// their width; then optionally the model's token input, for a padding mask.
    fn attention_call(
        &mut self,
        args: &syn::punctuated::Punctuated<Expr, syn::Token![,]>,
        call: &Expr,
    ) -> Option<NodeId> {
        let usage = "write `attention(q, k, v, heads)`: queries, keys and values, sequences of one shape, and the \
                     number of heads as an integer literal (then, for a padding mask, the model's token ids: \
                     `attention(q, k, v, heads, x)`)";
        if !(4..=5).contains(&args.len()) {
            self.errors.spanned(call, usage);
            args.iter().take(3).for_each(|a| {
                self.expr(a);
            });
            return None;
        }
        let (q, k, v) = (self.expr(&args[0]), self.expr(&args[1]), self.expr(&args[2]));
        let heads = match &args[3] {
            Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(i), .. }) => i.base10_parse::<usize>().ok().filter(|&h| h > 0),
            _ => None,
        };
        let Some(heads) = heads else {
            self.errors.spanned(&args[3], usage);
            return None;
        };
        let (q, k, v) = (q?, k?, v?);
        let shape = self.nodes[q].shape;
        let Shape::Sequence { width, .. } = shape else {
            let got = self.describe(q);
            self.errors.spanned(call, format!("attention runs over sequences; the queries are {got}"));
            return None;
        };
        if self.nodes[k].shape != shape || self.nodes[v].shape != shape {
            let (q, k, v) = (self.describe(q), self.describe(k), self.describe(v));
            self.errors.spanned(
                call,
                format!("attention's queries, keys and values have one shape; they are {q}, {k} and {v}"),
            );
            return None;
        }
        if width % heads != 0 {
            self.errors.spanned(&args[3], format!("{heads} heads do not divide {width} features"));
            return None;
        }
        let padding_mask = args.len() == 5;
        if let Some(tokens) = args.get(4) {
            let Shape::Sequence { positions, .. } = shape else { unreachable!("checked above") };
            let mask = self.expr(tokens)?;
            if !matches!(self.nodes[mask].op, Op::Input) || self.nodes[mask].shape != Shape::Tokens(positions) {
                let got = self.describe(mask);
                self.errors.spanned(
                    tokens,
                    format!(
                        "a padding mask is the model's input of {positions} token ids (`x: Tokens<{positions}>`), \
                         whose padding ids (0) it hides; this is {got}"
                    ),
                );
                return None;
            }
        }
        Some(self.push(Op::Attention { q, k, v, heads, padding_mask }, shape))
    }

    /// `max_pool2d(x, window, stride)` or `avg_pool2d(x, window, stride)`.
    fn pool_call(
        &mut self,
        name: &Ident,
        args: &syn::punctuated::Punctuated<Expr, syn::Token![,]>,
        call: &Expr,
    ) -> Option<NodeId> {
        let usage = format!("write `{name}(x, window, stride)` with integer literals");
        if args.len() != 3 {
            self.errors.spanned(call, usage);
            if let Some(value) = args.first() {
                self.expr(value);
            }
            return None;
        }
        let arg = self.expr(&args[0]);
        let literal = |e: &Expr| match e {
            Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(i), .. }) => i.base10_parse::<usize>().ok().filter(|&v| v > 0),
            _ => None,
        };
        let (Some(window), Some(stride)) = (literal(&args[1]), literal(&args[2])) else {
            self.errors.spanned(call, usage);
            return None;
        };
        let arg = arg?;
        let Shape::Image { channels: c, height: h, width: w } = self.nodes[arg].shape else {
            self.errors.spanned(call, format!("`{name}` pools an image; this value is a vector"));
            return None;
        };
        if window > h || window > w {
            self.errors.spanned(call, format!("a {window}x{window} window does not fit an image of {h}x{w}"));
            return None;
        }
        let out = ((h - window) / stride + 1, (w - window) / stride + 1);
        let op = Op::Pool { max: name == "max_pool2d", window, stride, arg, relu: false };
        Some(self.push(op, Shape::Image { channels: c, height: out.0, width: out.1 }))
    }
}

fn is_self(expr: &Expr) -> bool {
    matches!(expr, Expr::Path(p) if p.path.is_ident("self"))
}
