//! From the annotated module to the model's parts: the struct of layers and the
//! per-example forward function. Anything else in the module is an error.
//!
//! ```ignore
//! #[private_model(loss = softmax_cross_entropy)]
//! pub mod ffnn {
//!     pub struct Ffnn { fc1: Linear<104, 50>, fc2: Linear<50, 2> }
//!     impl Ffnn {
//!         pub fn forward(&self, x: Input<104>) -> Logits<2> { self.fc2(relu(self.fc1(x))) }
//!     }
//! }
//! ```

use proc_macro2::Span;
use syn::{
    Attribute, Fields, FnArg, Ident, ImplItem, Item, ItemImpl, ItemMod, ItemStruct, ReturnType, Stmt, Type, Visibility,
};

use crate::errors::Errors;

pub struct ModelDef {
    pub module: ItemMod,
    pub model: StructDef,
    pub forward: ForwardDef,
}

pub struct StructDef {
    pub docs: Vec<Attribute>,
    pub vis: Visibility,
    pub ident: Ident,
    pub layers: Vec<LayerDecl>,
}

pub struct LayerDecl {
    pub ident: Ident,
    pub vis: Visibility,
    pub docs: Vec<Attribute>,
    pub kind: LayerKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerKind {
    Linear {
        inputs: usize,
        outputs: usize,
    },
    /// `Conv2d<IN_CHANNELS, OUT_CHANNELS, KERNEL, STRIDE, Same|Valid>`: square kernels,
    /// TensorFlow's padding rules.
    Conv2d {
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        same: bool,
    },
    /// `Embedding<VOCAB, DIM>`: a table looked up at token ids, no bias.
    Embedding {
        vocab: usize,
        dim: usize,
    },
    /// `Lstm<IN, HIDDEN>`: one LSTM layer over a sequence, PyTorch's gates and biases.
    Lstm {
        inputs: usize,
        hidden: usize,
    },
}

pub struct ForwardDef {
    pub docs: Vec<Attribute>,
    pub vis: Visibility,
    pub input: Ident,
    pub input_width: usize,
    /// `(channels, height, width)` when the input is an `Image<C, H, W>`.
    pub input_image: Option<(usize, usize, usize)>,
    /// Whether the input is `Tokens<T>`: token ids.
    pub input_tokens: bool,
    pub output_width: usize,
    pub stmts: Vec<Stmt>,
    /// The closing brace, where an error about the result points when there is no
    /// final expression.
    pub body_end: Span,
}

const SHAPE: &str = "#[private_model] expects a module holding exactly the model struct and one `impl` block with its `forward` function";

pub fn parse(module: ItemMod) -> syn::Result<ModelDef> {
    let mut errors = Errors::default();
    let Some((brace, items)) = &module.content else {
        return Err(syn::Error::new_spanned(
            &module,
            format!("{SHAPE}: write the module inline, `mod name {{ ... }}`"),
        ));
    };
    let mut structs = Vec::new();
    let mut impls = Vec::new();
    for item in items {
        match item {
            Item::Struct(s) => structs.push(s),
            Item::Impl(i) => impls.push(i),
            // Imports are harmless: the macro reads layer and function names itself.
            Item::Use(_) => {}
            other => errors.spanned(other, format!("{SHAPE}; this item is not allowed here")),
        }
    }
    let model = match structs.as_slice() {
        [s] => parse_struct(s, &mut errors),
        [] => {
            return Err(syn::Error::new(brace.span.join(), format!("{SHAPE}: no struct found")));
        }
        [_, extra, ..] => {
            return Err(syn::Error::new_spanned(extra, format!("{SHAPE}: found a second struct")));
        }
    };
    let forward = match impls.as_slice() {
        [i] => parse_impl(i, &model, &mut errors),
        [] => {
            return Err(syn::Error::new(brace.span.join(), format!("{SHAPE}: no `impl {}` block found", model.ident)));
        }
        [_, extra, ..] => {
            return Err(syn::Error::new_spanned(extra, format!("{SHAPE}: found a second impl block")));
        }
    };
    errors.finish()?;
    let forward = forward.expect("no errors means a forward function");
    Ok(ModelDef { module, model, forward })
}

fn docs(attrs: &[Attribute], what: &str, errors: &mut Errors) -> Vec<Attribute> {
    for attr in attrs.iter().filter(|a| !a.path().is_ident("doc")) {
        errors.spanned(
            attr,
            format!("only doc comments are allowed on {what}; the macro generates Clone, Debug and PartialEq"),
        );
    }
    attrs.iter().filter(|a| a.path().is_ident("doc")).cloned().collect()
}

fn parse_struct(s: &ItemStruct, errors: &mut Errors) -> StructDef {
    if !s.generics.params.is_empty() {
        errors.spanned(&s.generics, "the model struct takes no generic parameters; the macro adds the float type `F`");
    }
    let mut layers = Vec::new();
    match &s.fields {
        Fields::Named(named) => {
            for field in &named.named {
                let ident = field.ident.clone().expect("named field");
                if let Some(kind) = parse_layer_type(&field.ty, errors) {
                    layers.push(LayerDecl {
                        ident,
                        vis: field.vis.clone(),
                        docs: docs(&field.attrs, "layers", errors),
                        kind,
                    });
                }
            }
            if named.named.is_empty() {
                errors.spanned(&s.ident, "a model needs at least one layer");
            }
        }
        _ => errors.spanned(&s.ident, "the model struct needs named layer fields, e.g. `fc1: Linear<104, 50>`"),
    }
    StructDef { docs: docs(&s.attrs, "the model struct", errors), vis: s.vis.clone(), ident: s.ident.clone(), layers }
}

/// `Linear<IN, OUT>`.
const LAYER_TYPES: &str = "Linear<IN, OUT>, Conv2d<IN_CHANNELS, OUT_CHANNELS, KERNEL, STRIDE, Same|Valid>, Embedding<VOCAB, DIM>, Lstm<IN, HIDDEN>";

fn parse_layer_type(ty: &Type, errors: &mut Errors) -> Option<LayerKind> {
    let (name, dims, padding) = sized_type_with_padding(ty, errors)?;
    match (name.to_string().as_str(), dims.as_slice(), padding) {
        ("Linear", [inputs, outputs], None) => Some(LayerKind::Linear { inputs: *inputs, outputs: *outputs }),
        ("Linear", _, _) => {
            errors.spanned(ty, "write a dense layer as `Linear<IN, OUT>`");
            None
        }
        ("Conv2d", [in_channels, out_channels, kernel, stride], Some(same)) => Some(LayerKind::Conv2d {
            in_channels: *in_channels,
            out_channels: *out_channels,
            kernel: *kernel,
            stride: *stride,
            same,
        }),
        ("Embedding", [vocab, dim], None) => Some(LayerKind::Embedding { vocab: *vocab, dim: *dim }),
        ("Embedding", _, _) => {
            errors.spanned(ty, "write an embedding as `Embedding<VOCAB, DIM>`");
            None
        }
        ("Lstm", [inputs, hidden], None) => Some(LayerKind::Lstm { inputs: *inputs, hidden: *hidden }),
        ("Lstm", _, _) => {
            errors.spanned(ty, "write an LSTM as `Lstm<IN, HIDDEN>`");
            None
        }
        ("Conv2d", _, _) => {
            errors
                .spanned(ty, "write a convolution as `Conv2d<IN_CHANNELS, OUT_CHANNELS, KERNEL, STRIDE, Same|Valid>`");
            None
        }
        _ => {
            errors.spanned(&name, format!("unknown layer type `{name}`; supported: {LAYER_TYPES}"));
            None
        }
    }
}

/// `Name<N, ..., Same|Valid>`: the sizes, and the padding when the last argument
/// names one.
fn sized_type_with_padding(ty: &Type, errors: &mut Errors) -> Option<(Ident, Vec<usize>, Option<bool>)> {
    if let Type::Path(path) = ty
        && let Some(segment) = path.path.segments.last()
        && let syn::PathArguments::AngleBracketed(args) = &segment.arguments
        && let Some(syn::GenericArgument::Type(Type::Path(last))) = args.args.last()
    {
        let same = match last.path.get_ident().map(|i| i.to_string()).as_deref() {
            Some("Same") => true,
            Some("Valid") => false,
            _ => {
                errors.spanned(last, "padding is `Same` or `Valid`");
                return None;
            }
        };
        let mut without = segment.clone();
        if let syn::PathArguments::AngleBracketed(a) = &mut without.arguments {
            let kept: Vec<_> = a.args.iter().take(a.args.len() - 1).cloned().collect();
            a.args = kept.into_iter().collect();
        }
        let stripped: Type = syn::parse_quote!(#without);
        let (name, dims) = sized_type(&stripped, errors)?;
        return Some((name, dims, Some(same)));
    }
    let (name, dims) = sized_type(ty, errors)?;
    Some((name, dims, None))
}

/// `Name<N, ...>` with positive integer literal arguments.
fn sized_type(ty: &Type, errors: &mut Errors) -> Option<(Ident, Vec<usize>)> {
    let Type::Path(path) = ty else {
        errors.spanned(ty, "expected a type such as `Linear<104, 50>`");
        return None;
    };
    let segment = path.path.segments.last()?;
    let mut dims = Vec::new();
    if let syn::PathArguments::AngleBracketed(args) = &segment.arguments {
        for arg in &args.args {
            let lit = match arg {
                syn::GenericArgument::Const(syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(lit), .. })) => lit,
                other => {
                    errors.spanned(other, "sizes must be integer literals");
                    return None;
                }
            };
            match lit.base10_parse::<usize>() {
                Ok(n) if n > 0 => dims.push(n),
                _ => {
                    errors.spanned(lit, "sizes must be positive integers");
                    return None;
                }
            }
        }
    }
    Some((segment.ident.clone(), dims))
}

