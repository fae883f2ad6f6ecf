"""Training-step throughput of the JAX and PyTorch/Opacus peers of WRN-16-4 and the
TextTransformer, private (noise multiplier 1.1, clipping norm 1.0) and not, beside
`dpsgd bench` in the same sitting. Each configuration runs in a fresh process:
the first step (compilation) and one more are not timed, then steps are timed until
`--min-seconds` have passed (at least three); the median step time gives examples/s.

    python scripts/peers/bench_peers.py --models transformer --batches 16 64 256
    python scripts/peers/bench_peers.py --models wrn16-4 --batches 16 64

JAX: `vmap` of the per-example gradient with the clipping inside, the sum, noise and
update under one `jit` (the seed paper's recipe). Opacus: `make_private` with ghost
clipping (`grad_sample_mode="ghost"`; the standardized convolutions, which it has no
sampler for, through functorch). Prints one JSON line per configuration, ours included.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import peer_models as pm  # noqa: E402

DPSGD = os.path.join(os.path.dirname(__file__), "..", "..", "target", "release", "dpsgd")
CLIP, SIGMA, LR = 1.0, 1.1, 0.1


def timed(step, min_seconds):
    step()
    step()
    times, start = [], time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times), len(times)


def jax_run(model, batch, private, min_seconds):
    import jax
    import jax.numpy as jnp
    from jax import lax
    params = pm_params_jax(model, jnp)
    logits = (lambda p, x: pm.jax_wrn_logits(jnp, lax, p, x)) if model == "wrn16-4" else \
        (lambda p, x: pm.jax_transformer_logits(jnp, jax, p, x))
    loss = lambda p, x, y: jax.nn.logsumexp(logits(p, x)) - logits(p, x)[y]

    def clipped(p, x, y):
        g = jax.grad(loss)(p, x, y)
        norm = jnp.sqrt(sum(jnp.sum(v * v) for v in jax.tree_util.tree_leaves(g)))
        return jax.tree_util.tree_map(lambda v: v * jnp.minimum(1.0, CLIP / norm), g)

    @jax.jit
    def private_step(p, x, y, key):
        g = jax.tree_util.tree_map(lambda v: v.sum(0), jax.vmap(clipped, (None, 0, 0))(p, x, y))
        leaves, tree = jax.tree_util.tree_flatten(g)
        keys = jax.random.split(key, len(leaves))
        noisy = [v + SIGMA * CLIP * jax.random.normal(k, v.shape, v.dtype) for v, k in zip(leaves, keys)]
        g = jax.tree_util.tree_unflatten(tree, noisy)
        return jax.tree_util.tree_map(lambda a, b: a - LR * b / x.shape[0], p, g)

    @jax.jit
    def plain_step(p, x, y, key):
        g = jax.grad(lambda p: jax.vmap(loss, (None, 0, 0))(p, x, y).mean())(p)
        return jax.tree_util.tree_map(lambda a, b: a - LR * b, p, g)

    x, y = pm.random_batch(model, batch)
    x, y = jnp.asarray(x if model != "wrn16-4" else x.astype(np.float32)), jnp.asarray(y)
    step_fn = private_step if private else plain_step
    state = {"p": params, "key": jax.random.PRNGKey(0)}

    def step():
        state["key"], k = jax.random.split(state["key"])
        state["p"] = step_fn(state["p"], x, y, k)
        jax.block_until_ready(state["p"])

    return timed(step, min_seconds), {"jax": jax.__version__}


def pm_params_jax(model, jnp):
    import torch
    net = pm.torch_models()[model]()
    return {k: jnp.asarray(v.detach().numpy()) for k, v in net.state_dict().items()}


def opacus_run(model, batch, private, min_seconds, bf16=False):
    import opacus
    import torch
    net = pm.torch_models()[model]()
    x, y = pm.random_batch(model, batch)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    sgd = torch.optim.SGD(net.parameters(), lr=LR)
    criterion = torch.nn.CrossEntropyLoss()
    if private:
        data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xt, yt), batch_size=batch)
        net, sgd, criterion, _ = opacus.PrivacyEngine().make_private(
            module=net, optimizer=sgd, data_loader=data, criterion=criterion, noise_multiplier=SIGMA,
            max_grad_norm=CLIP, poisson_sampling=False, grad_sample_mode="ghost")

    def step():
        sgd.zero_grad(set_to_none=True)
        # bf16: PyTorch's mixed precision on the CPU (oneDNN on AMX where the CPU has it).
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = criterion(net(xt), yt)
        loss.backward()
        sgd.step()

    return timed(step, min_seconds), {"torch": torch.__version__, "opacus": opacus.__version__}


def ours_run(model, batch, private, min_seconds, products="f32"):
    cmd = [DPSGD, "bench", "--model", model, "--batch-size", str(batch), "--json", "--repeats", "5",
           "--min-seconds", str(min_seconds / 5), "--products", products]
    if not private:
        cmd.append("--no-privacy")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def one(args):
    run = {"jax": jax_run, "opacus": opacus_run,
           "opacus-bf16": lambda *a: opacus_run(*a, bf16=True)}[args.framework]
    (seconds, steps), versions = run(args.model, args.batch, args.mode == "private", args.min_seconds)
    print(json.dumps({"framework": args.framework, "model": args.model, "batch": args.batch, "mode": args.mode,
                      "examples_per_s": args.batch / seconds, "median_step_s": seconds, "steps": steps, **versions}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--models", nargs="+", default=["transformer", "wrn16-4"])
    p.add_argument("--batches", nargs="+", type=int, default=[16, 64, 256])
    p.add_argument("--frameworks", nargs="+", default=["ours", "jax", "opacus"])
    p.add_argument("--min-seconds", type=float, default=10.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--framework", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    p.add_argument("--mode", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        import torch
        torch.set_num_threads(args.threads)
        return one(args)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), RAYON_NUM_THREADS=str(args.threads),
               XLA_FLAGS=f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={args.threads}")
    for model in args.models:
        for batch in args.batches:
            for mode in ("private", "nonprivate"):
                for framework in args.frameworks:
                    if framework in ("ours", "ours-bf16"):
                        products = "bf16" if framework == "ours-bf16" else "f32"
                        r = ours_run(model, batch, mode == "private", args.min_seconds, products)
                        name = "dpsgd" if products == "f32" else "dpsgd-bf16"
                        print(json.dumps({"framework": name, "model": model, "batch": batch, "mode": mode,
                                          "examples_per_s": r["examples_per_second"]["median"]}), flush=True)
                        continue
                    cmd = [sys.executable, __file__, "--one", "--framework", framework, "--model", model,
                           "--batch", str(batch), "--mode", mode, "--min-seconds", str(args.min_seconds),
                           "--threads", str(args.threads)]
                    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
                    line = done.stdout.strip().splitlines()[-1:] or [json.dumps(
                        {"framework": framework, "model": model, "batch": batch, "mode": mode,
                         "error": done.stderr.strip().splitlines()[-1:]})]
                    print(line[0], flush=True)


if __name__ == "__main__":
    main()
