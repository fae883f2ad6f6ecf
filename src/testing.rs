//! Checks for your own `#[private_model]`, for your crate's `cargo test`: the code the
//! macro generated against independent computations, in f64.
//!
//! ```
//! # use dpsgd::prelude::*;
//! # #[private_model(loss = softmax_cross_entropy)]
//! # mod net {
//! #     pub struct Net { pub fc1: Linear<4, 8>, pub fc2: Linear<8, 3> }
//! #     impl Net {
//! #         pub fn forward(&self, x: Input<4>) -> Logits<3> { self.fc2(tanh(self.fc1(x))) }
//! #     }
//! # }
//! // In a test: every check, on the model with its initial parameters (seed 0).
//! dpsgd::testing::check_model::<net::Net<f64>>();
//! ```
//!
//! Each check panics with a message that names the check, the example and the
//! parameter (its tensor, so its layer, and its index there). The checks:
//!
//! - **finite differences**: the mean-loss gradient against `(L(p + h) - L(p - h)) / 2h`
//!   with `h = 1e-6`, for every parameter or every `stride`-th; the relative error
//!   `|numeric - analytic| / (1 + |numeric|)` must stay below `1e-7` (a central
//!   difference errs by about `h^2` times the third derivative, plus `1e-16 / h` of
//!   rounding: both far below). The entries compared must include some above `1e-5`,
//!   where `1e-7` catches an error of 1%.
//! - **per-example gradients** against the gradient of a batch of that one example
//!   (relative `1e-12`).
//! - **norms**: the norms the private step uses (ghost or materialized, as planned)
//!   against the norms of the materialized per-example gradients (`1e-12`), and every
//!   layer with two strategies forced each way.
//! - **clipping**: the clipped sum against the sum of the materialized gradients each
//!   scaled by `min(1, C / norm)` (`1e-11` of its norm: clipping aims `1e-12` below `C`),
//!   with `C` the median norm so that half the examples are clipped; every example
//!   clipped alone has a norm at most `C`.
//! - **an empty batch** has a zero gradient and a noise-only private step.
//! - **the noise**: a private step on an empty batch moves the parameters by
//!   `lr * sigma * C / B` times standard normals: their mean and spread over the
//!   parameters (and over steps, for small models) within 5%.

use dpsgd_runtime::data::TargetData;
use dpsgd_runtime::data::synthetic::random_targets;
use dpsgd_runtime::engine::{CpuEngine, Engine};
use dpsgd_runtime::ndarray::{self, Array2};
use dpsgd_runtime::noise::GaussianNoise;
use dpsgd_runtime::spec::ModelSpec;
use dpsgd_runtime::train::{Optimizer, Privacy, private_step};
use dpsgd_runtime::{NormStrategy, PrivateModel};

/// What [`Checks::run`] checks with: a batch of `rows` examples from `seed`, the
/// model's initial parameters (`M::init(seed)`) times `scale`, and central finite
/// differences of step `step` on every `stride`-th parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Checks {
    /// Examples in the random batch checked.
    pub rows: usize,
    /// Seed of the batch and of the initial parameters.
    pub seed: u64,
    /// Larger parameters push more examples' gradients past any clipping norm, and
    /// logits far out, where a naive loss overflows.
    pub scale: f64,
    /// Finite differences for every `stride`-th parameter (1: all of them; a large
    /// model wants a stride that keeps `cargo test` short).
    pub stride: usize,
    /// 1e-6 by default. Deep ReLU networks want a smaller one: where a relu's input
    /// lies within the step of zero, the difference measures the kink, not the
    /// gradient (and a standardized weight or a normalization moves many inputs at
    /// once).
    pub step: f64,
}

impl Default for Checks {
    fn default() -> Self {
        Checks { rows: 9, seed: 0, scale: 1.0, stride: 1, step: 1e-6 }
    }
}

/// Every check on `M` with the default settings.
pub fn check_model<M: PrivateModel<f64>>() {
    Checks::default().run::<M>();
}

impl Checks {
    /// Every check.
    pub fn run<M: PrivateModel<f64>>(&self) {
        self.finite_differences::<M>();
        self.per_example_gradients::<M>();
        self.norms::<M>();
        self.clipping::<M>();
        self.empty_batch::<M>();
        self.noise::<M>();
    }

    fn model<M: PrivateModel<f64>>(&self) -> M {
        let mut model = M::init(self.seed);
        model.params_mut().iter_mut().for_each(|p| *p *= self.scale);
        model
    }

