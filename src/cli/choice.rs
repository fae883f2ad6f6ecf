//! Which model a command runs: the one model of a user's binary, or the built-in model
//! named by `--model` in the `dpsgd` binary. Commands are written once, generic over
//! the model type; a [`ModelChoice`] turns what was parsed into that type.

use std::fmt::Debug;
use std::marker::PhantomData;

use clap::{ArgMatches, Args, FromArgMatches};
use dpsgd_runtime::{PrivateModel, Result};
use models::{ModelName, with_model};

/// The arguments that choose a model, and how to run a task on the chosen type.
pub trait ModelChoice: Args + Clone + Debug + Send + Sync + 'static {
    /// The model's name in what the commands print.
    fn name(&self) -> String;
    /// The shipped dataset the model trains on when none is given (`adult`, `mnist`,
    /// `imdb`, `cifar10`), if it has one.
    fn dataset(&self) -> Option<&'static str>;
    /// The size of the training set an epoch of `dpsgd bench` stands for.
    fn train_examples(&self) -> usize;
    /// Runs `task` with the chosen model's type.
    fn with<T: ModelTask>(&self, task: T) -> Result<T::Output>;
}

/// A command's work for one model type: what [`ModelChoice::with`] runs.
pub trait ModelTask {
    /// What the task returns.
    type Output;
    /// The task, for the model `M` in `f32` (`M::WithFloat<f64>` is the same model in
    /// `f64`).
    fn run<M: PrivateModel<f32>>(self) -> Result<Self::Output>;
}

/// The one model of a user's binary: no `--model` argument.
pub struct Single<M>(PhantomData<fn() -> M>);

impl<M> Clone for Single<M> {
    fn clone(&self) -> Self {
        Single(PhantomData)
    }
}

impl<M> Debug for Single<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(std::any::type_name::<M>())
    }
}

impl<M> FromArgMatches for Single<M> {
    fn from_arg_matches(_: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(Single(PhantomData))
    }

    fn update_from_arg_matches(&mut self, _: &ArgMatches) -> Result<(), clap::Error> {
        Ok(())
    }
}

impl<M> Args for Single<M> {
    fn augment_args(command: clap::Command) -> clap::Command {
        command
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        command
    }
}

impl<M: PrivateModel<f32> + 'static> ModelChoice for Single<M> {
    fn name(&self) -> String {
        M::SPEC.name.to_string()
    }

    fn dataset(&self) -> Option<&'static str> {
        None
    }

    fn train_examples(&self) -> usize {
        // Public and arbitrary: an epoch's time in `bench` for a training set this size.
        10_000
    }

    fn with<T: ModelTask>(&self, task: T) -> Result<T::Output> {
        task.run::<M>()
    }
}

/// The `dpsgd` binary's models, chosen with `--model`.
#[derive(Args, Clone, Debug)]
pub struct BuiltinModel {
    /// Model: logreg, ffnn, mnist-cnn, mnist-cnn-tanh, cifar10, embed, lstm, wrn16-4 or transformer.
    #[arg(long, default_value = "ffnn")]
    pub model: ModelName,
}

impl ModelChoice for BuiltinModel {
    fn name(&self) -> String {
        self.model.to_string()
    }

    fn dataset(&self) -> Option<&'static str> {
        Some(self.model.dataset())
    }

    fn train_examples(&self) -> usize {
        self.model.train_examples()
    }

    fn with<T: ModelTask>(&self, task: T) -> Result<T::Output> {
        with_model!(self.model, M => task.run::<M>())
    }
}
