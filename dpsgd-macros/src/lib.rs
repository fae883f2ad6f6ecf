//! `#[private_model]`: from a plain per-example forward function to the batched,
//! differentiated, per-example-clipped code of DP-SGD, generated at compile time.
//!
//! The macro reads a module holding the model struct (its layers, with their sizes)
//! and one `forward` function for a single example. It checks every shape, then emits
//! the struct over a flat parameter vector and an implementation of the runtime's
//! `PrivateModel` trait: batched forward, one backward pass that yields each layer's
//! per-example output gradients, each layer's per-example gradient norms the way its
//! contract's cost model finds cheaper (ghost norms from Gram matrices, such as
//! `||g_i||^2 = (||a_i||^2 + 1) ||d_i||^2` for a dense layer, or materialized
//! gradients), the clipped sum as one weighted product per layer, and materialized
//! per-example gradients. See the `dpsgd` crate for the user-facing documentation.
//!
//! The stages: `args` and `parse` read the tokens, `graph` builds and checks the
//! per-example computation, `plan` places each layer's contract (`dpsgd-layers`) and
//! lays out parameters and buffers, `emit` writes the code. `expansions/` holds the
//! pretty-printed expansion of two of the project's models, checked by the tests
//! below: a change to the generated code shows there, to be reviewed like code.

#![warn(missing_docs)]

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
    let plan = plan::plan(&graph);
    Ok(emit::emit(&def, &args, &graph, &plan))
}

#[cfg(test)]
mod expansion_snapshots {
    //! The expansion of two of the project's models (`models/src/lib.rs`), pretty-printed,
    //! against `expansions/*.rs`. `UPDATE_EXPANSIONS=1 cargo test -p dpsgd-macros`
    //! rewrites the files after an intended change.

    use std::path::Path;

    /// The pretty-printed expansion of module `name` of the models crate.
    fn expansion_of(name: &str) -> String {
        let source = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/src/lib.rs"))
            .expect("the models crate's source");
        let file = syn::parse_file(&source).expect("the models crate parses");
        let module = file
            .items
            .into_iter()
            .find_map(|item| match item {
                syn::Item::Mod(m) if m.ident == name => Some(m),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no module `{name}` in the models crate"));
        let (mut attributes, mut module) = (module.attrs.clone(), module);
        let position = attributes.iter().position(|a| a.path().is_ident("private_model")).expect("#[private_model]");
        let attribute = attributes.remove(position);
        module.attrs = attributes;
        let args = match attribute.meta {
            syn::Meta::List(list) => list.tokens,
            _ => panic!("#[private_model(...)] takes arguments"),
        };
        let expanded = super::expand(args, quote::ToTokens::into_token_stream(module)).expect("the model expands");
        prettyplease::unparse(&syn::parse2(expanded).expect("the expansion is a file"))
    }

    fn check(name: &str) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("expansions").join(format!("{name}.rs"));
        let expansion = expansion_of(name);
        if std::env::var("UPDATE_EXPANSIONS").is_ok_and(|v| v == "1") {
            std::fs::write(&path, &expansion).expect("writing the expansion");
            return;
        }
        let recorded = std::fs::read_to_string(&path).unwrap_or_default();
        if recorded != expansion {
            let line = recorded.lines().zip(expansion.lines()).position(|(a, b)| a != b);
            panic!(
                "the expansion of `{name}` differs from {} (first at line {}); review the change and rerun with \
                 UPDATE_EXPANSIONS=1 to record it",
                path.display(),
                line.map_or("end".to_string(), |l| (l + 1).to_string())
            );
        }
    }

    #[test]
    fn the_feed_forward_net_expands_as_recorded() {
        check("ffnn");
    }

    #[test]
    fn the_mnist_cnn_expands_as_recorded() {
        check("mnist_cnn");
    }
}
