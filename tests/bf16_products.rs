//! `Products::Bf16`: the large products of dense layers, convolutions and LSTMs with
//! their operands rounded to bfloat16 (on AMX tiles, or by AVX-512 BF16). Whole
//! networks' per-example gradients stay within a stated tolerance of exact f64 ones, and
//! the dense layers' clipped sums stay exact (the convolutions' and LSTMs' kernel tests
//! check theirs). On a CPU with neither the products are exact, and the tests check
//! that instead.

mod common;

use dpsgd::prelude::*;
use dpsgd::runtime::engine::{CpuEngine, Engine};
use dpsgd::runtime::gemm::Products;
use dpsgd::runtime::ndarray::Array2;

/// Relative error (in norm) of the per-example gradients with bfloat16 operands,
/// against f64. Each product's terms carry up to 2^-9 of relative rounding; the worst
/// of four examples measured 6e-4 off through the CIFAR-10 net's six convolutions,
/// 3e-4 through the LSTM net, 1.2e-3 through the transformer's twelve dense layers.
const BF16_TOLERANCE: f64 = 5e-3;

fn rounds() -> bool {
    Products::Bf16.effective() == Products::Bf16
}

/// Each example's gradient, computed by a CPU engine with `products`.
fn per_example_grads<M: PrivateModel<f32>>(model: &M, x: &Array2<f32>, y: &[u32], products: Products) -> Array2<f32> {
    let mut engine = CpuEngine::new(M::SPEC, model.params(), y.len());
    engine.set_products(products);
    engine.load_batch(x.view(), y.into());
    M::run_forward(&mut engine);
    M::run_backward(&mut engine);
    engine.begin_per_example_grads();
    M::run_per_example_grads(&mut engine);
    let mut out = Array2::zeros((y.len(), M::SPEC.num_params));
    engine.read_per_example_grads(out.as_slice_mut().unwrap());
    out
}

fn worst_relative_error(got: &Array2<f32>, exact: &Array2<f64>) -> f64 {
    got.rows()
        .into_iter()
        .zip(exact.rows())
        .map(|(g, e)| {
            let diff = common::norm(g.iter().zip(e).map(|(g, e)| *g as f64 - e));
            diff / common::norm(e.iter().copied())
        })
        .fold(0.0, f64::max)
}

fn within_the_bf16_tolerance<M32: PrivateModel<f32>, M64: PrivateModel<f64>>() {
    let exact_model: M64 = common::model(31, 1.0);
    let model = M32::from_params(exact_model.params().iter().map(|&p| p as f32).collect()).unwrap();
    let (x, y) = common::batch::<f64, M64>(4, 5);
    let exact = exact_model.per_example_grads(x.view(), &y).unwrap();
    let x = x.mapv(|v| v as f32);

    let rounded = worst_relative_error(&per_example_grads(&model, &x, &y, Products::Bf16), &exact);
    let unrounded = worst_relative_error(&per_example_grads(&model, &x, &y, Products::F32), &exact);
    let name = M32::SPEC.name;
    eprintln!("{name}: per-example gradients off by {rounded:e} (bf16 products), {unrounded:e} (f32)");
    assert!(unrounded <= 1e-4, "{name}, f32 products: {unrounded:e} off");
    if rounds() {
        assert!(rounded <= BF16_TOLERANCE, "{name}, bf16 products: {rounded:e} off");
        // Far more than f32's error: the products did round.
        assert!(rounded >= 2e-5, "{name}: bf16 products only {rounded:e} off: did they round?");
    } else {
        assert!(rounded <= 1e-4, "{name}: without bf16 hardware, bf16 products are exact: {rounded:e} off");
    }
}

#[test]
fn the_cifar10_nets_per_example_gradients_stay_within_the_bf16_tolerance() {
    within_the_bf16_tolerance::<dpsgd::models::Cifar10Net<f32>, dpsgd::models::Cifar10Net<f64>>();
}

#[test]
fn the_lstms_per_example_gradients_stay_within_the_bf16_tolerance() {
    within_the_bf16_tolerance::<dpsgd::models::LstmNet<f32>, dpsgd::models::LstmNet<f64>>();
}

#[test]
fn the_transformers_per_example_gradients_stay_within_the_bf16_tolerance() {
    within_the_bf16_tolerance::<dpsgd::models::TextTransformer<f32>, dpsgd::models::TextTransformer<f64>>();
}

/// The transformer's dense layers clip by ghost norms, taken apart from the clipped
/// sum: with bf16 products, an example alone in its batch must still contribute
/// exactly `min(1, C / ||g||) g`, its exact per-example gradient (on the activations
/// the rounded forward pass gave) scaled by the factor its norm gave: within 1e-5 of
/// C here, where the ghost norm and the materialized one part in f32. A clipped sum
/// on rounded operands missed it by 3e-4 of C.
#[test]
fn the_transformers_clipped_contribution_is_its_exact_gradient_scaled() {
    type M = dpsgd::models::TextTransformer<f32>;
    let model: M = common::model(33, 1.0);
    let (x, y) = common::batch::<f32, M>(2, 9);
    for i in 0..y.len() {
        let mut engine = CpuEngine::new(M::SPEC, model.params(), 1);
        engine.set_products(Products::Bf16);
        engine.load_batch(x.slice(ndarray::s![i..i + 1, ..]), (&y[i..i + 1]).into());
        M::run_forward(&mut engine);
        M::run_backward(&mut engine);
        engine.begin_per_example_grads();
        M::run_per_example_grads(&mut engine);
        let mut g = vec![0.0f32; M::NUM_PARAMS];
        engine.read_per_example_grads(&mut g);
        let norm = common::norm(g.iter().map(|v| *v as f64));
        let c = norm / 2.0;
        M::run_sq_norms(&mut engine);
        engine.clip_factors(M::SPEC.sq_norms, M::SPEC.clip_factors, c as f32);
        M::run_param_grads(&mut engine, Some(M::SPEC.clip_factors));
        let mut sum = vec![0.0f32; M::NUM_PARAMS];
        engine.read_grads(&mut sum);
        let off = common::norm(sum.iter().zip(&g).map(|(s, g)| *s as f64 - 0.5 * *g as f64));
        assert!(off <= 5e-5 * c, "example {i}: the clipped sum is {:e} of C off its scaled gradient", off / c);
    }
}
