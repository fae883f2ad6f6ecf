//! Gradients of every layer, activation and loss against central finite differences,
//! in f64.

mod common;

use dpsgd::prelude::*;

/// Compares the mean-loss gradient with `(L(p + h) - L(p - h)) / 2h` for every parameter.
fn check<M: PrivateModel<f64>>(model: &M, rows: usize) {
    check_every(model, rows, 1);
}

/// [`check`] on every `stride`-th parameter.
#[allow(clippy::needless_range_loop)]
fn check_every<M: PrivateModel<f64>>(model: &M, rows: usize, stride: usize) {
    let (x, y) = common::batch::<f64, M>(rows, 11);
    let (_, grad) = model.loss_and_grad(x.view(), &y).unwrap();
    let h = 1e-6;
    let mut worst = 0.0f64;
    for i in (0..M::num_params()).step_by(stride) {
        let mut shifted = model.clone();
        shifted.params_mut()[i] += h;
        let plus = shifted.loss_and_grad(x.view(), &y).unwrap().0;
        shifted.params_mut()[i] -= 2.0 * h;
        let minus = shifted.loss_and_grad(x.view(), &y).unwrap().0;
        let numeric = (plus - minus) / (2.0 * h);
        let error = (numeric - grad[i]).abs() / (1.0 + numeric.abs());
        worst = worst.max(error);
        assert!(error < 1e-7, "{}: parameter {i}: analytic {} vs numeric {numeric}", M::SPEC.name, grad[i]);
    }
    // The entries compared must hold some real gradient, or they check nothing: at
    // 1e-5 and above, the tolerance of 1e-7 catches an error of 1%.
    let sizable = (0..M::num_params()).step_by(stride).filter(|&i| grad[i].abs() > 1e-5).count();
    assert!(sizable >= 5, "{}: only {sizable} of the compared entries are above 1e-5", M::SPEC.name);
    eprintln!("{}: {} parameters, worst relative error {worst:.1e}", M::SPEC.name, M::num_params());
}

#[test]
fn every_operation_and_softmax_cross_entropy() {
    check(&common::model::<f64, common::EveryOp<f64>>(1, 1.0), 9);
}

#[test]
fn dense_and_binary_logistic() {
    check(&common::model::<f64, common::Binary<f64>>(2, 1.0), 9);
}

#[test]
fn stacked_tanh_and_sigmoid() {
    check(&common::model::<f64, common::Deep<f64>>(3, 1.0), 9);
}

#[test]
fn convolutions_and_pooling() {
    check(&common::model::<f64, common::SmallCnn<f64>>(8, 1.0), 5);
    check(&common::model::<f64, common::SmallCnn<f64>>(9, 3.0), 3);
    check(&common::model::<f64, common::ReluPools<f64>>(19, 1.0), 5);
}

#[test]
fn embeddings_and_sequence_means() {
    check(&common::model::<f64, common::TinyText<f64>>(10, 1.0), 5);
    check(&common::model::<f64, common::OneToken<f64>>(11, 1.0), 5);
    check(&common::model::<f64, common::TinyBag<f64>>(17, 1.0), 5);
    check(&common::model::<f64, common::RowsUsedTwice<f64>>(18, 1.0), 5);
}

#[test]
fn lstms() {
    check(&common::model::<f64, common::TinyLstm<f64>>(12, 1.0), 5);
    check(&common::model::<f64, common::TinyLstm<f64>>(13, 3.0), 5);
    check(&common::model::<f64, common::OneStepLstm<f64>>(14, 1.0), 5);
}

#[test]
fn paper_models() {
    check(&common::model::<f64, dpsgd::models::LogisticRegression<f64>>(4, 1.0), 6);
    check(&common::model::<f64, dpsgd::models::Ffnn<f64>>(5, 1.0), 6);
    // 26010 parameters: every 97th, which reaches every layer.
    check_every(&common::model::<f64, dpsgd::models::MnistCnn<f64>>(6, 1.0), 3, 97);
}

#[test]
fn the_cifar10_net() {
    // 605226 parameters: every 6007th reaches every convolution.
    check_every(&common::model::<f64, dpsgd::models::Cifar10Net<f64>>(16, 1.0), 2, 6007);
}

#[test]
fn the_lstm_net() {
    // 1081402 parameters: every 4999th, which reaches every tensor (the embedding rows
    // of tokens in the batch among them).
    check_every(&common::model::<f64, dpsgd::models::LstmNet<f64>>(15, 1.0), 2, 4999);
}

#[test]
fn losses_at_large_logits_keep_exact_gradients() {
    // Parameters ten times larger push the logits far out, where a naive loss overflows.
    check(&common::model::<f64, common::EveryOp<f64>>(6, 10.0), 5);
    check(&common::model::<f64, common::Binary<f64>>(7, 10.0), 5);
}