/// `Input<N>` or `Logits<N>`: returns N.
fn width_of(ty: &Type, expected: &str, errors: &mut Errors) -> Option<usize> {
    match sized_type(ty, errors)? {
        (name, dims) if name == expected && dims.len() == 1 => Some(dims[0]),
        _ => {
            errors.spanned(ty, format!("expected `{expected}<N>`"));
            None
        }
    }
}

fn parse_impl(i: &ItemImpl, model: &StructDef, errors: &mut Errors) -> Option<ForwardDef> {
    let self_ok = matches!(&*i.self_ty, Type::Path(p) if p.path.is_ident(&model.ident));
    if i.trait_.is_some() || !self_ok || !i.generics.params.is_empty() {
        errors.spanned(&i.self_ty, format!("expected a plain `impl {}` block holding `forward`", model.ident));
        return None;
    }
    let mut forward = None;
    for item in &i.items {
        match item {
            ImplItem::Fn(f) if f.sig.ident == "forward" && forward.is_none() => forward = Some(f),
            other => errors.spanned(
                other,
                "the impl block holds only the per-example `fn forward(&self, x: Input<N>) -> Logits<K>`",
            ),
        }
    }
    let Some(f) = forward else {
        errors.spanned(&i.self_ty, "missing `fn forward(&self, x: Input<N>) -> Logits<K>`");
        return None;
    };
    let sig = &f.sig;
    if sig.constness.is_some() || sig.asyncness.is_some() || !sig.generics.params.is_empty() || sig.variadic.is_some() {
        errors.spanned(&sig.ident, "`forward` must be a plain function: no const, async or generics");
    }
    let mut args = sig.inputs.iter();
    match args.next() {
        Some(FnArg::Receiver(r)) if matches!(r.kind, syn::ReceiverKind::Reference(_, _, None)) => {}
        _ => errors.spanned(&sig.ident, "`forward` takes `&self` first"),
    }
    let input = match (args.next(), args.next()) {
        (Some(FnArg::Typed(arg)), None) => match &*arg.pat {
            syn::Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => match sized_type(&arg.ty, errors) {
                Some((name, dims)) if name == "Input" && dims.len() == 1 => {
                    Some((p.ident.clone(), dims[0], None, false))
                }
                Some((name, dims)) if name == "Tokens" && dims.len() == 1 => {
                    Some((p.ident.clone(), dims[0], None, true))
                }
                Some((name, dims)) if name == "Image" && dims.len() == 3 => {
                    Some((p.ident.clone(), dims.iter().product(), Some((dims[0], dims[1], dims[2])), false))
                }
                Some(_) => {
                    errors.spanned(
                        &arg.ty,
                        "expected `Input<N>` (features), `Image<CHANNELS, HEIGHT, WIDTH>` or `Tokens<LENGTH>` (token ids)",
                    );
                    None
                }
                None => None,
            },
            other => {
                errors.spanned(other, "name the input with a plain identifier, e.g. `x: Input<104>`");
                None
            }
        },
        _ => {
            errors.spanned(&sig.inputs, "`forward` takes one example: `(&self, x: Input<N>)`");
            None
        }
    };
    let output = match &sig.output {
        ReturnType::Type(_, ty) => width_of(ty, "Logits", errors),
        ReturnType::Default => {
            errors.spanned(&sig.ident, "`forward` returns the logits: `-> Logits<K>`");
            None
        }
    };
    let ((input, input_width, input_image, input_tokens), output_width) = (input?, output?);
    Some(ForwardDef {
        docs: docs(&f.attrs, "forward", errors),
        vis: f.vis.clone(),
        input,
        input_width,
        input_image,
        input_tokens,
        output_width,
        stmts: f.block.stmts.clone(),
        body_end: f.block.brace_token.span.close(),
    })
}
