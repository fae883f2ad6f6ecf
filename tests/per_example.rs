//! Per-example gradients, ghost norms and the clipped sum against their definitions.

mod common;

use dpsgd::prelude::*;
use dpsgd::testing::Checks;

/// Each row of `per_example_grads` equals the gradient of a batch of that one example
/// (`dpsgd::testing`).
fn matches_one_example_at_a_time<M: PrivateModel<f64>>() {
    Checks { rows: 7, seed: 21, scale: 1.0, stride: 1, step: 1e-6 }.per_example_gradients::<M>();
}

/// Ghost norms equal the norms of the materialized per-example gradients.
fn ghost_norms_match<F: Float, M: PrivateModel<F>>(tolerance: f64) {
    let model: M = common::model(22, 3.0);
    let (x, y) = common::batch::<F, M>(13, 6);
    let ghost = model.per_example_grad_norms(x.view(), &y).unwrap();
    let per_example = model.per_example_grads(x.view(), &y).unwrap();
    for (i, row) in per_example.rows().into_iter().enumerate() {
        let materialized = common::norm(row.iter().map(|v| v.to_f64()));
        let g = ghost[i].to_f64();
        assert!(
            (g - materialized).abs() <= tolerance * materialized,
            "{}: example {i}: ghost {g} vs {materialized}",
            M::SPEC.name
        );
    }
}

/// The clipped sum equals the sum of the materialized gradients, each clipped to C,
/// and every clipped gradient has norm at most C.
fn clipped_sum_matches<F: Float, M: PrivateModel<F>>(tolerance: f64) {
    let model: M = common::model(23, 3.0);
    let (x, y) = common::batch::<F, M>(16, 7);
    let per_example = model.per_example_grads(x.view(), &y).unwrap();
    let norms: Vec<f64> = per_example.rows().into_iter().map(|r| common::norm(r.iter().map(|v| v.to_f64()))).collect();
    let mut sorted = norms.clone();
    sorted.sort_by(f64::total_cmp);
    let c = sorted[sorted.len() / 2]; // half the examples get clipped
    assert!(sorted[0] < c && c < sorted[sorted.len() - 1]);

    let clipped = model.clipped_grad_sum(x.view(), &y, F::from_f64(c)).unwrap();
    let mut want = vec![0.0f64; M::num_params()];
    for (row, &n) in per_example.rows().into_iter().zip(&norms) {
        let factor = (c / n).min(1.0);
        for (w, g) in want.iter_mut().zip(row) {
            *w += factor * g.to_f64();
        }
    }
    let scale = common::norm(want.iter().copied());
    for (p, (got, want)) in clipped.iter().zip(&want).enumerate() {
        assert!((got.to_f64() - want).abs() <= tolerance * scale, "{}: parameter {p}: {got} vs {want}", M::SPEC.name);
    }

    // Clipped one at a time through the same machinery: a batch of one example.
    let mut clipped_count = 0;
    for i in 0..y.len() {
        let xi = x.slice(ndarray::s![i..i + 1, ..]);
        let alone = model.clipped_grad_sum(xi, &y[i..i + 1], F::from_f64(c)).unwrap();
        let n = common::norm(alone.iter().map(|v| v.to_f64()));
        assert!(n <= c, "{}: example {i}: clipped norm {n} exceeds C = {c}", M::SPEC.name);
        if norms[i] > c {
            clipped_count += 1;
            // Clipping aims `F::CLIP_MARGIN` below C; rounding adds far less.
            let floor = c * (1.0 - 4.0 * F::CLIP_MARGIN);
            assert!(n > floor, "{}: example {i} clipped to {n}, below C (1 - 4 margin) = {floor}", M::SPEC.name);
        }
    }
    assert!(clipped_count > 0);
}

/// Whether a model has a layer with both norm strategies (a convolution or an LSTM):
/// only there does forcing one change the computation.
fn has_both_strategies<F: Float, M: PrivateModel<F>>() -> bool {
    M::SPEC.layers.iter().any(|l| l.kind.starts_with("Conv2d") || l.kind.starts_with("Lstm"))
}

