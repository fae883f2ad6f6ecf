#!/usr/bin/env python3
"""Writes the numpy test files of `--train-data` to dpsgd-runtime/testdata/npz/: examples
of the FFNN's shape (104 features, labels 0/1) as numpy saves them, and broken ones for
the bad-input table. Run: python3 scripts/make_npz_fixtures.py"""
import os
import numpy as np

out = os.path.join(os.path.dirname(__file__), "..", "dpsgd-runtime", "testdata", "npz")
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(0)


def examples(n):
    x = rng.uniform(-1, 1, size=(n, 104)).astype(np.float32)
    # Labels from a linear rule, so that training can learn them.
    y = (x[:, :10].sum(axis=1) > 0).astype(np.int64)
    return x, y


x, y = examples(400)
np.savez(os.path.join(out, "train.npz"), x=x, y=y)
x, y = examples(100)
np.savez_compressed(os.path.join(out, "test_compressed.npz"), x=x.astype(np.float64), y=y.astype(np.int32))
np.savez(os.path.join(out, "no_labels.npz"), x=x)
np.savez(os.path.join(out, "half_precision.npz"), x=x.astype(np.float16), y=y)
np.savez(os.path.join(out, "ten_features.npz"), x=x[:, :10], y=y)
np.save(os.path.join(out, "x_only.npy"), x)
with open(os.path.join(out, "train.npz"), "rb") as f:
    whole = f.read()
with open(os.path.join(out, "truncated.npz"), "wb") as f:
    f.write(whole[: len(whole) // 2])
