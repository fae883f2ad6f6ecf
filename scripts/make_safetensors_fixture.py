"""Writes dpsgd-runtime/testdata/ffnn_torch.safetensors with the Python `safetensors`
package: the FFNN's parameters in PyTorch's names and layouts, each value a formula of
its PyTorch indices that tests/interop.rs computes again, so that reading the file
checks dpsgd's reader and layouts against another implementation of the format."""

import numpy as np
from safetensors.numpy import save_file


def weight(out_features, in_features, salt):
    o, i = np.meshgrid(np.arange(out_features), np.arange(in_features), indexing="ij")
    return (((o * 131 + i * 7 + salt) % 97) - 48).astype(np.float32) / 64


def bias(n, salt):
    return ((np.arange(n) * 5 + salt) % 11 - 5).astype(np.float32) / 8


tensors = {
    "fc1.weight": weight(50, 104, 1),
    "fc1.bias": bias(50, 2),
    "fc2.weight": weight(2, 50, 3),
    "fc2.bias": bias(2, 4),
}
save_file(tensors, "dpsgd-runtime/testdata/ffnn_torch.safetensors", metadata={"format": "pt"})
