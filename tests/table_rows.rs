//! Embedding tables updated row by row: the CPU engine zeroes, scales and applies (by
//! SGD without momentum) only the rows of a table its last batches looked up. Each
//! step must equal the update of the whole gradient, computed here by hand from the
//! gradient of a fresh engine, whatever rows the steps before looked up.

use dpsgd::models::EmbeddingNet;
use dpsgd::prelude::*;
use dpsgd::runtime::engine::{CpuEngine, Engine};
use dpsgd::runtime::train::nonprivate_step;
use ndarray::Array2;

type M = EmbeddingNet<f64>;

const LR: f64 = 0.5;
const VOCAB: usize = 10_004;
const DIM: usize = 16;

/// A batch of `examples` reviews whose tokens are `tokens` in turn.
fn batch(tokens: &[usize], examples: usize) -> (Array2<f64>, Vec<u32>) {
    let x = Array2::from_shape_fn((examples, 256), |(i, j)| tokens[(i * 256 + j) % tokens.len()] as f64);
    (x, (0..examples).map(|i| (i % 2) as u32).collect())
}

fn read(engine: &mut CpuEngine<f64>) -> (Vec<f64>, Vec<f64>) {
    let (mut params, mut grads) = (vec![0.0; M::NUM_PARAMS], vec![0.0; M::NUM_PARAMS]);
    engine.read_params(&mut params);
    engine.read_grads(&mut grads);
    (params, grads)
}

/// The batches: few rows with repeats, other few rows, half the table or more
/// (distinct rows), more lookups than rows, then few rows again.
fn batches() -> Vec<(Array2<f64>, Vec<u32>)> {
    let few: Vec<usize> = (1..40).collect();
    let others: Vec<usize> = (30..90).chain(30..50).collect();
    let half: Vec<usize> = (0..5_120).map(|t| (t * 13) % VOCAB).collect();
    let all: Vec<usize> = (0..VOCAB).collect();
    vec![batch(&few, 20), batch(&others, 20), batch(&half, 20), batch(&all, 40), batch(&few, 3), batch(&others, 20)]
}

#[test]
fn sgd_steps_equal_the_whole_gradients_update_whatever_rows_came_before() {
    let sgd = Optimizer::sgd(LR, 0.0).unwrap();
    let mut engine = CpuEngine::new(M::SPEC, M::init(0).params(), 40);
    for (step, (x, y)) in batches().into_iter().enumerate() {
        let (before, _) = read(&mut engine);
        // The gradient of this batch alone: a fresh engine's buffer holds nothing else.
        let mut fresh = CpuEngine::new(M::SPEC, &before, 40);
        fresh.load_batch(x.view(), y[..].into());
        nonprivate_step::<f64, M, _>(&mut fresh, &sgd, 0);
        let (_, whole) = read(&mut fresh);

        engine.load_batch(x.view(), y[..].into());
        nonprivate_step::<f64, M, _>(&mut engine, &sgd, step as u64);
        let (after, grads) = read(&mut engine);
        assert_eq!(grads, whole, "step {step}: a gradient row the batch did not look up is not zero");
        let expected: Vec<f64> = before.iter().zip(&whole).map(|(p, g)| p - LR * g).collect();
        assert_eq!(after, expected, "step {step}: the update is not that of the whole gradient");
        // The batch moved the rows it looked up and nothing else in the table.
        let moved_rows = (0..VOCAB).filter(|r| (0..DIM).any(|d| after[r * DIM + d] != before[r * DIM + d])).count();
        let looked_up = {
            let mut seen = vec![false; VOCAB];
            x.iter().for_each(|&t| seen[t as usize] = true);
            seen.iter().filter(|s| **s).count()
        };
        assert_eq!(moved_rows, looked_up, "step {step}");
        assert!(after[VOCAB * DIM..] != before[VOCAB * DIM..], "step {step}: the dense layers did not move");
    }
}

#[test]
fn momentum_moves_rows_a_step_did_not_look_up() {
    let sgd = Optimizer::sgd(LR, 0.9).unwrap();
    let mut engine = CpuEngine::new(M::SPEC, M::init(0).params(), 20);
    let batches = batches();
    let (x, y) = &batches[0];
    engine.load_batch(x.view(), y[..].into());
    nonprivate_step::<f64, M, _>(&mut engine, &sgd, 0);
    let (first, _) = read(&mut engine);
    // The second batch looks up rows 30 to 89 only: rows 1 to 29 move by their velocity.
    let (x, y) = &batches[1];
    engine.load_batch(x.view(), y[..].into());
    nonprivate_step::<f64, M, _>(&mut engine, &sgd, 1);
    let (second, grads) = read(&mut engine);
    for row in 1..30 {
        let at = row * DIM..(row + 1) * DIM;
        assert!(grads[at.clone()].iter().all(|g| *g == 0.0), "row {row} has a gradient");
        assert!(first[at.clone()] != second[at.clone()], "row {row} did not move by its velocity");
    }
}
