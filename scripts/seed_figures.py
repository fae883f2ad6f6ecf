"""The seed paper's figures, for dpsgd beside its peers on the machine at hand, from one
sitting.

1. Per-epoch time against batch size (the paper's Figures 1-11): for each of the
   paper's five models, the median time of one epoch of its training split, private
   and non-private, for dpsgd, JAX (`vmap` + `jit`), eager PyTorch and Opacus, at
   batch 20, 40, ..., 120 and 256. An epoch's time is the training split's size
   divided by the examples per second measured over timed repeats of steps (the same
   split size for every framework); the bars span the fastest and slowest repeat.
2. The largest batch that fits in a memory budget (the paper's section 4.2): for each
   model and private framework, the largest power-of-two batch whose training process
   peaks within the budget (resident set, `wait4`'s `ru_maxrss`, the whole process:
   interpreter, framework, data set and step), up to the training split's size (a
   result marked ≥ stopped there). dpsgd's figure is its default step,
   which splits a batch into physical batches where the model's step does not fit
   the cache (the MNIST CNN); the peers take every batch whole.

Writes PNG figures and the measurements behind them (JSON) to `--out`, and prints the
tables in Markdown.

    cargo build --release
    PEERS/bin/pip install matplotlib
    PEERS/bin/python scripts/seed_figures.py --python PEERS/bin/python --peers PEERS_DIR

Run it with the peers' Python (it needs matplotlib); every measurement runs in a
fresh process, one after the other, so that they do not share the cores.
"""

import argparse
import json
import os
import platform
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpu_vs_peers import MODELS, dpsgd, peer  # noqa: E402

TITLES = {
    "logreg": "Logistic regression (Adult)",
    "ffnn": "Feed-forward network (Adult)",
    "mnist-cnn": "CNN (MNIST)",
    "embed": "Embedding network (IMDB shape)",
    "lstm": "LSTM network (IMDB shape)",
}

# (label, framework, private, line style) of each curve.
CURVES = [
    ("dpsgd private", "dpsgd", True, "C0-"),
    ("dpsgd non-private", "dpsgd", False, "C0--"),
    ("JAX private", "jax", True, "C1-"),
    ("JAX non-private", "jax", False, "C1--"),
    ("Opacus private", "torch", True, "C2-"),
    ("PyTorch non-private", "torch", False, "C2--"),
]


def split_size(binary, model):
    """Examples in the model's training split, as dpsgd's benchmark reports it."""
    out = subprocess.run([binary, "bench", "--model", model, "--batch-size", "1", "--json", "--repeats", "1",
                          "--min-seconds", "0.01", "--warmup-seconds", "0.01"], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)["epoch_examples"]


def epoch_times(a, model, examples):
    """{label: [(batch, median s, fastest s, slowest s)]} for every curve."""
    name, variant = MODELS[model]
    out = {label: [] for label, *_ in CURVES}
    for batch in a.batches:
        for label, framework, private, _ in CURVES:
            if framework == "dpsgd":
                rate, _ = dpsgd(a.dpsgd, model, batch, private, a.repeats, a.seconds)
            else:
                script = os.path.join(a.peers, f"{framework}_bench.py")
                v = variant if framework == "jax" and private else None
                rate = peer(a.python, script, name, batch, private, v, a.repeats, a.seconds)
            row = (batch, examples / rate.median, examples / rate.high, examples / rate.low)
            out[label].append(row)
            print(f"  {model} B={batch} {label}: {row[1]:.3g} s per epoch", file=sys.stderr, flush=True)
    return out


def peak_mib(args):
    """Runs `args` to its end; its peak resident set in MiB, or None if it failed."""
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    return usage.ru_maxrss / 1024 if status == 0 else None


def probe(a, framework, model, batch):
    name, variant = MODELS[model]
    if framework == "dpsgd":
        args = [a.dpsgd, "bench", "--model", model, "--batch-size", str(batch), "--json", "--repeats", "1",
                "--min-seconds", "0.01", "--warmup-seconds", "0.01"]
    else:
        args = [a.python, os.path.join(a.peers, f"{framework}_bench.py"), "--model", name, "--batch", str(batch),
                "--mode", "private", "--repeats", "1", "--min-time", "0", "--warmup", "0", "--max-steps", "1"]
        if framework == "jax":
            args += ["--variant", variant]
    return peak_mib(args)


def largest_batch(a, framework, model, examples):
    """(largest power-of-two batch within the budget, its peak MiB, whether the search
    stopped at the cap), doubling from 16 up to --max-batch and the training split's
    size; (None, None, False) when even 16 does not fit."""
    cap = min(a.max_batch, examples)
    best, batch = (None, None, False), 16
    while batch <= cap:
        mib = probe(a, framework, model, batch)
        print(f"  {model} {framework} B={batch}: {mib} MiB", file=sys.stderr, flush=True)
        if mib is None or mib > a.budget_mib:
            break
        best, batch = (batch, mib, 2 * batch > cap), batch * 2
    return best


