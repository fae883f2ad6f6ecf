//! `Products::Bf16`: the convolutions' large products with their operands rounded to
//! bfloat16 on AMX tiles. A whole network's per-example gradients stay within a
//! stated tolerance of exact f64 ones. (That the norms and clipped sums privacy rests
//! on stay exact is the convolution kernels' own test.) On a CPU without AMX the
//! products are exact, and the test checks that instead.

mod common;

use dpsgd::prelude::*;
use dpsgd::runtime::engine::{CpuEngine, Engine};
use dpsgd::runtime::gemm::Products;
use dpsgd::runtime::ndarray::Array2;

type Net<F> = dpsgd::models::Cifar10Net<F>;

/// Relative error (in norm) of the per-example gradients with bfloat16 operands,
/// against f64. Each product's terms carry up to 2^-9 of relative rounding; through
/// the network's six convolutions the worst of four examples measured 6e-4 off.
const BF16_TOLERANCE: f64 = 5e-3;

fn rounds() -> bool {
    Products::Bf16.effective() == Products::Bf16
}

/// A CPU engine that has run the forward and backward passes of `model` on `(x, y)`.
fn engine_after_backward(
    model: &Net<f32>,
    x: &Array2<f32>,
    y: &[u32],
    products: Products,
    strategy: NormStrategy,
) -> CpuEngine<f32> {
    let mut engine = CpuEngine::new(Net::<f32>::SPEC, model.params(), y.len());
    engine.set_products(products);
    engine.force_norm_strategy(Some(strategy));
    engine.load_batch(x.view(), y.into());
    engine
}

fn per_example_grads(model: &Net<f32>, x: &Array2<f32>, y: &[u32], products: Products) -> Array2<f32> {
    let mut engine = engine_after_backward(model, x, y, products, NormStrategy::Materialized);
    Net::<f32>::run_forward(&mut engine);
    Net::<f32>::run_backward(&mut engine);
    engine.begin_per_example_grads();
    Net::<f32>::run_per_example_grads(&mut engine);
    let mut out = Array2::zeros((y.len(), Net::<f32>::NUM_PARAMS));
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

#[test]
fn per_example_gradients_stay_within_the_bf16_tolerance_of_exact_ones() {
    let exact_model: Net<f64> = common::model(31, 1.0);
    let model = Net::<f32>::from_params(exact_model.params().iter().map(|&p| p as f32).collect()).unwrap();
    let (x, y) = common::batch::<f64, Net<f64>>(4, 5);
    let exact = exact_model.per_example_grads(x.view(), &y).unwrap();
    let x = x.mapv(|v| v as f32);

    let rounded = worst_relative_error(&per_example_grads(&model, &x, &y, Products::Bf16), &exact);
    let unrounded = worst_relative_error(&per_example_grads(&model, &x, &y, Products::F32), &exact);
    eprintln!("per-example gradients off by {rounded:e} (bf16 products), {unrounded:e} (f32)");
    assert!(unrounded <= 1e-4, "f32 products: {unrounded:e} off");
    if rounds() {
        assert!(rounded <= BF16_TOLERANCE, "bf16 products: {rounded:e} off");
        // Far more than f32's error: the products did round (the tiles ran).
        assert!(rounded >= 2e-5, "bf16 products only {rounded:e} off: did they round?");
    } else {
        assert!(rounded <= 1e-4, "without AMX, bf16 products are exact: {rounded:e} off");
    }
}
