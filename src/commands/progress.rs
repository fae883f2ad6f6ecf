//! What `dpsgd train` shows while it runs: a progress bar on a terminal, plain lines
//! when the output goes elsewhere, only the summary with `--quiet`; and, on request,
//! metrics as JSON lines (one per step and one per epoch).

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use dpsgd::runtime::train::{EpochReport, StepReport};
use dpsgd::runtime::{Error, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    epochs: usize,
    metrics: Option<(PathBuf, RefCell<BufWriter<File>>)>,
}

impl Progress {
    /// For a run of `total_steps` steps, `done` of them already taken (a resumed run).
    pub fn new(quiet: bool, metrics: Option<&Path>, epochs: usize, total_steps: u64, done: u64) -> Result<Self> {
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
        Ok(Progress { bar, quiet, epochs, metrics })
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
            bar.set_message(format!("epoch {}/{}  loss {:.4}{epsilon}", s.epoch, self.epochs, s.loss));
        }
        self.write_metric(json!({
            "type": "step", "step": s.step, "epoch": s.epoch, "loss": s.loss,
            "batch_size": s.batch_size, "epsilon": s.epsilon,
        }));
    }

    pub fn on_epoch(&self, e: &EpochReport) {
        let test = e.test.map_or(String::new(), |t| {
            format!("  test loss {:.4}  test accuracy {:.2}%", t.mean_loss, 100.0 * t.accuracy)
        });
        let epsilon = e.epsilon.map_or(String::new(), |eps| format!("  epsilon {eps:.3}"));
        let line = format!(
            "epoch {:>3}/{}  train loss {:.4}{test}{epsilon}  {:.3} s",
            e.epoch, self.epochs, e.train_loss, e.seconds
        );
        match (&self.bar, self.quiet) {
            (_, true) => {}
            (Some(bar), _) => bar.println(line),
            (None, _) => println!("{line}"),
        }
        self.write_metric(json!({
            "type": "epoch", "epoch": e.epoch, "steps": e.steps, "examples": e.examples,
            "train_loss": e.train_loss, "test_loss": e.test.map(|t| t.mean_loss),
            "test_accuracy": e.test.map(|t| t.accuracy), "epsilon": e.epsilon, "seconds": e.seconds,
        }));
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
