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

use dpsgd_layers::{Layer, TypeArg};

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
    /// The layer as declared by its type: sizes known, not yet placed or applied.
    pub declared: Layer,
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
                if let Some(declared) = parse_layer_type(&field.ty, errors) {
                    layers.push(LayerDecl {
                        ident,
                        vis: field.vis.clone(),
                        docs: docs(&field.attrs, "layers", errors),
                        declared,
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

/// A layer's type, `Name<ARGS>`, declared by the contract of the kind called `Name`.
fn parse_layer_type(ty: &Type, errors: &mut Errors) -> Option<Layer> {
    let Type::Path(path) = ty else {
        errors.spanned(ty, "expected a layer type such as `Linear<104, 50>`");
        return None;
    };
    let segment = path.path.segments.last()?;
    let mut args = Vec::new();
    if let syn::PathArguments::AngleBracketed(angle) = &segment.arguments {
        for arg in &angle.args {
            args.push(match arg {
                syn::GenericArgument::Type(Type::Path(word)) if word.path.get_ident().is_some() => {
                    TypeArg::Word(word.path.get_ident().expect("checked").to_string())
                }
                other => TypeArg::Size(size(other, errors)?),
            });
        }
    }
    let name = &segment.ident;
    match Layer::declare(&name.to_string(), &args) {
        Some(Ok(layer)) => Some(layer),
        Some(Err(message)) => {
            errors.spanned(ty, message);
            None
        }
        None => {
            errors.spanned(name, format!("unknown layer type `{name}`; supported: {}", Layer::usages().join(", ")));
            None
        }
    }
}

/// A positive integer literal.
fn size(arg: &syn::GenericArgument, errors: &mut Errors) -> Option<usize> {
    let lit = match arg {
        syn::GenericArgument::Const(syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(lit), .. })) => lit,
        other => {
            errors.spanned(other, "sizes must be integer literals");
            return None;
        }
    };
    match lit.base10_parse::<usize>() {
        Ok(n) if n > 0 => Some(n),
        _ => {
            errors.spanned(lit, "sizes must be positive integers");
            None
        }
    }
}

/// `Name<N, ...>` with positive integer literal arguments.
fn sized_type(ty: &Type, errors: &mut Errors) -> Option<(Ident, Vec<usize>)> {
    let Type::Path(path) = ty else {
        errors.spanned(ty, "expected a type such as `Input<104>`");
        return None;
    };
    let segment = path.path.segments.last()?;
    let mut dims = Vec::new();
    if let syn::PathArguments::AngleBracketed(args) = &segment.arguments {
        for arg in &args.args {
            dims.push(size(arg, errors)?);
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
