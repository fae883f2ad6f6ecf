"""Checks `dpsgd grads` against JAX: per-example losses, gradients, norms and the
clipped sum of the FFNN (fc1: 104 -> 50, relu, fc2: 50 -> 2, softmax cross-entropy),
with the weights in PyTorch's layout (y = x W^T + b), as `dpsgd init` writes them.

    cargo run --release -- init --model ffnn --seed 1 --out /tmp/p.safetensors
    python scripts/check_grads_with_jax.py /tmp/p.safetensors   # needs jax and numpy

It writes a random batch, runs `dpsgd grads` on it, and compares.
"""

import json
import struct
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64}


def read(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    body = data[8 + n:]
    return {k: np.frombuffer(body[v["data_offsets"][0]:v["data_offsets"][1]], DTYPES[v["dtype"]]).reshape(v["shape"])
            for k, v in header.items()}


def write(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        raw = np.ascontiguousarray(array).tobytes()
        dtype = {np.dtype(v): k for k, v in DTYPES.items()}[array.dtype]
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def loss(params, x, y):
    h = jax.nn.relu(x @ params["fc1.weight"].T + params["fc1.bias"])
    z = h @ params["fc2.weight"].T + params["fc2.bias"]
    return jax.nn.logsumexp(z) - z[y]


def main():
    params_path = sys.argv[1]
    params = {k: jnp.asarray(v, jnp.float64) for k, v in read(params_path).items()}
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 104)).astype(np.float32) * 2
    y = rng.integers(0, 2, size=16).astype(np.int64)
    write("/tmp/dpsgd-jax-batch.safetensors", {"x": x, "y": y})
    subprocess.run(["cargo", "run", "--release", "-q", "--", "grads", "--model", "ffnn", "--params", params_path,
                    "--batch", "/tmp/dpsgd-jax-batch.safetensors", "--out", "/tmp/dpsgd-jax-out.safetensors",
                    "--max-grad-norm", "1.0"], check=True)
    ours = read("/tmp/dpsgd-jax-out.safetensors")
    xs = jnp.asarray(x, jnp.float64)
    losses = jax.vmap(loss, (None, 0, 0))(params, xs, y)
    grads = jax.vmap(jax.grad(loss), (None, 0, 0))(params, xs, y)
    norms = jnp.sqrt(sum(jnp.sum(g.reshape(16, -1) ** 2, axis=1) for g in grads.values()))
    factors = jnp.minimum(1.0, 1.0 / norms)
    worst = max(float(jnp.max(jnp.abs(losses - ours["loss"]))), float(jnp.max(jnp.abs(norms - ours["norm"]))))
    for name, g in grads.items():
        worst = max(worst, float(jnp.max(jnp.abs(g - ours["grad." + name]))))
        clipped = jnp.tensordot(factors, g, axes=1)
        worst = max(worst, float(jnp.max(jnp.abs(clipped - ours["clipped_sum." + name]))))
    print(f"largest difference from JAX over losses, norms, gradients and clipped sums: {worst:.3e}")
    sys.exit(0 if worst < 1e-5 else 1)


if __name__ == "__main__":
    main()
