//! The project's whole correctness battery on our model, in f64: finite differences,
//! per-example gradients against one-example batches, every norm way against the
//! others, clipping, the empty batch and the noise's scale.

#[test]
fn price_is_right() {
    dpsgd::testing::check_model::<my_model::Price<f64>>();
}

/// It learns: private training at epsilon 2 halves the test loss of its start.
#[test]
fn price_learns_privately() {
    use dpsgd::prelude::*;
    use dpsgd::runtime::data::synthetic::teacher;
    let spec = my_model::Price::<f64>::SPEC;
    let (train_set, test_set) = (teacher(&spec, 5_000, 2, 0).unwrap(), teacher(&spec, 1_000, 2, 1).unwrap());
    let mut model = my_model::Price::<f64>::init(0);
    let before = evaluate(&model, &test_set).unwrap().mean_loss;
    let config = PrivateTraining::new(5, 100, Optimizer::sgd(0.5, 0.9).unwrap())
        .target_epsilon(2.0)
        .delta(1e-5)
        .max_grad_norm(1.0)
        .config(train_set.len())
        .unwrap();
    train(&mut model, &train_set, None, &config, |_| {}).unwrap();
    let after = evaluate(&model, &test_set).unwrap().mean_loss;
    assert!(after < 0.5 * before, "test loss {before} before, {after} after");
}