def plot_epochs(plt, results, model, path, machine):
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for label, _, _, style in CURVES:
        rows = results[label]
        xs = [r[0] for r in rows]
        ys = [r[1] for r in rows]
        err = [[r[1] - r[2] for r in rows], [r[3] - r[1] for r in rows]]
        ax.errorbar(xs, ys, yerr=err, fmt=style, marker="o", markersize=3, capsize=2, label=label)
    ax.set_xscale("log", base=2)
    ax.set_xticks([r[0] for r in results[CURVES[0][0]]])
    ax.get_xaxis().set_major_formatter(plt.matplotlib.ticker.ScalarFormatter())
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("seconds per epoch (median)")
    ax.set_title(f"{TITLES[model]}\n{machine}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_memory(plt, fits, models, frameworks, path, machine, budget_mib):
    fig, ax = plt.subplots(figsize=(7.2, 4.0))
    width = 0.8 / len(frameworks)
    for i, framework in enumerate(frameworks):
        ys = [fits[model][framework][0] or 0 for model in models]
        capped = [fits[model][framework][2] for model in models]
        xs = [m + (i - (len(frameworks) - 1) / 2) * width for m in range(len(models))]
        bars = ax.bar(xs, ys, width, label=FRAMEWORK_NAMES[framework])
        for bar, y, c in zip(bars, ys, capped):
            ax.annotate(("≥" if c else "") + str(y) if y else "<16", (bar.get_x() + bar.get_width() / 2, max(y, 1)), ha="center",
                        va="bottom", fontsize=6)
    ax.set_yscale("log", base=2)
    ax.set_xticks(range(len(models)))
    ax.set_xticklabels(models)
    ax.set_ylabel("largest batch (power of two)")
    ax.set_title(f"Largest private batch within {budget_mib / 1024:g} GiB of memory\n{machine}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


FRAMEWORK_NAMES = {"dpsgd": "dpsgd", "jax": "JAX", "torch": "Opacus"}


def machine_name():
    with open("/proc/cpuinfo") as f:
        cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), platform.processor())
    return f"{cpu}, {os.cpu_count()} cores"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dpsgd", default="target/release/dpsgd")
    p.add_argument("--python", required=True, help="the peers' Python (with jax, torch and opacus)")
    p.add_argument("--peers", required=True, help="the folder of jax_bench.py and torch_bench.py")
    p.add_argument("--out", default="docs/figures")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--batches", default="20,40,60,80,100,120,256")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seconds", type=float, default=0.5, help="least seconds a timed repeat lasts")
    p.add_argument("--budget-gib", type=float, default=4.0, help="memory budget of the largest-batch search")
    p.add_argument("--max-batch", type=int, default=65536)
    a = p.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a.batches = [int(b) for b in a.batches.split(",")]
    a.budget_mib = a.budget_gib * 1024
    models = a.models.split(",")
    os.makedirs(a.out, exist_ok=True)
    machine = machine_name()
    record = {"machine": machine, "batches": a.batches, "repeats": a.repeats, "budget_gib": a.budget_gib,
              "epoch_seconds": {}, "largest_batch": {}}

    print(f"Per-epoch time, seconds (median of {a.repeats} repeats), {machine}:\n")
    print("| model | split | B | " + " | ".join(label for label, *_ in CURVES) + " |")
    print("|---|---:|---:|" + "---:|" * len(CURVES))
    for model in models:
        examples = split_size(a.dpsgd, model)
        results = epoch_times(a, model, examples)
        record["epoch_seconds"][model] = {"examples": examples, **results}
        plot_epochs(plt, results, model, os.path.join(a.out, f"epoch_time_{model}.png"), machine)
        for i, batch in enumerate(a.batches):
            cells = [f"{results[label][i][1]:.3g}" for label, *_ in CURVES]
            print(f"| {model} | {examples} | {batch} | " + " | ".join(cells) + " |", flush=True)

    frameworks = ["dpsgd", "jax", "torch"]
    print(f"\nLargest private batch (power of two) within {a.budget_gib:g} GiB, peak resident MiB in brackets "
          "(≥: the search stopped at the training split's size):\n")
    print("| model | " + " | ".join(FRAMEWORK_NAMES[f] for f in frameworks) + " |")
    print("|---|" + "---:|" * len(frameworks))
    for model in models:
        examples = record["epoch_seconds"][model]["examples"]
        fits = {f: largest_batch(a, f, model, examples) for f in frameworks}
        record["largest_batch"][model] = fits
        cells = [f"{'≥ ' if capped else ''}{b} ({m:.0f})" if b else "< 16" for b, m, capped in fits.values()]
        print(f"| {model} | " + " | ".join(cells) + " |", flush=True)
    plot_memory(plt, record["largest_batch"], models, frameworks, os.path.join(a.out, "largest_batch.png"), machine,
                a.budget_mib)
    with open(os.path.join(a.out, "seed_figures.json"), "w") as f:
        json.dump(record, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
