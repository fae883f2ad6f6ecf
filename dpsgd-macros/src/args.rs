//! The attribute's arguments: `#[private_model(loss = softmax_cross_entropy, crate = path)]`.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;

/// The losses a model can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossKind {
    BinaryLogistic,
    SoftmaxCrossEntropy,
    MeanSquaredError,
    MultilabelBinaryLogistic,
}

impl LossKind {
    pub const NAMES: &'static str = "binary_logistic (one logit, labels 0/1), softmax_cross_entropy (one logit per \
                                     class), mean_squared_error (one output per real target) or \
                                     multilabel_binary_logistic (one logit per 0/1 label)";

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "binary_logistic" => Some(LossKind::BinaryLogistic),
            "softmax_cross_entropy" => Some(LossKind::SoftmaxCrossEntropy),
            "mean_squared_error" => Some(LossKind::MeanSquaredError),
            "multilabel_binary_logistic" => Some(LossKind::MultilabelBinaryLogistic),
            _ => None,
        }
    }

    /// The runtime's name for it.
    pub fn variant(self) -> &'static str {
        match self {
            LossKind::BinaryLogistic => "BinaryLogistic",
            LossKind::SoftmaxCrossEntropy => "SoftmaxCrossEntropy",
            LossKind::MeanSquaredError => "MeanSquaredError",
            LossKind::MultilabelBinaryLogistic => "MultilabelBinaryLogistic",
        }
    }
}

pub struct Args {
    pub loss: LossKind,
    pub loss_span: Span,
    /// Where the runtime is reachable from the user's crate.
    pub krate: syn::Path,
}

pub fn parse(attr: TokenStream) -> syn::Result<Args> {
    let mut loss = None;
    let mut krate = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("loss") {
            let name: syn::Ident = meta.value()?.parse()?;
            let kind = LossKind::from_name(&name.to_string()).ok_or_else(|| {
                syn::Error::new(name.span(), format!("unknown loss `{name}`; use {}", LossKind::NAMES))
            })?;
            loss = Some((kind, name.span()));
            Ok(())
        } else if meta.path.is_ident("crate") {
            krate = Some(meta.value()?.parse::<syn::Path>()?);
            Ok(())
        } else {
            Err(meta.error("unknown argument; #[private_model] takes `loss = ...` and optionally `crate = path`"))
        }
    });
    parser.parse2(attr)?;
    let (loss, loss_span) = loss.ok_or_else(|| {
        syn::Error::new(
            Span::call_site(),
            format!("name the loss: #[private_model(loss = ...)] with {}", LossKind::NAMES),
        )
    })?;
    Ok(Args { loss, loss_span, krate: krate.unwrap_or_else(|| syn::parse_quote!(::dpsgd::runtime)) })
}
