//! The trait `#[private_model]` implements, and what every model gets from it.

use ndarray::{Array2, ArrayView2};
use rand_distr::{Distribution, Uniform};

use crate::Float;
use crate::data::{TargetData, Targets, check_batch, check_targets, check_width};
use crate::engine::{CpuEngine, Engine};
use crate::error::{Error, Result};
use crate::rng::{Stream, stream};
use crate::spec::NormStrategy;
use crate::spec::{Buf, ModelSpec};

/// A model whose batched, differentiated and clipped code was generated at compile
/// time. The `run_*` functions are that code: each drives an [`Engine`] through one
/// phase of a step. Everything else is built from them.
pub trait PrivateModel<F: Float>: Sized + Clone {
    /// Everything about the model that is not code: parameter layout, buffers, loss,
    /// the plan of each layer.
    const SPEC: ModelSpec;
    /// The same model in the float type `G`: the command line trains a model in `f32`
    /// and checks its gradients in `f64` knowing only one of the two.
    type WithFloat<G: Float>: PrivateModel<G>;

    /// The flat parameter vector (layout in [`ModelSpec::params`]).
    fn params(&self) -> &[F];
    /// The flat parameter vector, to change in place.
    fn params_mut(&mut self) -> &mut [F];
    /// Wraps a parameter vector of the right length; see [`PrivateModel::from_params`].
    fn from_params_unchecked(params: Vec<F>) -> Self;

    /// Batched forward pass: the batch's logits into `SPEC.logits`.
    fn run_forward<E: Engine<F>>(engine: &mut E);
    /// After `run_forward`: per-example losses, and the gradient of each example's
    /// loss with respect to every value that depends on a parameter.
    fn run_backward<E: Engine<F>>(engine: &mut E);
    /// After `run_backward`: each example's squared gradient norm over all parameters
    /// into `SPEC.sq_norms`, each layer's by its planned strategy (`SPEC.layers`):
    /// ghost, from Gram matrices without forming the layer's per-example gradients, or
    /// materialized per example where that is cheaper.
    fn run_sq_norms<E: Engine<F>>(engine: &mut E);
    /// After `run_backward`: `sum_i w_i g_i` into the engine's gradient, with `w_i`
    /// read from `weights` (all 1 when `None`).
    fn run_param_grads<E: Engine<F>>(engine: &mut E, weights: Option<Buf>);
    /// After `run_backward` and `begin_per_example_grads`: every `g_i`, materialized.
    fn run_per_example_grads<E: Engine<F>>(engine: &mut E);

    /// Number of trainable parameters.
    fn num_params() -> usize {
        Self::SPEC.num_params
    }

    /// A model with these parameters; errors on a wrong length or a non-finite value.
    fn from_params(params: Vec<F>) -> Result<Self> {
        if params.len() != Self::SPEC.num_params {
            return Err(Error::Shape(format!(
                "{} has {} parameters, got {}",
                Self::SPEC.name,
                Self::SPEC.num_params,
                params.len()
            )));
        }
        if let Some(i) = params.iter().position(|p| !p.is_finite()) {
            return Err(Error::Config(format!("parameter {i} is NaN or infinite")));
        }
        Ok(Self::from_params_unchecked(params))
    }

    /// The plan of the private step, a line per parametrized layer: shapes, how the
    /// per-example norms are computed, and what each way costs per example.
    fn describe_plan() -> String {
        let spec = Self::SPEC;
        let mut out = format!("{} ({} parameters): per-example gradient norms by layer\n", spec.name, spec.num_params);
        let w = spec.layers.iter().map(|l| l.name.len()).chain([5]).max().unwrap_or(5);
        let kw = spec.layers.iter().map(|l| l.kind.len()).chain([28]).max().unwrap_or(28);
        out += &format!(
            "{:<w$} {:<kw$} {:>14} {:>14} {:>9} {:>13}  {:>12} {:>12}  {:>12} {:>12}\n",
            "layer",
            "type",
            "input",
            "output",
            "positions",
            "strategy",
            "ghost FLOPs",
            "mat. FLOPs",
            "ghost bytes",
            "mat. bytes"
        );
        let shape = |s: &[usize]| s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x");
        for l in spec.layers {
            let strategy = match l.strategy {
                NormStrategy::Ghost => "ghost",
                NormStrategy::Materialized => "materialized",
            };
            out += &format!(
                "{:<w$} {:<kw$} {:>14} {:>14} {:>9} {:>13}  {:>12} {:>12}  {:>12} {:>12}\n",
                l.name,
                l.kind,
                shape(l.input_shape),
                shape(l.output_shape),
                l.positions,
                strategy,
                // A layer without a ghost way (a normalization) has no ghost cost.
                if l.ghost_flops == usize::MAX { "-".to_string() } else { l.ghost_flops.to_string() },
                l.materialized_flops,
                l.ghost_bytes,
                l.materialized_bytes
            );
        }
        out
    }