/// Forcing either norm strategy on every layer that has both (convolutions, LSTMs)
/// gives the same norms and the same clipped sums.
fn strategies_agree<F: Float, M: PrivateModel<F>>(tolerance: f64) {
    assert!(has_both_strategies::<F, M>(), "{} has no layer with two norm strategies", M::SPEC.name);
    let model: M = common::model(25, 3.0);
    let (x, y) = common::batch::<F, M>(11, 8);
    let by = |s| model.per_example_grad_norms_with(x.view(), &y, Some(s)).unwrap();
    let (ghost, materialized) = (by(NormStrategy::Ghost), by(NormStrategy::Materialized));
    for (i, (g, m)) in ghost.iter().zip(&materialized).enumerate() {
        let (g, m) = (g.to_f64(), m.to_f64());
        assert!((g - m).abs() <= tolerance * m, "{}: example {i}: ghost {g} vs materialized {m}", M::SPEC.name);
    }
    let mut sorted: Vec<f64> = materialized.iter().map(|v| v.to_f64()).collect();
    sorted.sort_by(f64::total_cmp);
    let c = F::from_f64(sorted[sorted.len() / 2]);
    let sum = |s| model.clipped_grad_sum_with(x.view(), &y, c, Some(s)).unwrap();
    let (ghost, materialized) = (sum(NormStrategy::Ghost), sum(NormStrategy::Materialized));
    let scale = common::norm(materialized.iter().map(|v| v.to_f64()));
    for (p, (g, m)) in ghost.iter().zip(&materialized).enumerate() {
        let (g, m) = (g.to_f64(), m.to_f64());
        assert!((g - m).abs() <= tolerance * scale, "{}: parameter {p}: ghost {g} vs materialized {m}", M::SPEC.name);
    }
}

#[test]
fn forced_strategies_agree_on_every_model_with_a_choice() {
    let mut compared = 0;
    for_each_model!(f64, M => {
        if has_both_strategies::<f64, M>() {
            strategies_agree::<f64, M>(1e-12);
            compared += 1;
        }
    });
    for_each_model!(f32, M => {
        if has_both_strategies::<f32, M>() {
            strategies_agree::<f32, M>(1e-5);
        }
    });
    assert!(compared >= 4, "only {compared} test models have convolutions or LSTMs");
    strategies_agree::<f64, dpsgd::models::MnistCnn<f64>>(1e-12);
}

/// In f64, `dpsgd::testing`'s battery on every test model and the small paper models
/// (finite differences have their own tests, `gradient_checks.rs`): per-example
/// gradients against one-example batches, norms against the materialized gradients,
/// clipping, an empty batch, the noise's scale.
#[test]
fn the_testing_battery_passes_on_every_model() {
    for_each_model!(f64, M => {
        let checks = Checks { rows: 7, seed: 21, scale: 3.0, stride: 1, step: 1e-6 };
        checks.per_example_gradients::<M>();
        checks.norms::<M>();
        checks.clipping::<M>();
        checks.empty_batch::<M>();
        checks.noise::<M>();
    });
}

/// The same in f32, within f32's rounding.
#[test]
fn ghost_norms_and_clipped_sums_hold_in_f32() {
    for_each_model!(f32, M => { ghost_norms_match::<f32, M>(1e-5); });
    // Clipping aims a relative 1e-5 below C in f32 (`Float::CLIP_MARGIN`), so sums
    // dominated by clipped examples differ from the exact ones by a few times that.
    for_each_model!(f32, M => { clipped_sum_matches::<f32, M>(5e-5); });
}

/// The battery fails for the bugs it names: planted in the private step.
#[cfg(feature = "planted-bugs")]
#[test]
fn the_testing_battery_catches_planted_bugs() {
    use dpsgd::runtime::planted::{Bug, plant};
    let fails = |bug: Bug, check: fn(&Checks), words: &str| {
        let _planted = plant(bug);
        let panic = std::panic::catch_unwind(|| check(&Checks::default())).expect_err("the bug went unseen");
        let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains(words), "{bug:?}: {message}");
    };
    fails(Bug::NoClipping, |c| c.clipping::<dpsgd::models::Ffnn<f64>>(), "clipping one by one gives");
    fails(Bug::HalfNoise, |c| c.noise::<dpsgd::models::Ffnn<f64>>(), "times lr sigma C / B, not 1");
    fails(Bug::NoNoise, |c| c.noise::<dpsgd::models::Ffnn<f64>>(), "times lr sigma C / B, not 1");
}

#[test]
fn gradients_of_an_empty_batch_are_zero() {
    let model: dpsgd::models::Ffnn<f64> = common::model(24, 1.0);
    let x = ndarray::Array2::<f64>::zeros((0, 104));
    assert!(model.per_example_grad_norms(x.view(), &[]).unwrap().is_empty());
    assert_eq!(model.per_example_grads(x.view(), &[]).unwrap().dim(), (0, 5352));
    assert!(model.clipped_grad_sum(x.view(), &[], 1.0).unwrap().iter().all(|g| *g == 0.0));
    assert!(model.loss_and_grad(x.view(), &[]).is_err(), "the mean of nothing is an error");
}

