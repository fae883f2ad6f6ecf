//! A model of our own: house prices (one real target) from eight features (four
//! numbers and a district one-hot, as `data/houses.schema.json` encodes the shipped
//! CSV), a regression, with the mean squared error. Everything below `#[private_model]` is all
//! the model code there is; its gradients, per-example norms, clipping and noise are
//! generated.

#![warn(missing_docs)]

use dpsgd::prelude::*;

/// The price model: eight features -> 32 GELU units -> one predicted price.
#[private_model(loss = mean_squared_error)]
pub mod price {
    pub struct Price {
        hidden: Linear<8, 32>,
        out: Linear<32, 1>,
    }

    impl Price {
        pub fn forward(&self, x: Input<8>) -> Logits<1> {
            self.out(gelu(self.hidden(x)))
        }
    }
}

pub use price::Price;
