//! `dpsgd::testing` catches a wrong gradient: a model whose backward pass does not
//! belong to its forward pass (a user's hand-written part gone wrong) fails
//! `check_model` with a message naming the parameter and both values, while the same
//! layers with a matching backward pass pass it.

use dpsgd::prelude::*;
use dpsgd::runtime::{Buf, Engine, ModelSpec};

#[private_model(loss = softmax_cross_entropy)]
mod tanh_net {
    pub struct TanhNet {
        pub hidden: Linear<5, 7>,
        pub out: Linear<7, 3>,
    }

    impl TanhNet {
        pub fn forward(&self, x: Input<5>) -> Logits<3> {
            self.out(tanh(self.hidden(x)))
        }
    }
}

// The same layers and layout with sigmoid: its backward pass, after tanh's forward,
// takes sigmoid's derivative y (1 - y) where tanh's is 1 - y^2.
#[private_model(loss = softmax_cross_entropy)]
mod sigmoid_net {
    pub struct SigmoidNet {
        pub hidden: Linear<5, 7>,
        pub out: Linear<7, 3>,
    }

    impl SigmoidNet {
        pub fn forward(&self, x: Input<5>) -> Logits<3> {
            self.out(sigmoid(self.hidden(x)))
        }
    }
}

use sigmoid_net::SigmoidNet;
use tanh_net::TanhNet;

/// Tanh's forward pass with sigmoid's backward pass: every gradient of `hidden` wrong.
#[derive(Clone)]
struct Broken<F: Float>(TanhNet<F>);

impl<F: Float> PrivateModel<F> for Broken<F> {
    const SPEC: ModelSpec = <TanhNet<F> as PrivateModel<F>>::SPEC;
    type WithFloat<G: Float> = Broken<G>;

    fn params(&self) -> &[F] {
        self.0.params()
    }
    fn params_mut(&mut self) -> &mut [F] {
        self.0.params_mut()
    }
    fn from_params_unchecked(params: Vec<F>) -> Self {
        Broken(TanhNet::from_params_unchecked(params))
    }
    fn run_forward<E: Engine<F>>(engine: &mut E) {
        TanhNet::<F>::run_forward(engine)
    }
    fn run_backward<E: Engine<F>>(engine: &mut E) {
        SigmoidNet::<F>::run_backward(engine)
    }
    fn run_sq_norms<E: Engine<F>>(engine: &mut E) {
        TanhNet::<F>::run_sq_norms(engine)
    }
    fn run_param_grads<E: Engine<F>>(engine: &mut E, weights: Option<Buf>) {
        TanhNet::<F>::run_param_grads(engine, weights)
    }
    fn run_per_example_grads<E: Engine<F>>(engine: &mut E) {
        TanhNet::<F>::run_per_example_grads(engine)
    }
}

#[test]
fn the_layers_with_their_own_backward_pass_pass() {
    dpsgd::testing::check_model::<TanhNet<f64>>();
    dpsgd::testing::check_model::<SigmoidNet<f64>>();
}

#[test]
fn a_backward_pass_that_does_not_match_the_forward_pass_fails() {
    let failure =
        std::panic::catch_unwind(dpsgd::testing::check_model::<Broken<f64>>).expect_err("a broken model passed");
    let message = failure
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| failure.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        message.starts_with("TanhNet: the gradient of hidden.") && message.contains(", finite differences give "),
        "{message}"
    );
}
