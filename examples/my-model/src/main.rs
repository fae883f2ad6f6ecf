//! Trains `Price` privately on synthetic data from a linear teacher (the example has no
//! data of its own) at a budget of epsilon 2, and prints the test loss before and after.

use dpsgd::prelude::*;
use dpsgd::runtime::data::synthetic::teacher;
use my_model::Price;

fn main() -> Result<(), Error> {
    dpsgd::runtime::train_on_this_thread()?;
    let spec = Price::<f32>::SPEC;
    let (train_set, test_set) = (teacher(&spec, 20_000, 1, 0)?, teacher(&spec, 2_000, 1, 1)?);
    let mut model = Price::<f32>::init(0);
    let before = evaluate(&model, &test_set)?.mean_loss;
    let config = PrivateTraining::new(5, 256, Optimizer::sgd(0.5, 0.9)?)
        .target_epsilon(2.0)
        .delta(1e-5)
        .max_grad_norm(1.0)
        .config(train_set.len())?;
    let report = train(&mut model, &train_set, Some(&test_set), &config, |_| {})?;
    let (epsilon, _) = report.accountant.expect("a private run").epsilon(1e-5)?;
    let after = evaluate(&model, &test_set)?.mean_loss;
    println!("test mean squared error {before:.3} before, {after:.3} after, at epsilon {epsilon:.2} (delta 1e-5)");
    Ok(())
}
