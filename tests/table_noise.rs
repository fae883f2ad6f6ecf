//! Deferred table noise: under plain SGD an embedding row's noise is drawn when the
//! row is next read, one draw of the variance it has owed since it was last read. A
//! row read by a lookup or leaving the engine carries exactly the noise a draw at
//! every step would have given it, in distribution, and no more than once.

use dpsgd::models::EmbeddingNet;
use dpsgd::prelude::*;
use dpsgd::runtime::NoiseSource;
use dpsgd::runtime::engine::{CpuEngine, Engine};
use dpsgd::runtime::rng::SecretKey;
use dpsgd::runtime::train::private_step;
use ndarray::Array2;

type M = EmbeddingNet<f64>;

/// Noise that dwarfs the clipped gradients (at most `lr C` in norm per step, spread
/// over the rows read), so that parameters move by the noise alone.
const SIGMA: f64 = 100.0;
const C: f64 = 1.0;
const LR: f64 = 1e-3;
const BATCH: usize = 20;
const TABLE: usize = 10_004 * 16;

/// A batch of reviews whose every token is one of `tokens`.
fn batch(tokens: &[usize], seed: usize) -> (Array2<f64>, Vec<u32>) {
    let x = Array2::from_shape_fn((BATCH, 256), |(i, j)| tokens[(i * 7 + j * 3 + seed) % tokens.len()] as f64);
    (x, (0..BATCH).map(|i| (i % 2) as u32).collect())
}

/// An engine after `steps` private steps of plain SGD under `key` on batches whose
/// tokens are all among `tokens`, and its noise source.
fn trained(key: &SecretKey, tokens: &[usize], steps: u64) -> (CpuEngine<f64>, Box<dyn NoiseSource<f64>>) {
    let mut engine = CpuEngine::new(M::SPEC, M::init(0).params(), BATCH);
    let mut noise = engine.noise_source(key, BATCH as f64, 0, true);
    let (privacy, sgd) = (Privacy::new(SIGMA, C).unwrap(), Optimizer::sgd(LR, 0.0).unwrap());
    for step in 0..steps {
        let (x, y) = batch(tokens, step as usize);
        engine.load_batch(x.view(), y[..].into());
        private_step::<f64, M, _>(&mut engine, &mut *noise, &privacy, BATCH as f64, &sgd, step);
    }
    (engine, noise)
}

fn params(engine: &mut CpuEngine<f64>) -> Vec<f64> {
    let mut out = vec![0.0; M::NUM_PARAMS];
    engine.read_params(&mut out);
    out
}

/// Mean square of `values` over the variance `T (lr sigma C / B)^2` that `T` noisy
/// steps give a coordinate.
fn variance_ratio(values: impl Iterator<Item = f64>, steps: u64) -> f64 {
    let (sum, count) = values.fold((0.0, 0usize), |(s, n), v| (s + v * v, n + 1));
    let per_step = LR * SIGMA * C / BATCH as f64;
    sum / count as f64 / (steps as f64 * per_step * per_step)
}

#[test]
fn rows_never_looked_up_carry_every_steps_noise_once_read() {
    let steps = 10;
    let (mut engine, _noise) = trained(&SecretKey::insecure_from_seed(1), &[1, 2, 3], steps);
    let after = params(&mut engine);
    // Reading again draws nothing new: a second draw would be a second, independent
    // look at the same steps' noise.
    assert_eq!(params(&mut engine), after);
    let moved: Vec<f64> = after.iter().zip(M::init(0).params()).map(|(a, b)| a - b).collect();
    // The rows from 4 on, never read, owe all ten steps' noise: one draw of ten times the
    // variance (160,000 coordinates: the ratio's standard error is 0.4%).
    let unread = moved[16 * 4..TABLE].iter().copied();
    let ratio = variance_ratio(unread, steps);
    assert!((ratio - 1.0).abs() < 0.02, "rows never read moved by {ratio} times ten steps' noise variance");
    // The dense layers draw theirs at every step (306 coordinates: 8% standard error).
    let dense = variance_ratio(moved[TABLE..].iter().copied(), steps);
    assert!((dense - 1.0).abs() < 0.3, "the dense layers moved by {dense} times ten steps' noise variance");
}

#[test]
fn a_lookup_reads_its_rows_with_the_noise_they_owe() {
    let (mut engine, _noise) = trained(&SecretKey::insecure_from_seed(2), &[1, 2, 3], 5);
    // Rows 1 to 3 have not been read since the last step's update, rows 50 and 60 not
    // in five steps: each lookup settles its rows first. (Reading the parameters
    // settles every row, so the rows read before carry what they owed by then.)
    for tokens in [&[1, 2, 3][..], &[50, 60]] {
        let (x, y) = batch(tokens, 0);
        engine.load_batch(x.view(), y[..].into());
        M::run_forward(&mut engine);
        let mut logits = vec![0.0; BATCH * 2];
        engine.read(M::SPEC.logits, &mut logits);
        // The same lookup on the parameters as they leave the engine gives the same
        // logits: the rows it read are the rows that leave, noise included, drawn once.
        let settled = params(&mut engine);
        let mut fresh = CpuEngine::new(M::SPEC, &settled, BATCH);
        fresh.load_batch(x.view(), y[..].into());
        M::run_forward(&mut fresh);
        let mut want = vec![0.0; BATCH * 2];
        fresh.read(M::SPEC.logits, &mut want);
        assert_eq!(logits, want, "the lookup of rows {tokens:?}");
        let init = M::init(0);
        let row = tokens[0] * 16..(tokens[0] + 1) * 16;
        assert_ne!(settled[row.clone()], init.params()[row], "row {} carries no noise", tokens[0]);
    }
}

#[test]
fn parameters_written_owe_nothing() {
    let (mut engine, _noise) = trained(&SecretKey::insecure_from_seed(3), &[4, 5], 3);
    let written: Vec<f64> = (0..M::NUM_PARAMS).map(|i| (i % 13) as f64 * 0.01).collect();
    engine.write_params(&written);
    assert_eq!(params(&mut engine), written);
}

#[test]
fn the_draws_do_not_depend_on_the_thread_count() {
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let (mut engine, _noise) = trained(&SecretKey::insecure_from_seed(4), &[7, 8, 9, 700, 7000], 4);
            params(&mut engine)
        })
    };
    assert_eq!(run(1), run(2));
}
