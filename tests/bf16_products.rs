//! `Products::Bf16`: the large products of convolutions and LSTMs with their operands
//! rounded to bfloat16 on AMX tiles. Whole networks' per-example gradients stay within
//! a stated tolerance of exact f64 ones. (That the norms and clipped sums privacy
//! rests on stay exact is each layer's kernel test.) On a CPU without AMX the products
//! are exact, and the tests check that instead.

mod common;

use dpsgd::prelude::*;
use dpsgd::runtime::engine::{CpuEngine, Engine};
use dpsgd::runtime::gemm::Products;
use dpsgd::runtime::ndarray::Array2;

/// Relative error (in norm) of the per-example gradients with bfloat16 operands,
/// against f64. Each product's terms carry up to 2^-9 of relative rounding; the worst
/// of four examples measured 6e-4 off through the CIFAR-10 net's six convolutions,
/// 3e-4 through the LSTM net.
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
        // Far more than f32's error: the products did round (the tiles ran).
        assert!(rounded >= 2e-5, "{name}: bf16 products only {rounded:e} off: did they round?");
    } else {
        assert!(rounded <= 1e-4, "{name}: without AMX, bf16 products are exact: {rounded:e} off");
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