/// The paper's MNIST CNN: its first convolution materializes per-example gradients
/// and its second uses the ghost norm (the plan's choice from their shapes); both must
/// agree with the materialized gradients, and clipping with one-at-a-time clipping.
#[test]
fn the_mnist_cnn_per_example_quantities() {
    type M = dpsgd::models::MnistCnn<f64>;
    matches_one_example_at_a_time::<M>();
    ghost_norms_match::<f64, M>(1e-12);
    clipped_sum_matches::<f64, M>(1e-12);
}

/// The embedding net: sparse per-example gradients of its 10004 x 16 table, norms by
/// grouping equal tokens, and clipped sums scattered into the touched rows.
#[test]
fn the_embedding_net_per_example_quantities() {
    type M = dpsgd::models::EmbeddingNet<f64>;
    matches_one_example_at_a_time::<M>();
    ghost_norms_match::<f64, M>(1e-12);
    // 256 positions summed in another order: rounding of a few 1e-12.
    clipped_sum_matches::<f64, M>(1e-10);
}

/// `mean(self.embed(x))` becomes one lookup of the rows' mean (output `[dim]`) when
/// the rows have no other use, and stays a lookup of every row otherwise.
#[test]
fn lookups_fuse_with_a_following_mean_only_where_the_rows_have_no_other_use() {
    let output = |layers: &[dpsgd::runtime::spec::LayerPlan]| layers[0].output_shape.to_vec();
    assert_eq!(output(common::TinyBag::<f64>::SPEC.layers), [3]);
    assert_eq!(output(common::OneToken::<f64>::SPEC.layers), [2]);
    assert_eq!(output(dpsgd::models::EmbeddingNet::<f64>::SPEC.layers), [16]);
    assert_eq!(output(common::TinyText::<f64>::SPEC.layers), [6, 3]);
    assert_eq!(output(common::RowsUsedTwice::<f64>::SPEC.layers), [6, 3]);
    assert_eq!(output(dpsgd::models::LstmNet::<f64>::SPEC.layers), [256, 100]);
}

/// The LSTM net: back-propagation through 256 steps, the recurrent weights' norms from
/// materialized per-example gradients (the plan's choice) or Gram matrices (forced),
/// and the embedding's sparse rows.
#[test]
fn the_lstm_net_per_example_quantities() {
    type M = dpsgd::models::LstmNet<f64>;
    matches_one_example_at_a_time::<M>();
    ghost_norms_match::<f64, M>(1e-12);
    clipped_sum_matches::<f64, M>(1e-10);
    strategies_agree::<f64, M>(1e-10);
}

/// The CIFAR-10 net: eight convolutions (the plan materializes some, takes ghost norms
/// of others), average pooling and a spatial mean.
#[test]
fn the_cifar10_net_per_example_quantities() {
    type M = dpsgd::models::Cifar10Net<f64>;
    matches_one_example_at_a_time::<M>();
    ghost_norms_match::<f64, M>(1e-12);
    clipped_sum_matches::<f64, M>(1e-10);
    strategies_agree::<f64, M>(1e-10);
}

/// A convolution's patches are made once per batch and reused; they must be remade
/// when the parameters change under the same batch (the second convolution's input
/// depends on them): the gradient after an update equals a fresh computation's.
#[test]
fn stored_patches_follow_parameter_updates() {
    use dpsgd::runtime::{CpuEngine, Engine};
    type M = dpsgd::models::MnistCnn<f64>;
    let model: M = common::model(26, 1.0);
    let (x, y) = common::batch::<f64, M>(5, 9);
    let mut engine = CpuEngine::new(M::SPEC, model.params(), 5);
    engine.load_batch(x.view(), (&y).into());
    for _ in 0..2 {
        M::run_forward(&mut engine);
        M::run_backward(&mut engine);
        M::run_param_grads(&mut engine, None);
        engine.sgd_update(0.5, 0.0);
    }
    M::run_forward(&mut engine);
    M::run_backward(&mut engine);
    M::run_param_grads(&mut engine, None);
    let (mut params, mut grads) = (vec![0.0; M::num_params()], vec![0.0; M::num_params()]);
    engine.read_params(&mut params);
    engine.read_grads(&mut grads);
    assert_ne!(params, model.params(), "the updates changed the parameters");
    let (_, mean) = M::from_params(params).unwrap().loss_and_grad(x.view(), &y).unwrap();
    for (p, (got, want)) in grads.iter().zip(&mean).enumerate() {
        assert!((got - 5.0 * want).abs() <= 1e-12 * (1.0 + want.abs()), "parameter {p}: {got} vs {}", 5.0 * want);
    }
}
