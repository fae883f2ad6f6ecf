//! A privacy audit in one training run (Steinke, Nasr, Jagielski, NeurIPS 2023), with
//! white-box gradient canaries (Nasr et al., USENIX Security 2023).
//!
//! Each of `m` canaries joins the training set independently with probability 1/2.
//! Training is the real thing: `Trainer::step` samples Poisson batches, the engine
//! computes every example's norm, clips and sums, the noise is added once and the sum
//! divided by the expected batch size, as in any private run. The model is
//! [`AuditCanaries`], logistic regression on 4096 inputs, and canary `i` is the row
//! `K e_i` (label 0): whatever the parameters, its gradient points along
//! `(K e_i, 1)` with a norm far above `C`, so clipped it is `C` times a fixed unit
//! vector, as the white-box canaries of Nasr et al. are. Canaries are the whole
//! training set; nothing else moves coordinate `i`.
//!
//! With plain SGD the weights' total change is the sum of the noisy updates, so the
//! auditor, who sees every update, scores canary `i` by how far weight `i` went down.
//! It guesses "included" for the highest scores and "excluded" for the lowest, and
//! [`epsilon_lower_bound`] turns the number of right guesses into a lower bound on
//! epsilon at the stated confidence. A correct implementation keeps the bound below
//! the epsilon the accountant claims for the same run (up to the test's
//! significance); a bound above it proves the claim false.

use std::time::Instant;

use dpsgd_runtime::ndarray::Array2;
use dpsgd_runtime::privacy::audit::epsilon_lower_bound;
use dpsgd_runtime::rng::{Randomness, Stream};
use dpsgd_runtime::train::{Optimizer, PrivateTraining, train};
use dpsgd_runtime::{Dataset, Error, PrivateModel, Result};
use models::AuditCanaries;
use rand::RngExt;

/// How a canary's input is scaled: its gradient's norm is `sigmoid(z) * K * C`-ish,
/// far above `C` while the weights stay small, so clipping always cuts it to `C`.
const CANARY_SCALE: f64 = 16.0;
/// The learning rate per unit of the summed gradient: small, so that the weights (and
/// with them each canary's `sigmoid(z)`) stay near their start, 0.
const STEP_PER_UNIT: f64 = 1e-4;

/// What to audit.
/// How to audit: the canaries, the private run's settings and the guesses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AuditSettings {
    /// `m`, at most the model's 4096 inputs.
    pub canaries: usize,
    /// Epochs of the private run.
    pub epochs: usize,
    /// The expected batch size `B`: `q = B / N` for the `N` canaries included.
    pub batch_size: usize,
    /// The private run's noise multiplier sigma.
    pub noise_multiplier: f64,
    /// The private run's clipping norm C.
    pub max_grad_norm: f64,
    /// The delta of the claimed and of the proven epsilon.
    pub delta: f64,
    /// Guesses in all: the highest half "included", the lowest half "excluded".
    pub guesses: usize,
    /// 0.05: a lower bound that holds with 95% confidence.
    pub significance: f64,
    /// Of the training run (its noise and batches) and of the canaries' inclusion.
    pub randomness: Randomness,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            canaries: 4096,
            epochs: 20,
            batch_size: 200,
            noise_multiplier: 1.0,
            max_grad_norm: 1.0,
            delta: 1e-5,
            guesses: 400,
            significance: 0.05,
            randomness: Randomness::Secret,
        }
    }
}

/// What the audit found.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditReport {
    /// Canaries made, each included with probability 1/2.
    pub canaries: usize,
    /// Canaries that were in the training set (`N`).
    pub included: usize,
    /// The run's Poisson sampling rate `q = B / N`.
    pub sampling_rate: f64,
    /// Steps of the private run.
    pub steps: usize,
    /// What the accountant (RDP) claims for this run, at `delta`.
    pub claimed_epsilon: f64,
    /// What the guesses prove, at the confidence `1 - significance`.
    pub lower_bound: f64,
    /// Guesses made (included or excluded).
    pub guesses: usize,
    /// Guesses that were right.
    pub correct: usize,
    /// Wall-clock seconds of the audit.
    pub seconds: f64,
}

/// Trains privately with canaries and audits the run.
pub fn audit(settings: &AuditSettings) -> Result<AuditReport> {
    let s = settings;
    let width = AuditCanaries::<f32>::SPEC.input_width;
    let check = |ok: bool, message: String| if ok { Ok(()) } else { Err(Error::Config(message)) };
    check(s.canaries >= 2 && s.canaries <= width, format!("the audit takes 2..={width} canaries, got {}", s.canaries))?;
    check(
        s.guesses >= 2 && s.guesses <= s.canaries,
        format!("make 2..={} guesses (one per canary at most), got {}", s.canaries, s.guesses),
    )?;
    let start = Instant::now();
    let mut inclusion = s.randomness.new_key()?.stream(Stream::Data);
    let is_in: Vec<bool> = (0..s.canaries).map(|_| inclusion.random()).collect();
    let included: Vec<usize> = (0..s.canaries).filter(|&i| is_in[i]).collect();
    let n = included.len();
    check(n >= s.batch_size, format!("{n} canaries were included, fewer than the batch size {}", s.batch_size))?;
    let mut features = Array2::zeros((n, width));
    for (row, &canary) in included.iter().enumerate() {
        features[[row, canary]] = (CANARY_SCALE * s.max_grad_norm) as f32;
    }
    let data = Dataset::new(features, vec![0; n])?;

    let lr = STEP_PER_UNIT * s.batch_size as f64;
    let mut setup = PrivateTraining::new(s.epochs, s.batch_size, Optimizer::sgd(lr, 0.0)?)
        .noise_multiplier(s.noise_multiplier)
        .max_grad_norm(s.max_grad_norm)
        .delta(s.delta);
    if let Randomness::InsecureReproducible(seed) = s.randomness {
        setup = setup.insecure_reproducible_noise(seed);
    }
    let config = setup.config(n)?;
    let mut model = AuditCanaries::<f32>::init(0);
    model.params_mut().fill(0.0);
    let report = train(&mut model, &data, None, &config, |_| {})?;
    let accountant = report.accountant.as_ref().expect("a private run");

    // A canary's update lowers its weight: the score is how far it went down.
    let scores: Vec<f64> = model.params()[..s.canaries].iter().map(|&w| -(w as f64)).collect();
    let mut order: Vec<usize> = (0..s.canaries).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let half = s.guesses / 2;
    let correct = order[..half].iter().filter(|&&i| is_in[i]).count()
        + order[s.canaries - (s.guesses - half)..].iter().filter(|&&i| !is_in[i]).count();
    Ok(AuditReport {
        canaries: s.canaries,
        included: n,
        sampling_rate: config.sampling_rate(n),
        steps: report.steps,
        claimed_epsilon: accountant.epsilon(s.delta)?.0,
        lower_bound: epsilon_lower_bound(s.canaries, s.guesses, correct, s.delta, s.significance)?,
        guesses: s.guesses,
        correct,
        seconds: start.elapsed().as_secs_f64(),
    })
}