    /// Fresh parameters, from `seed`: as each tensor's [`Init`](crate::spec::Init) says
    /// (uniform in `±1/sqrt(fan_in)`, or a normalization's ones and zeros).
    fn init(seed: u64) -> Self {
        let mut rng = stream(seed, Stream::Init);
        let mut params = vec![F::ZERO; Self::SPEC.num_params];
        for tensor in Self::SPEC.params {
            let bound = 1.0 / (tensor.fan_in.max(1) as f64).sqrt();
            let uniform = Uniform::new(-bound, bound).expect("finite bounds");
            for p in &mut params[tensor.offset..tensor.offset + tensor.len()] {
                *p = match tensor.init {
                    crate::spec::Init::Uniform => F::from_f64(uniform.sample(&mut rng)),
                    crate::spec::Init::Ones => F::ONE,
                    crate::spec::Init::Zeros => F::ZERO,
                };
            }
        }
        Self::from_params_unchecked(params)
    }

    /// Logits of a batch, `[rows, outputs]`.
    fn logits(&self, features: ArrayView2<'_, F>) -> Result<Array2<F>> {
        check_width(features.ncols(), &Self::SPEC)?;
        crate::data::check_finite(features)?;
        crate::data::check_tokens(features, &Self::SPEC)?;
        let unused = TargetData::zeros(&Self::SPEC, features.nrows());
        let mut engine = CpuEngine::new(Self::SPEC, self.params(), features.nrows());
        engine.load_batch(features, unused.view());
        Self::run_forward(&mut engine);
        let mut out = Array2::from_elem((features.nrows(), Self::SPEC.outputs), F::ZERO);
        engine.read(Self::SPEC.logits, out.as_slice_mut().expect("standard layout"));
        Ok(out)
    }

    /// Predicted classes of a batch (for the multi-label loss, `outputs` 0/1 labels
    /// per example, row after row). A regression model's prediction is its
    /// [`logits`](Self::logits).
    fn predict(&self, features: ArrayView2<'_, F>) -> Result<Vec<u32>> {
        if !Self::SPEC.loss.classifies() {
            return Err(Error::Config(format!(
                "{} ({}) predicts values, not classes: read its outputs (logits)",
                Self::SPEC.name,
                Self::SPEC.loss.name()
            )));
        }
        let logits = self.logits(features)?;
        let per_example = if Self::SPEC.loss.takes_values() { Self::SPEC.outputs } else { 1 };
        let mut out = vec![0; features.nrows() * per_example];
        crate::kernels::loss::predictions(
            Self::SPEC.loss,
            logits.as_slice().expect("standard layout"),
            Self::SPEC.outputs,
            &mut out,
        );
        Ok(out)
    }

