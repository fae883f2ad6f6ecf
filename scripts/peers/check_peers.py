"""Checks that the JAX and PyTorch/Opacus peers of WRN-16-4 and the TextTransformer
compute what dpsgd computes, on one batch with the noise off: per-example losses and
gradients (JAX's vmap(grad); Opacus's per-sample gradients, hooks with functorch for
the standardized convolutions) and the clipped sum (Opacus's ghost clipping), all in
f64, from the parameters `dpsgd init` writes.

    cargo build --release
    python scripts/peers/check_peers.py            # needs jax, torch, opacus

Exits non-zero when any difference exceeds 1e-6 relative to the largest gradient entry.
"""

import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import peer_models as pm  # noqa: E402
from check_grads_with_jax import read, write  # noqa: E402

DPSGD = os.path.join(os.path.dirname(__file__), "..", "..", "target", "release", "dpsgd")
BATCH, CLIP = 3, 1.0


def ours(model, tmp):
    params, batch, out = (os.path.join(tmp, f) for f in ("p.safetensors", "b.safetensors", "g.safetensors"))
    subprocess.run([DPSGD, "init", "--model", model, "--seed", "3", "--out", params], check=True, capture_output=True)
    x, y = pm.random_batch(model, BATCH, seed=5)
    write(batch, {"x": x, "y": y})
    subprocess.run([DPSGD, "grads", "--model", model, "--params", params, "--batch", batch, "--out", out,
                    "--max-grad-norm", str(CLIP)], check=True, capture_output=True)
    return read(params), x, y, read(out)


def jax_side(model, params, x, y):
    import jax
    import jax.numpy as jnp
    from jax import lax
    jax.config.update("jax_enable_x64", True)
    p = {k: jnp.asarray(v, jnp.float64) for k, v in params.items()}
    if model == "wrn16-4":
        logits = lambda p, x: pm.jax_wrn_logits(jnp, lax, p, x)
        xs = jnp.asarray(x, jnp.float64)
    else:
        logits = lambda p, x: pm.jax_transformer_logits(jnp, jax, p, x)
        xs = jnp.asarray(x)
    loss = lambda p, x, y: jax.nn.logsumexp(logits(p, x)) - logits(p, x)[y]
    losses = jax.vmap(loss, (None, 0, 0))(p, xs, jnp.asarray(y))
    grads = jax.vmap(jax.grad(loss), (None, 0, 0))(p, xs, jnp.asarray(y))
    return np.asarray(losses), {k: np.asarray(v) for k, v in grads.items()}


def torch_side(model, params, x, y):
    import torch
    from opacus import GradSampleModule, PrivacyEngine
    torch.set_default_dtype(torch.float64)
    net = pm.torch_models()[model]()
    net.load_state_dict({k: torch.from_numpy(np.asarray(v, np.float64)) for k, v in params.items()})
    xt = torch.from_numpy(x.astype(np.float64)) if model == "wrn16-4" else torch.from_numpy(x)
    yt = torch.from_numpy(y)
    ce = torch.nn.CrossEntropyLoss(reduction="sum")

    # Per-sample gradients: hooks, with functorch for the leaf modules it has no sampler for.
    hooked = GradSampleModule(net, loss_reduction="sum")
    ce(hooked(xt), yt).backward()
    per_example = {k: p.grad_sample.detach().numpy() for k, p in hooked._module.named_parameters()}
    hooked._close()

    # The clipped sum through ghost clipping, noise off: p.grad = sum_i clip(g_i) / B.
    net = pm.torch_models()[model]()
    net.load_state_dict({k: torch.from_numpy(np.asarray(v, np.float64)) for k, v in params.items()})
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xt, yt), batch_size=BATCH)
    sgd = torch.optim.SGD(net.parameters(), lr=1.0)
    ghost, optimizer, criterion, _ = PrivacyEngine().make_private(
        module=net, optimizer=sgd, data_loader=data, criterion=torch.nn.CrossEntropyLoss(),
        noise_multiplier=0.0, max_grad_norm=CLIP, poisson_sampling=False, grad_sample_mode="ghost")
    optimizer.zero_grad()
    criterion(ghost(xt), yt).backward()
    optimizer.pre_step()
    clipped = {k: p.grad.detach().numpy() * BATCH for k, p in ghost._module.named_parameters()}
    return per_example, clipped


def main():
    worst_all = 0.0
    for model in ("transformer", "wrn16-4"):
        with tempfile.TemporaryDirectory() as tmp:
            params, x, y, out = ours(model, tmp)
        jax_losses, jax_grads = jax_side(model, params, x, y)
        torch_grads, torch_clipped = torch_side(model, params, x, y)
        scale = max(float(np.abs(out["grad." + k]).max()) for k in params)
        norms = np.sqrt(sum((out["grad." + k].reshape(BATCH, -1) ** 2).sum(axis=1) for k in params))
        factors = np.minimum(1.0, CLIP / norms)
        diffs = {
            "losses (JAX)": np.abs(jax_losses - out["loss"]).max(),
            "per-example gradients (JAX)": max(np.abs(jax_grads[k] - out["grad." + k]).max() for k in params),
            "per-example gradients (Opacus hooks)": max(np.abs(torch_grads[k] - out["grad." + k]).max() for k in params),
            "clipped sum (Opacus ghost clipping)": max(np.abs(torch_clipped[k] - out["clipped_sum." + k]).max()
                                                       for k in params),
            "clipped sum (ours against our per-example gradients)": max(
                np.abs(np.tensordot(factors, out["grad." + k], axes=1) - out["clipped_sum." + k]).max() for k in params),
        }
        print(f"{model}: {len(params)} tensors, largest gradient entry {scale:.3e}, norms {np.round(norms, 4)}")
        for what, d in diffs.items():
            print(f"  {what}: largest difference {d:.2e}")
            worst_all = max(worst_all, d / scale)
    print(f"largest difference relative to the largest gradient entry: {worst_all:.2e}")
    sys.exit(0 if worst_all < 1e-6 else 1)


if __name__ == "__main__":
    main()