    /// The mean-loss gradient against central finite differences: every `stride`-th
    /// parameter, and the first of every tensor, so that a stride reaches every layer.
    pub fn finite_differences<M: PrivateModel<f64>>(&self) {
        let model = self.model::<M>();
        let (x, y) = batch::<f64, M>(self.rows, self.seed);
        let (_, grad) = model.loss_and_grad(x.view(), &y).unwrap();
        let h = self.step;
        let mut shifted = model.clone();
        let mut checked: Vec<usize> = (0..M::SPEC.num_params).step_by(self.stride.max(1)).collect();
        checked.extend(M::SPEC.params.iter().map(|t| t.offset));
        checked.sort_unstable();
        checked.dedup();
        for &i in &checked {
            shifted.params_mut()[i] += h;
            let plus = shifted.loss_and_grad(x.view(), &y).unwrap().0;
            shifted.params_mut()[i] -= 2.0 * h;
            let minus = shifted.loss_and_grad(x.view(), &y).unwrap().0;
            shifted.params_mut()[i] = model.params()[i];
            let numeric = (plus - minus) / (2.0 * h);
            let error = (numeric - grad[i]).abs() / (1.0 + numeric.abs());
            assert!(
                error < 1e-7,
                "{}: the gradient of {} is {}, finite differences give {numeric}",
                M::SPEC.name,
                parameter_name(&M::SPEC, i),
                grad[i]
            );
        }
        // The entries compared must hold some real gradient, or they check nothing.
        let sizable = checked.iter().filter(|&&i| grad[i].abs() > 1e-5).count();
        assert!(sizable >= 5.min(M::SPEC.num_params), "{}: only {sizable} compared entries above 1e-5", M::SPEC.name);
    }

    /// Each row of `per_example_grads` against the gradient of a batch of that example.
    pub fn per_example_gradients<M: PrivateModel<f64>>(&self) {
        let model = self.model::<M>();
        let (x, y) = batch::<f64, M>(self.rows, self.seed + 1);
        let per_example = model.per_example_grads(x.view(), &y).unwrap();
        for i in 0..self.rows {
            let (_, alone) = model.loss_and_grad(x.slice(ndarray::s![i..i + 1, ..]), y.view().slice(i..i + 1)).unwrap();
            for (p, (a, b)) in per_example.row(i).iter().zip(&alone).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
                    "{}: example {i}: the per-example gradient of {} is {a}, its own batch gives {b}",
                    M::SPEC.name,
                    parameter_name(&M::SPEC, p)
                );
            }
        }
    }

    /// The private step's norms against the materialized gradients' norms, and every
    /// layer with two strategies forced each way.
    pub fn norms<M: PrivateModel<f64>>(&self) {
        let model = self.model::<M>();
        let (x, y) = batch::<f64, M>(self.rows, self.seed + 2);
        let materialized: Vec<f64> = model
            .per_example_grads(x.view(), &y)
            .unwrap()
            .rows()
            .into_iter()
            .map(|r| norm(r.iter().copied()))
            .collect();
        let planned = model.per_example_grad_norms(x.view(), &y).unwrap();
        let forced = [NormStrategy::Ghost, NormStrategy::Materialized]
            .map(|s| (s, model.per_example_grad_norms_with(x.view(), &y, Some(s)).unwrap()));
        for (i, want) in materialized.iter().enumerate() {
            let ways =
                [("as planned", planned[i]), ("forced ghost", forced[0].1[i]), ("forced materialized", forced[1].1[i])];
            for (way, got) in ways {
                assert!(
                    (got - want).abs() <= 1e-12 * want,
                    "{}: example {i}: the norm {way} is {got}, the per-example gradient's is {want}",
                    M::SPEC.name
                );
            }
        }
    }

    /// The clipped sum against the sum of materialized gradients clipped one by one,
    /// and each example clipped alone within `C`.
    pub fn clipping<M: PrivateModel<f64>>(&self) {
        let model = self.model::<M>();
        let rows = self.rows.max(2);
        let (x, y) = batch::<f64, M>(rows, self.seed + 3);
        let per_example = model.per_example_grads(x.view(), &y).unwrap();
        let norms: Vec<f64> = per_example.rows().into_iter().map(|r| norm(r.iter().copied())).collect();
        let mut sorted = norms.clone();
        sorted.sort_by(f64::total_cmp);
        let c = sorted[rows / 2];
        assert!(c > 0.0, "{}: the median gradient is zero; check with other inputs or parameters", M::SPEC.name);
        let clipped = model.clipped_grad_sum(x.view(), &y, c).unwrap();
        let mut want = vec![0.0; M::SPEC.num_params];
        for (row, &n) in per_example.rows().into_iter().zip(&norms) {
            let factor = if n > 0.0 { (c / n).min(1.0) } else { 1.0 };
            want.iter_mut().zip(row).for_each(|(w, g)| *w += factor * g);
        }
        let scale = norm(want.iter().copied());
        for (p, (got, want)) in clipped.iter().zip(&want).enumerate() {
            assert!(
                (got - want).abs() <= 1e-11 * scale,
                "{}: the clipped sum's {} is {got}, clipping one by one gives {want}",
                M::SPEC.name,
                parameter_name(&M::SPEC, p)
            );
        }
        for i in 0..rows {
            let alone =
                model.clipped_grad_sum(x.slice(ndarray::s![i..i + 1, ..]), y.view().slice(i..i + 1), c).unwrap();
            let n = norm(alone.iter().copied());
            assert!(n <= c, "{}: example {i} clipped to a norm of {n}, above C = {c}", M::SPEC.name);
        }
    }

    /// An empty batch: zero gradients, and a private step that only adds noise.
    pub fn empty_batch<M: PrivateModel<f64>>(&self) {
        let model = self.model::<M>();
        let x = Array2::zeros((0, M::SPEC.input_width));
        let none = TargetData::zeros(&M::SPEC, 0);
        let sum = model.clipped_grad_sum(x.view(), &none, 1.0).unwrap();
        assert!(sum.iter().all(|&g| g == 0.0), "{}: an empty batch has a nonzero clipped sum", M::SPEC.name);
        assert_eq!(model.per_example_grads(x.view(), &none).unwrap().dim(), (0, M::SPEC.num_params));
    }

    /// Private steps on an empty batch move the parameters by `lr sigma C / B` times
    /// standard normals.
    pub fn noise<M: PrivateModel<f64>>(&self) {
        let model = self.model::<M>();
        let (sigma, c, lr, expected) = (1.3, 0.7, 0.5, 20.0);
        let privacy = Privacy::new(sigma, c).unwrap();
        let sgd = Optimizer::sgd(lr, 0.0).unwrap();
        let p = M::SPEC.num_params;
        let steps = 20_000usize.div_ceil(p);
        let mut engine = CpuEngine::new(M::SPEC, model.params(), 1);
        let mut noise = GaussianNoise::insecure_reproducible(self.seed);
        let (mut before, mut after) = (model.params().to_vec(), vec![0.0; p]);
        let mut moves = Vec::with_capacity(steps * p);
        for step in 0..steps {
            engine.load_batch(Array2::zeros((0, M::SPEC.input_width)).view(), TargetData::zeros(&M::SPEC, 0).view());
            private_step::<f64, M, _>(&mut engine, &mut noise, &privacy, expected, &sgd, step as u64);
            engine.read_params(&mut after);
            moves.extend(after.iter().zip(&before).map(|(a, b)| (a - b) / (lr * sigma * c / expected)));
            std::mem::swap(&mut before, &mut after);
        }
        let n = moves.len() as f64;
        let mean = moves.iter().sum::<f64>() / n;
        let spread = (moves.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!(
            mean.abs() < 0.05 && (spread - 1.0).abs() < 0.05,
            "{}: noise-only steps moved the parameters by {spread} (mean {mean}) times lr sigma C / B, not 1",
            M::SPEC.name
        );
    }
}

