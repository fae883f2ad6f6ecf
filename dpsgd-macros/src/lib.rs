//! `#[private_model]`: from a plain per-example forward function to the batched,
//! differentiated, per-example-clipped code of DP-SGD, generated at compile time.
//!
//! The macro reads a module holding the model struct (its layers, with their sizes)
//! and one `forward` function for a single example. It checks every shape, then emits
//! the struct over a flat parameter vector and an implementation of the runtime's
//! `PrivateModel` trait: batched forward, one backward pass that yields each layer's
//! per-example output gradients, per-example gradient norms by the ghost identity
//! `||g_i||^2 = (||a_i||^2 + 1) ||d_i||^2`, the clipped sum as one weighted product per
//! layer, and materialized per-example gradients for tests. See the `dpsgd` crate for
//! the user-facing documentation.
//!
//! The stages: [`args`] and [`parse`] read the tokens, [`graph`] builds and checks the
//! per-example computation, [`plan`] lays out parameters and buffers, [`emit`] writes
//! the code.

mod args;
mod emit;
mod errors;
mod graph;
mod parse;
mod plan;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;

/// Turns a module holding a model struct and its per-example `forward` into a DP-SGD
/// model. See the `dpsgd` crate documentation for the language and an example.
#[proc_macro_attribute]
pub fn private_model(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(attr.into(), item.into()).unwrap_or_else(syn::Error::into_compile_error).into()
}

fn expand(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let args = args::parse(attr);
    let module: syn::ItemMod = syn::parse2(item).map_err(|e| {
        syn::Error::new(
            e.span(),
            "#[private_model] goes on a module: `mod name { struct ...; impl ... { fn forward ... } }`",
        )
    })?;
    let (def, args) = match (parse::parse(module), args) {
        (Ok(def), Ok(args)) => (def, args),
        (Err(mut e), Err(a)) => {
            e.combine(a);
            return Err(e);
        }
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    let mut errors = errors::Errors::default();
    let graph = graph::build(&def, args.loss, args.loss_span, &mut errors);
    errors.finish()?;
    let graph = graph.expect("no errors means a graph");
    let plan = plan::plan(&def, &graph);
    Ok(emit::emit(&def, &args, &graph, &plan))
}
