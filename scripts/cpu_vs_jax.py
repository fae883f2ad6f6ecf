"""Times dpsgd beside the JAX versions of the paper's models, in one sitting on one
machine, and prints a markdown table of examples per second and ratios.

    cargo build --release
    python3 scripts/cpu_vs_jax.py --jax-python PEERS/bin/python --jax-bench PEERS/jax_bench.py

The JAX side is the peer benchmark of the paper's models (vmap + jit); its private
step comes in two variants, and each model uses the faster on CPUs (`einsum` for the
logistic regression, the embedding net and the LSTM, the paper's for the others).
Medians of a few timed repeats; machines are shared, so read ratios, not digits.
"""

import argparse
import json
import subprocess
import sys

# dpsgd's model name -> (JAX's name, JAX's faster private variant)
MODELS = {
    "logreg": ("logreg", "einsum"),
    "ffnn": ("ffnn", "paper"),
    "mnist-cnn": ("cnn", "paper"),
    "embed": ("embed", "einsum"),
    "lstm": ("lstm", "einsum"),
}


def dpsgd(binary, model, batch, private, repeats, seconds):
    args = [binary, "bench", "--model", model, "--batch-size", str(batch), "--json",
            "--repeats", str(repeats), "--min-seconds", str(seconds)]
    if not private:
        args.append("--no-privacy")
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    report = json.loads(out)
    return report["examples_per_second"]["median"], report.get("peak_memory_bytes")


def jax(python, script, model, batch, private, variant, repeats, seconds):
    args = [python, script, "--model", model, "--batch", str(batch), "--repeats", str(repeats),
            "--min-time", str(seconds), "--mode", "private" if private else "nonprivate", "--json", "/dev/stdout"]
    if private:
        args += ["--variant", variant]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    line = [l for l in out.splitlines() if l.startswith("{")][-1]
    return json.loads(line)["ex_per_s_median"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dpsgd", default="target/release/dpsgd")
    p.add_argument("--jax-python", required=True)
    p.add_argument("--jax-bench", required=True)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--batches", default="20,60,120,256")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seconds", type=float, default=1.0)
    a = p.parse_args()
    print("| model | B | dpsgd private | dpsgd non-private | priv/non-priv time | JAX private | JAX non-private "
          "| dpsgd priv ÷ JAX priv | dpsgd priv ÷ JAX non-priv | dpsgd non-priv ÷ JAX non-priv | dpsgd peak MiB (priv) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for model in a.models.split(","):
        jax_model, variant = MODELS[model]
        for batch in map(int, a.batches.split(",")):
            ours_p, memory = dpsgd(a.dpsgd, model, batch, True, a.repeats, a.seconds)
            ours_n, _ = dpsgd(a.dpsgd, model, batch, False, a.repeats, a.seconds)
            jax_p = jax(a.jax_python, a.jax_bench, jax_model, batch, True, variant, a.repeats, a.seconds)
            jax_n = jax(a.jax_python, a.jax_bench, jax_model, batch, False, variant, a.repeats, a.seconds)
            mib = f"{memory / 2**20:.0f}" if memory else "?"
            print(f"| {model} | {batch} | {ours_p:,.0f} | {ours_n:,.0f} | {ours_n / ours_p:.2f} | {jax_p:,.0f} "
                  f"| {jax_n:,.0f} | {ours_p / jax_p:.1f} | {ours_p / jax_n:.2f} | {ours_n / jax_n:.2f} | {mib} |",
                  flush=True)


if __name__ == "__main__":
    sys.exit(main())