/// A deterministic batch for `M`: features in [-2, 2] (whole token ids below the
/// vocabulary for models of tokens), labels cycling through the classes (or random
/// legal values for the losses of value targets).
pub fn batch<F: dpsgd_runtime::Float, M: PrivateModel<F>>(rows: usize, seed: u64) -> (Array2<F>, TargetData<F>) {
    let spec = M::SPEC;
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let x = match spec.token_vocab {
        Some(vocab) => {
            Array2::from_shape_fn((rows, spec.input_width), |_| F::from_f64((next() * vocab as f64).floor()))
        }
        None => Array2::from_shape_fn((rows, spec.input_width), |_| F::from_f64(4.0 * next() - 2.0)),
    };
    let y = match spec.loss.takes_values() {
        true => random_targets(&spec, rows, next),
        false => TargetData::Classes((0..rows).map(|i| (i % spec.num_classes()) as u32).collect()),
    };
    (x, y)
}

/// Parameter `i` of a model as `tensor[index]`, e.g. `fc1.weight[37]`.
pub fn parameter_name(spec: &ModelSpec, i: usize) -> String {
    match spec.params.iter().find(|t| (t.offset..t.offset + t.len()).contains(&i)) {
        Some(t) => format!("{}[{}]", t.name, i - t.offset),
        None => format!("parameter {i}"),
    }
}

fn norm(v: impl IntoIterator<Item = f64>) -> f64 {
    v.into_iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// The command that starts `binary` on `processes` processes of one MPI job on this
/// machine, for tests of data-parallel training (feature `mpi`; add the binary's
/// arguments): Open MPI's `mpirun`, oversubscribed where there are more processes
/// than cores, every byte between them over shared memory or loopback TCP, and
/// allowed as root, as test machines often run.
#[cfg(feature = "mpi")]
pub fn mpirun(processes: usize, binary: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    let mut mpirun = std::process::Command::new("mpirun");
    mpirun.args(["-n", &processes.to_string(), "--oversubscribe", "--mca", "btl", "self,vader,tcp"]);
    mpirun.args(["--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo"]).arg(binary);
    mpirun.env("OMPI_ALLOW_RUN_AS_ROOT", "1").env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    mpirun
}
