//! Gradients of every layer, activation and loss against central finite differences,
//! in f64.

mod common;

use dpsgd::prelude::*;
use dpsgd::testing::Checks;

/// The mean-loss gradient against central finite differences on every `stride`-th
/// parameter (`dpsgd::testing`), for the model from `M::init(seed)` times `scale` on
/// `rows` examples.
fn check_every<M: PrivateModel<f64>>(seed: u64, scale: f64, rows: usize, stride: usize) {
    Checks { rows, seed, scale, stride, step: 1e-6 }.finite_differences::<M>();
}

fn check<M: PrivateModel<f64>>(seed: u64, scale: f64, rows: usize) {
    check_every::<M>(seed, scale, rows, 1);
}

#[test]
fn every_operation_and_softmax_cross_entropy() {
    check::<common::EveryOp<f64>>(1, 1.0, 9);
}

#[test]
fn dense_and_binary_logistic() {
    check::<common::Binary<f64>>(2, 1.0, 9);
}

#[test]
fn stacked_tanh_and_sigmoid() {
    check::<common::Deep<f64>>(3, 1.0, 9);
}

/// leaky_relu, elu, gelu (both forms) and softplus through the whole battery: finite
/// differences, per-example gradients against one-example batches, norms, clipping,
/// an empty batch.
#[test]
fn leaky_relu_elu_gelu_and_softplus() {
    Checks { rows: 9, seed: 4, scale: 1.5, stride: 1, step: 1e-6 }.run::<common::MoreActivations<f64>>();
}

/// The losses of value targets through the whole battery: mean squared error against
/// real targets, the multi-label logistic loss against 0/1 labels.
#[test]
fn regression_and_multilabel_losses() {
    Checks { rows: 7, seed: 30, scale: 1.0, stride: 1, step: 1e-6 }.run::<common::Regression<f64>>();
    Checks { rows: 7, seed: 31, scale: 1.0, stride: 1, step: 1e-6 }.run::<common::Multilabel<f64>>();
}

/// GroupNorm and LayerNorm through the whole battery: finite differences, per-example
/// gradients against one-example batches, norms, clipping, an empty batch, noise.
#[test]
fn group_and_layer_normalization() {
    Checks { rows: 7, seed: 20, scale: 1.0, stride: 1, step: 1e-6 }.run::<common::Grouped<f64>>();
    Checks { rows: 7, seed: 21, scale: 1.0, stride: 1, step: 1e-6 }.run::<common::LayerNormed<f64>>();
}

/// Position embeddings and linear layers over sequences through the whole battery,
/// the linear layers' norms forced both ways (the Gram identity over positions, and
/// materialized).
#[test]
fn linear_layers_at_every_position() {
    Checks { rows: 7, seed: 24, scale: 1.0, stride: 1, step: 1e-6 }.run::<common::PerPosition<f64>>();
}

/// Multi-head attention in a Transformer block, and with one value as its queries,
/// keys and values, through the whole battery.
#[test]
fn attention() {
    Checks { rows: 6, seed: 25, scale: 1.0, stride: 1, step: 1e-6 }.run::<common::TinyTransformer<f64>>();
    Checks { rows: 6, seed: 26, scale: 1.0, stride: 1, step: 1e-6 }.run::<common::SharedAttention<f64>>();
    Checks { rows: 6, seed: 28, scale: 1.0, stride: 1, step: 1e-6 }.run::<common::MaskedAttention<f64>>();
}

/// The TextTransformer through the whole battery on two examples: of its 756,866
/// parameters, the first of every tensor and every 49,999th against finite
/// differences.
#[test]
fn the_text_transformer() {
    Checks { rows: 2, seed: 27, scale: 1.0, stride: 49_999, step: 1e-6 }.run::<dpsgd::models::TextTransformer<f64>>();
}

/// Weight-standardized convolutions through the whole battery: their norms and clipped
/// sums are of the gradients of the weights themselves.
#[test]
fn weight_standardization() {
    Checks { rows: 6, seed: 23, scale: 1.0, stride: 1, step: 1e-6 }.run::<common::Standardized<f64>>();
}

#[test]
fn convolutions_and_pooling() {
    check::<common::SmallCnn<f64>>(8, 1.0, 5);
    check::<common::SmallCnn<f64>>(9, 3.0, 3);
    check::<common::ReluPools<f64>>(19, 1.0, 5);
}

#[test]
fn embeddings_and_sequence_means() {
    check::<common::TinyText<f64>>(10, 1.0, 5);
    check::<common::OneToken<f64>>(11, 1.0, 5);
    check::<common::TinyBag<f64>>(17, 1.0, 5);
    check::<common::RowsUsedTwice<f64>>(18, 1.0, 5);
}

#[test]
fn lstms() {
    check::<common::TinyLstm<f64>>(12, 1.0, 5);
    check::<common::TinyLstm<f64>>(13, 3.0, 5);
    check::<common::OneStepLstm<f64>>(14, 1.0, 5);
}

#[test]
fn paper_models() {
    check::<dpsgd::models::LogisticRegression<f64>>(4, 1.0, 6);
    check::<dpsgd::models::Ffnn<f64>>(5, 1.0, 6);
    // 26010 parameters: every 97th, which reaches every layer.
    check_every::<dpsgd::models::MnistCnn<f64>>(6, 1.0, 3, 97);
}

#[test]
fn the_cifar10_net() {
    // 605226 parameters: every 6007th reaches every convolution.
    check_every::<dpsgd::models::Cifar10Net<f64>>(16, 1.0, 2, 6007);
}

/// WRN-16-4 through the whole battery on two examples: of its 2,751,146 parameters,
/// the first of every tensor and every 249,989th against finite differences (each
/// difference is two forward passes in f64), of a step small
/// enough that no relu's input crosses zero (at 1e-6 some do: the difference then
/// moves with the step, 5e-3 relative at 1e-4, while the gradient agrees to 1e-9 at
/// 1e-7).
#[test]
fn the_wide_residual_network() {
    Checks { rows: 2, seed: 22, scale: 1.0, stride: 249_989, step: 1e-7 }.run::<dpsgd::models::Wrn16_4<f64>>();
}

#[test]
fn the_lstm_net() {
    // 1081402 parameters: every 4999th, which reaches every tensor (the embedding rows
    // of tokens in the batch among them).
    check_every::<dpsgd::models::LstmNet<f64>>(15, 1.0, 2, 4999);
}

#[test]
fn losses_at_large_logits_keep_exact_gradients() {
    // Parameters ten times larger push the logits far out, where a naive loss overflows.
    check::<common::EveryOp<f64>>(6, 10.0, 5);
    check::<common::Binary<f64>>(7, 10.0, 5);
}
