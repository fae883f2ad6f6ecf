"""Times dpsgd beside the peers of the seed paper's models, in one sitting on one
machine, and prints a markdown table of examples per second (median [min, max] of
the timed repeats) and ratios.

    cargo build --release
    python3 scripts/cpu_vs_peers.py --python PEERS/bin/python --peers PEERS_DIR

The peers are the shared peer benchmarks of the paper's models (`PEERS_DIR` holds
`jax_bench.py` and `torch_bench.py`): JAX with `vmap` + `jit`, private and not (its
private step comes in two variants; each model uses the faster on CPUs, `einsum` for
the logistic regression, the embedding net and the LSTM, the paper's for the
others), eager PyTorch non-private and Opacus private (the LSTM through Opacus'
`DPLSTM`). `--frameworks` leaves some out. Every configuration runs in a fresh
process, one after the other, so that they do not share the cores; machines are
shared, so read ratios, not digits.
"""

import argparse
import json
import os
import subprocess
import sys

# dpsgd's model name -> (the peers' name, JAX's faster private variant)
MODELS = {
    "logreg": ("logreg", "einsum"),
    "ffnn": ("ffnn", "paper"),
    "mnist-cnn": ("cnn", "paper"),
    "embed": ("embed", "einsum"),
    "lstm": ("lstm", "einsum"),
}


class Rate:
    """Examples per second of one configuration: median, min and max of its repeats."""

    def __init__(self, median, low, high):
        self.median, self.low, self.high = median, low, high

    def __str__(self):
        return f"{self.median:,.0f} [{self.low:,.0f}, {self.high:,.0f}]"


def dpsgd(binary, model, batch, private, repeats, seconds, products):
    args = [binary, "bench", "--model", model, "--batch-size", str(batch), "--json",
            "--repeats", str(repeats), "--min-seconds", str(seconds), "--products", products]
    if not private:
        args.append("--no-privacy")
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    report = json.loads(out)
    e = report["examples_per_second"]
    return Rate(e["median"], e["min"], e["max"]), report.get("peak_memory_bytes")


def peer(python, script, model, batch, private, variant, repeats, seconds):
    args = [python, script, "--model", model, "--batch", str(batch), "--repeats", str(repeats),
            "--min-time", str(seconds), "--mode", "private" if private else "nonprivate", "--json", "/dev/stdout"]
    if variant:
        args += ["--variant", variant]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    r = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
    return Rate(r["ex_per_s_median"], r["ex_per_s_min"], r["ex_per_s_max"])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dpsgd", default="target/release/dpsgd")
    p.add_argument("--python", required=True, help="the peers' Python (with jax, torch and opacus)")
    p.add_argument("--peers", required=True, help="the folder of jax_bench.py and torch_bench.py")
    p.add_argument("--frameworks", default="jax,torch", help="peers to run: jax, torch (PyTorch and Opacus)")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--batches", default="20,64,256")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--products", default="f32", help="dpsgd's products: f32, or bf16 (AMX, where the CPU has it)")
    a = p.parse_args()
    frameworks = a.frameworks.split(",")
    unknown = set(frameworks) - {"jax", "torch"}
    if unknown:
        sys.exit(f"unknown frameworks: {', '.join(sorted(unknown))} (jax, torch)")
    columns = ["dpsgd private", "dpsgd non-private", "priv/non-priv time"]
    if "jax" in frameworks:
        columns += ["JAX private", "JAX non-private"]
    if "torch" in frameworks:
        columns += ["Opacus private", "PyTorch non-private"]
    columns += ["dpsgd priv ÷ best peer priv", "dpsgd priv ÷ best peer non-priv", "dpsgd peak MiB (priv)"]
    print("| model | B | " + " | ".join(columns) + " |")
    print("|---|---:|" + "---:|" * len(columns))
    for model in a.models.split(","):
        name, variant = MODELS[model]
        for batch in map(int, a.batches.split(",")):
            ours_p, memory = dpsgd(a.dpsgd, model, batch, True, a.repeats, a.seconds, a.products)
            ours_n, _ = dpsgd(a.dpsgd, model, batch, False, a.repeats, a.seconds, a.products)
            cells = [ours_p, ours_n, f"{ours_n.median / ours_p.median:.2f}"]
            private, nonprivate = [], []
            for framework in frameworks:
                script = os.path.join(a.peers, f"{framework}_bench.py")
                v = variant if framework == "jax" else None
                peer_p = peer(a.python, script, name, batch, True, v, a.repeats, a.seconds)
                peer_n = peer(a.python, script, name, batch, False, None, a.repeats, a.seconds)
                cells += [peer_p, peer_n]
                private.append(peer_p.median)
                nonprivate.append(peer_n.median)
            best_p, best_n = max(private), max(nonprivate)
            mib = f"{memory / 2**20:.0f}" if memory else "?"
            cells += [f"{ours_p.median / best_p:.1f}", f"{ours_p.median / best_n:.2f}", mib]
            print(f"| {model} | {batch} | " + " | ".join(map(str, cells)) + " |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