    /// Non-private training signal: the mean loss over the batch and its gradient.
    fn loss_and_grad<'t>(
        &self,
        features: ArrayView2<'_, F>,
        targets: impl Into<Targets<'t, F>>,
    ) -> Result<(F, Vec<F>)> {
        let targets = targets.into();
        if targets.is_empty() {
            return Err(Error::Shape("the mean loss of an empty batch is undefined".into()));
        }
        let mut engine = backward_engine(self, features, targets)?;
        Self::run_param_grads(&mut engine, None);
        let inv = F::ONE / F::from_f64(targets.len() as f64);
        engine.scale_grads(inv);
        let mut grads = vec![F::ZERO; Self::SPEC.num_params];
        engine.read_grads(&mut grads);
        Ok((engine.sum(Self::SPEC.losses) * inv, grads))
    }

    /// Each example's loss.
    fn per_example_losses<'t>(
        &self,
        features: ArrayView2<'_, F>,
        targets: impl Into<Targets<'t, F>>,
    ) -> Result<Vec<F>> {
        let targets = targets.into();
        let engine = backward_engine(self, features, targets)?;
        let mut out = vec![F::ZERO; targets.len()];
        engine.read(Self::SPEC.losses, &mut out);
        Ok(out)
    }

    /// Each example's gradient norm over all parameters, each layer's by the way its
    /// plan chose (ghost or materialized).
    fn per_example_grad_norms<'t>(
        &self,
        features: ArrayView2<'_, F>,
        targets: impl Into<Targets<'t, F>>,
    ) -> Result<Vec<F>> {
        self.per_example_grad_norms_with(features, targets, None)
    }

    /// [`per_example_grad_norms`](Self::per_example_grad_norms), with every layer that
    /// implements both ways (convolutions, LSTMs) forced to `strategy` when given.
    fn per_example_grad_norms_with<'t>(
        &self,
        features: ArrayView2<'_, F>,
        targets: impl Into<Targets<'t, F>>,
        strategy: Option<NormStrategy>,
    ) -> Result<Vec<F>> {
        let targets = targets.into();
        let mut engine = backward_engine(self, features, targets)?;
        engine.force_norm_strategy(strategy);
        Self::run_sq_norms(&mut engine);
        let mut out = vec![F::ZERO; targets.len()];
        engine.read(Self::SPEC.sq_norms, &mut out);
        Ok(out.into_iter().map(F::sqrt).collect())
    }

    /// Every example's gradient, one row each: `[rows, num_params]`.
    fn per_example_grads<'t>(
        &self,
        features: ArrayView2<'_, F>,
        targets: impl Into<Targets<'t, F>>,
    ) -> Result<Array2<F>> {
        let targets = targets.into();
        let mut engine = backward_engine(self, features, targets)?;
        engine.begin_per_example_grads();
        Self::run_per_example_grads(&mut engine);
        let mut out = Array2::from_elem((targets.len(), Self::SPEC.num_params), F::ZERO);
        engine.read_per_example_grads(out.as_slice_mut().expect("standard layout"));
        Ok(out)
    }

    /// `sum_i g_i min(1, C / ||g_i||)`: the private step's gradient before noise.
    fn clipped_grad_sum<'t>(
        &self,
        features: ArrayView2<'_, F>,
        targets: impl Into<Targets<'t, F>>,
        max_norm: F,
    ) -> Result<Vec<F>> {
        self.clipped_grad_sum_with(features, targets, max_norm, None)
    }

    /// [`clipped_grad_sum`](Self::clipped_grad_sum), with the norms of every layer that
    /// implements both ways forced to `strategy` when given.
    fn clipped_grad_sum_with<'t>(
        &self,
        features: ArrayView2<'_, F>,
        targets: impl Into<Targets<'t, F>>,
        max_norm: F,
        strategy: Option<NormStrategy>,
    ) -> Result<Vec<F>> {
        let targets = targets.into();
        if !(max_norm > F::ZERO && max_norm.is_finite()) {
            return Err(Error::Config(format!("the clipping norm must be positive and finite, got {max_norm}")));
        }
        let mut engine = backward_engine(self, features, targets)?;
        engine.force_norm_strategy(strategy);
        Self::run_sq_norms(&mut engine);
        engine.clip_factors(Self::SPEC.sq_norms, Self::SPEC.clip_factors, max_norm);
        Self::run_param_grads(&mut engine, Some(Self::SPEC.clip_factors));
        let mut grads = vec![F::ZERO; Self::SPEC.num_params];
        engine.read_grads(&mut grads);
        Ok(grads)
    }
}

/// A CPU engine that has run the forward and backward passes of `model` on a checked batch.
fn backward_engine<F: Float, M: PrivateModel<F>>(
    model: &M,
    features: ArrayView2<'_, F>,
    targets: Targets<'_, F>,
) -> Result<CpuEngine<F>> {
    check_width(features.ncols(), &M::SPEC)?;
    check_batch(features, targets)?;
    crate::data::check_tokens(features, &M::SPEC)?;
    check_targets(targets, &M::SPEC)?;
    let mut engine = CpuEngine::new(M::SPEC, model.params(), targets.len());
    engine.load_batch(features, targets);
    M::run_forward(&mut engine);
    M::run_backward(&mut engine);
    Ok(engine)
}
