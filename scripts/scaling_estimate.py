#!/usr/bin/env python3
"""A paper estimate of data-parallel private training on many nodes.

For each model, the compute time of one step's share on a node is measured here
(`dpsgd bench`, private, at the local batch each node gets: the global batch divided
by the node count); the all-reduce's time is the ring all-reduce's cost model,
2 (W-1)/W * bytes / bandwidth + 2 (W-1) * latency, for the bytes dpsgd all-reduces
per step (every parameter's float plus the loss and the stop flag). The node is this
machine; the network is stated by the flags. Prints a Markdown table.

    python3 scripts/scaling_estimate.py --dpsgd target/release/dpsgd
"""

import argparse
import json
import subprocess

MODELS = ["logreg", "ffnn", "mnist-cnn", "embed", "lstm", "wrn16-4"]


def bench(dpsgd, model, batch, repeats):
    out = subprocess.run(
        [dpsgd, "bench", "--model", model, "--batch-size", str(batch), "--json",
         "--repeats", str(repeats), "--min-seconds", "0.3", "--warmup-seconds", "0.3"],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def ring_allreduce_seconds(nbytes, nodes, bandwidth_bytes, latency):
    if nodes == 1:
        return 0.0
    return 2 * (nodes - 1) / nodes * nbytes / bandwidth_bytes + 2 * (nodes - 1) * latency


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dpsgd", default="target/release/dpsgd")
    p.add_argument("--global-batch", type=int, default=4096)
    p.add_argument("--nodes", type=int, nargs="+", default=[8, 64, 512])
    p.add_argument("--gbit", type=float, default=100.0, help="network bandwidth, Gb/s")
    p.add_argument("--latency-us", type=float, default=5.0, help="per message, microseconds")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--models", nargs="+", default=MODELS)
    args = p.parse_args()
    bandwidth = args.gbit * 1e9 / 8
    latency = args.latency_us * 1e-6

    print(f"Global batch {args.global_batch}; network {args.gbit:g} Gb/s, {args.latency_us:g} us per message; "
          "each node this machine (its cores on one process).\n")
    header = "| model | parameters | all-reduced per step |"
    for w in args.nodes:
        header += f" {w} nodes: compute / all-reduce (ms) |"
    print(header)
    print("|" + "---|" * (3 + len(args.nodes)))
    for model in args.models:
        cells, params = [], None
        for w in args.nodes:
            local = max(1, args.global_batch // w)
            r = bench(args.dpsgd, model, local, args.repeats)
            params = r["params"]
            nbytes = 4 * (params + 2)
            compute = local / r["examples_per_second"]["median"]
            comm = ring_allreduce_seconds(nbytes, w, bandwidth, latency)
            mark = " **comm**" if comm > compute else ""
            cells.append(f"{1e3 * compute:.2f} / {1e3 * comm:.2f}{mark}")
        nbytes = 4 * (params + 2)
        size = f"{nbytes / 1e6:.2f} MB" if nbytes >= 1e5 else f"{nbytes / 1e3:.1f} kB"
        print(f"| {model} | {params:,} | {size} | " + " | ".join(cells) + " |")
    print("\n**comm**: the all-reduce takes longer than the compute it follows.")


if __name__ == "__main__":
    main()
