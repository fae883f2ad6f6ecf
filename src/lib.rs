//! Differentially private SGD as fast as ordinary training.
//!
//! Write a model as a struct of layers and one forward function for a *single*
//! example; `#[private_model]` generates, at compile time, the batched forward pass,
//! reverse mode, per-example gradient norms, per-example clipping and the noisy step:
//!
//! ```
//! use dpsgd::prelude::*;
//!
//! #[private_model(loss = softmax_cross_entropy)]
//! mod net {
//!     pub struct Net {
//!         pub fc1: Linear<4, 8>,
//!         pub fc2: Linear<8, 3>,
//!     }
//!
//!     impl Net {
//!         pub fn forward(&self, x: Input<4>) -> Logits<3> {
//!             let h = tanh(self.fc1(x));
//!             self.fc2(h)
//!         }
//!     }
//! }
//! use net::Net;
//!
//! let model = Net::<f64>::init(0);
//! let x = ndarray::Array2::from_shape_fn((5, 4), |(i, j)| (i + j) as f64 / 10.0);
//! let y = [0, 1, 2, 0, 1];
//! let norms = model.per_example_grad_norms(x.view(), &y).unwrap();
//! let clipped = model.clipped_grad_sum(x.view(), &y, 1.0).unwrap();
//! assert_eq!((norms.len(), clipped.len()), (5, Net::<f64>::NUM_PARAMS));
//! ```
//!
//! # The language of `forward`
//!
//! - layers, declared as fields: `Linear<IN, OUT>` (weight and bias; over a sequence
//!   it applies at every position), `Conv2d<IN_CHANNELS, OUT_CHANNELS, KERNEL, STRIDE,
//!   Same|Valid>` (square kernels, TensorFlow's padding rules; a sixth argument
//!   `Standardized` standardizes its weights), `Embedding<VOCAB, DIM>` (a table, no
//!   bias), `PositionEmbedding<POSITIONS, DIM>` (a learned table added to a sequence),
//!   `Lstm<IN, HIDDEN>` (one layer, PyTorch's gates and biases), `GroupNorm<GROUPS,
//!   CHANNELS>` and `LayerNorm<DIM>` (with affine parameters);
//! - the input: `x: Input<N>` (features), `x: Image<C, H, W>` (channels first) or
//!   `x: Tokens<T>` (token ids, for embeddings); the result `Logits<K>`;
//! - `let` bindings; calls of layers `self.layer(x)`; `relu`, `sigmoid`, `tanh`,
//!   `leaky_relu` (slope 0.01), `elu` (alpha 1), `softplus`, `gelu` (exact) and
//!   `gelu_tanh` (the tanh approximation);
//!   `max_pool2d(x, WINDOW, STRIDE)` and `avg_pool2d(..)` of images, `flatten(x)` of an
//!   image into a vector, `mean(x)` of a sequence over its positions (an embedding's
//!   or an LSTM's output); `a + b` of two values of the same shape;
//!   `attention(q, k, v, heads)` (multi-head self-attention of three sequences of one
//!   shape; `attention(q, k, v, heads, x)` masks the keys whose token id in the input
//!   `x` is 0, the padding);
//! - the loss is named once, in the attribute: `binary_logistic` (one logit, labels
//!   0/1), `softmax_cross_entropy` (`K >= 2` logits, labels `0..K`),
//!   `mean_squared_error` (`K` outputs against `K` real targets) or
//!   `multilabel_binary_logistic` (`K` logits, a 0/1 label each). The last two take a
//!   row of values per example ([`runtime::data::TargetData::Values`]).
//!
//! Every size is checked at compile time; a mismatch, an unknown function or anything
//! outside the language is a compile error pointing at the offending code. Each layer
//! is used exactly once.
//!
//! # What the model gets
//!
//! The generated struct is generic over the float type (`f32` by default, `f64` for
//! gradient checks) and implements [`PrivateModel`](runtime::PrivateModel): `forward`
//! (batched logits), `predict`, `loss_and_grad`, `per_example_grad_norms` (ghost norms),
//! `per_example_grads` (materialized), `clipped_grad_sum`; and the code behind
//! [`runtime::train::private_step`], which takes each layer's per-example norm the way
//! its plan found cheaper (ghost norms from Gram matrices, never forming the layer's
//! per-example gradients; or materialized), then the clipped sum as weighted products.
//! `M::describe_plan()` (or `dpsgd plan --model NAME` for the built-in models) prints
//! the plan. Train with [`runtime::train::train`] or the `dpsgd` command line.
//!
//! # Checking your model
//!
//! [`testing::check_model`] runs, in your crate's `cargo test`, the checks this
//! project runs on its own models: finite differences, per-example gradients against
//! one-example batches, ghost against materialized norms, clipping, an empty batch and
//! the noise's scale.
//!
//! # Training it privately, and reading the privacy report
//!
//! [`PrivateTraining`](runtime::train::PrivateTraining) sets up a run from its budget:
//! Poisson sampling at `q = B / N`, clipping at `C`, the noise multiplier that keeps
//! the whole run within the target epsilon, one accountant. [`runtime::train::train`]
//! runs it and returns the accountant, which answers for the run as it happened:
//!
//! ```
//! use dpsgd::prelude::*;
//! use dpsgd::runtime::data::synthetic::teacher;
//!
//! #[private_model(loss = softmax_cross_entropy)]
//! mod net {
//!     pub struct Net {
//!         pub fc1: Linear<4, 8>,
//!         pub fc2: Linear<8, 3>,
//!     }
//!
//!     impl Net {
//!         pub fn forward(&self, x: Input<4>) -> Logits<3> {
//!             self.fc2(tanh(self.fc1(x)))
//!         }
//!     }
//! }
//! use net::Net;
//!
//! # fn main() -> Result<(), Error> {
//! // Random features labelled by a random linear teacher (seed 1): 2,000 to train on.
//! let (train_set, test_set) = (teacher(&Net::<f32>::SPEC, 2_000, 1, 0)?, teacher(&Net::<f32>::SPEC, 500, 1, 1)?);
//! let config = PrivateTraining::new(5, 100, Optimizer::sgd(0.5, 0.9)?)
//!     .target_epsilon(3.0) // sigma is calibrated for the 5 epochs of 20 steps
//!     .delta(1e-5)         // below 1 / N
//!     .max_grad_norm(1.0)
//!     .config(train_set.len())?;
//! let mut model = Net::<f32>::init(0);
//! let report = train(&mut model, &train_set, Some(&test_set), &config, |_epoch| {})?;
//!
//! let accountant = report.accountant.expect("a private run");
//! let (epsilon, _order) = accountant.epsilon(1e-5)?; // RDP: what budgets are checked against
//! let pld = accountant.pld_epsilon(1e-5)?;            // tighter; the exact value is in [lower, upper]
//! assert!(epsilon <= 3.0 + 1e-9 && pld.upper <= epsilon);
//! let accuracy = report.epochs.last().and_then(|e| e.test).and_then(|t| t.accuracy).unwrap();
//! assert!(accuracy > 0.5, "three classes: chance is a third; got {accuracy}");
//! # Ok(())
//! # }
//! ```
//!
//! The (epsilon, delta) guarantee covers the training examples, for the parameters
//! after every step and everything computed from them. It does not cover what is
//! computed from the training data outside the private step: the training loss, the
//! realized batch sizes, statistics used to prepare the data (which is why CSV files
//! are encoded from a public schema, [`runtime::data::csv`]). The test set's figures
//! are the test set's. The `dpsgd` command line prints this report at the end of a
//! run, labels what is not covered, and with `--metrics` writes epsilon after every
//! step; [`cli`] gives a model of your own the same command line.
//!
//! # Privacy by default
//!
//! Private training keys its noise and its Poisson sampler with a fresh secret key
//! from the operating system ([`runtime::rng::Randomness::Secret`]); a run's
//! checkpoint holds that key, so keep it as secret as the data and share the
//! parameters alone. Reproducible noise exists for tests, under a name that says what
//! it is ([`runtime::rng::Randomness::InsecureReproducible`]): with it the reported
//! epsilon does not hold. [`audit::audit`] checks the claimed epsilon from the outside,
//! with a lower bound from one training run with canaries.

#![warn(missing_docs)]

// Lets the macro's default path `::dpsgd::runtime` resolve inside this crate too.
extern crate self as dpsgd;

pub mod audit;
pub mod bench;
#[cfg(feature = "cli")]
pub mod cli;
pub mod device;
pub mod testing;

pub use device::Device;

pub use dpsgd_macros::private_model;
pub use dpsgd_runtime as runtime;
pub use models;
pub use ndarray;

/// Everything a model definition and its training need.
pub mod prelude {
    pub use crate::private_model;
    pub use crate::runtime::rng::Randomness;
    pub use crate::runtime::train::{Optimizer, Privacy, PrivateTraining, TrainConfig, evaluate, train};
    pub use crate::runtime::{Dataset, Error, Float, NormStrategy, PrivateModel};
    pub use ndarray;
}
