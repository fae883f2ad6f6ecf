//! What `dpsgd train` shows while it runs: a progress bar on a terminal, plain lines
//! when the output goes elsewhere, only the summary with `--quiet`; and, on request,
//! metrics as JSON lines (one per step and one per epoch).
//!
//! The training loss and the realized batch sizes come from the training data without
//! noise, outside the privacy guarantee: a private run shows them only when asked
//! (`--uncovered-stats`), labelled "not private" on screen and `*_not_private` in the
//! metrics.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::runtime::train::{EpochReport, StepReport};
use crate::runtime::{Error, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    epochs: usize,
    metrics: Option<(PathBuf, RefCell<BufWriter<File>>)>,
    /// Whether to show what the privacy guarantee does not cover.
    uncovered: bool,
}

impl Progress {
    /// For a run of `total_steps` steps, `done` of them already taken (a resumed run).
    /// `uncovered`: show the training loss and batch sizes too.
    pub fn new(
        quiet: bool,
        metrics: Option<&Path>,
        epochs: usize,
        total_steps: u64,
        done: u64,
        uncovered: bool,
    ) -> Result<Self> {
        let bar = (!quiet && std::io::stdout().is_terminal()).then(|| {
            let bar = ProgressBar::new(total_steps).with_position(done);
            let template =
                "{bar:30.cyan/blue} {pos}/{len} steps  {per_sec}  {msg}  [{elapsed_precise} < {eta_precise}]";
            bar.set_style(ProgressStyle::with_template(template).expect("a valid template"));
            bar
        });
        let metrics = match metrics {
            None => None,
            Some(path) => {
                let file = File::create(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
                Some((path.to_path_buf(), RefCell::new(BufWriter::new(file))))
            }
        };
        Ok(Progress { bar, quiet, epochs, metrics, uncovered })
    }

    /// Whether anything is done with each step (computing its epsilon costs a little).
    pub fn wants_steps(&self) -> bool {
        self.bar.is_some() || self.metrics.is_some()
    }

    fn write_metric(&self, line: serde_json::Value) {
        if let Some((path, out)) = &self.metrics
            && let Err(e) = writeln!(out.borrow_mut(), "{line}")
        {
            eprintln!("warning: writing metrics to {} failed: {e}", path.display());
        }
    }

    pub fn on_step(&self, s: &StepReport) {
        if let Some(bar) = &self.bar {
            bar.set_position(s.step);
            let epsilon = s.epsilon.map_or(String::new(), |e| format!("  epsilon {e:.3}"));
            let loss = match self.uncovered {
                true => format!("  loss {:.4} (not private)", s.loss),
                false => String::new(),
            };
            bar.set_message(format!("epoch {}/{}{loss}{epsilon}", s.epoch, self.epochs));
        }
        let mut line = json!({ "type": "step", "step": s.step, "epoch": s.epoch, "epsilon": s.epsilon });
        if self.uncovered {
            line["loss_not_private"] = json!(s.loss);
            line["batch_size_not_private"] = json!(s.batch_size);
        }
        self.write_metric(line);
    }

    pub fn on_epoch(&self, e: &EpochReport) {
        let test = e.test.map_or(String::new(), |t| match t.accuracy {
            Some(accuracy) => format!("  test loss {:.4}  test accuracy {:.2}%", t.mean_loss, 100.0 * accuracy),
            None => format!("  test loss {:.4}", t.mean_loss),
        });
        let epsilon = e.epsilon.map_or(String::new(), |eps| format!("  epsilon {eps:.3}"));
        let train = match self.uncovered {
            true => format!("  train loss {:.4} (not private)", e.train_loss),
            false => String::new(),
        };
        let line = format!("epoch {:>3}/{}{train}{test}{epsilon}  {:.3} s", e.epoch, self.epochs, e.seconds);
        match (&self.bar, self.quiet) {
            (_, true) => {}
            (Some(bar), _) => bar.println(line),
            (None, _) => println!("{line}"),
        }
        let mut line = json!({
            "type": "epoch", "epoch": e.epoch, "steps": e.steps, "test_loss": e.test.map(|t| t.mean_loss),
            "test_accuracy": e.test.and_then(|t| t.accuracy), "epsilon": e.epsilon, "seconds": e.seconds,
        });
        if self.uncovered {
            line["train_loss_not_private"] = json!(e.train_loss);
            line["examples_not_private"] = json!(e.examples);
        }
        self.write_metric(line);
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if let Some((_, out)) = &self.metrics {
            let _ = out.borrow_mut().flush();
        }
    }
}
