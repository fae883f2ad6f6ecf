"""WRN-16-4 and the TextTransformer of `models/` (dpsgd), written again in JAX and in
PyTorch with the same parameter names and layouts (PyTorch's, as `dpsgd init` writes
them), so that one safetensors file of parameters runs in all three.

What must match dpsgd exactly:
- convolutions pad by TensorFlow's SAME rule (a stride-2 3x3 convolution of an even
  image pads one pixel at the bottom and right only; PyTorch's `padding=1` would pad
  both sides), images are [channels, height, width];
- weight standardization: each output channel's weights to mean 0 and (biased)
  variance 1, plus 1e-5 under the square root, as the normalizations;
- GroupNorm/LayerNorm with eps 1e-5 and affine parameters;
- attention: head h takes columns h*16..(h+1)*16 of the queries, keys and values,
  scores scaled by 1/sqrt(16), no attention to keys whose token id is 0 (padding);
  GELU in its exact (erf) form; the mean over positions after the last LayerNorm.
"""

import math

import numpy as np

WRN_GROUPS = [(16, 64, 1), (64, 128, 2), (128, 256, 2)]  # (in, out, stride) of each group
VOCAB, POSITIONS, WIDTH, HEADS, MLP = 10_004, 256, 64, 4, 256
EPS = 1e-5


def same_padding(size, kernel, stride):
    """(before, after) padding of TensorFlow's SAME rule."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def wrn_blocks():
    """(prefix, in, out, stride, has_shortcut) of each residual block."""
    blocks = []
    for g, (cin, cout, stride) in enumerate(WRN_GROUPS, start=1):
        blocks.append((f"g{g}b1", cin, cout, stride, True))
        blocks.append((f"g{g}b2", cout, cout, 1, False))
    return blocks


# ---------------------------------------------------------------------------- JAX

def jax_wrn_logits(jnp, lax, p, x):
    """Logits of one example, x: [3, 32, 32]."""

    def conv(name, h, stride):
        w = p[name + ".weight"]
        m = w.mean(axis=(1, 2, 3), keepdims=True)
        v = ((w - m) ** 2).mean(axis=(1, 2, 3), keepdims=True)
        w = (w - m) / jnp.sqrt(v + EPS)
        k = w.shape[-1]
        pad = [same_padding(h.shape[1], k, stride), same_padding(h.shape[2], k, stride)]
        y = lax.conv_general_dilated(h[None], w, (stride, stride), pad, dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return y[0] + p[name + ".bias"][:, None, None]

    def gn(name, h, groups=16):
        c = h.shape[0]
        g = h.reshape(groups, -1)
        g = (g - g.mean(axis=1, keepdims=True)) / jnp.sqrt(g.var(axis=1, keepdims=True) + EPS)
        return g.reshape(h.shape) * p[name + ".weight"][:, None, None] + p[name + ".bias"][:, None, None]

    relu = lambda v: jnp.maximum(v, 0)
    h = conv("conv0", x, 1)
    for name, cin, cout, stride, shortcut in wrn_blocks():
        a = relu(gn(name + "_gn1", h))
        inner = conv(name + "_conv2", relu(gn(name + "_gn2", conv(name + "_conv1", a, stride))), 1)
        h = inner + (conv(name + "_shortcut", a, stride) if shortcut else h)
    h = relu(gn("gn", h)).mean(axis=(1, 2))
    return h @ p["fc.weight"].T + p["fc.bias"]


def jax_transformer_logits(jnp, jax, p, x):
    """Logits of one example, x: [256] token ids."""

    def ln(name, h):
        h = (h - h.mean(axis=-1, keepdims=True)) / jnp.sqrt(h.var(axis=-1, keepdims=True) + EPS)
        return h * p[name + ".weight"] + p[name + ".bias"]

    def linear(name, h):
        return h @ p[name + ".weight"].T + p[name + ".bias"]

    keep = x != 0  # padding is hidden from attention

    def attention(q, k, v):
        w = WIDTH // HEADS
        split = lambda t: t.reshape(POSITIONS, HEADS, w).transpose(1, 0, 2)
        q, k, v = split(q), split(k), split(v)
        scores = jnp.where(keep, q @ k.transpose(0, 2, 1) / math.sqrt(w), -jnp.inf)
        probs = jnp.where(keep.any(), jax.nn.softmax(scores, axis=-1), 0.0)
        return (probs @ v).transpose(1, 0, 2).reshape(POSITIONS, WIDTH)

    h = p["embedding.weight"][x] + p["positions.weight"]
    for b in ("b1", "b2"):
        a = ln(b + "_ln1", h)
        h = h + linear(b + "_out", attention(linear(b + "_query", a), linear(b + "_key", a), linear(b + "_value", a)))
        h = h + linear(b + "_mlp2", jax.nn.gelu(linear(b + "_mlp1", ln(b + "_ln2", h)), approximate=False))
    return linear("fc", ln("ln", h).mean(axis=0))


# ------------------------------------------------------------------------ PyTorch

def torch_models():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class StandardizedConv2d(nn.Module):
        """A convolution with standardized weights and SAME padding (a leaf module:
        Opacus computes its per-example gradients with functorch)."""

        def __init__(self, cin, cout, kernel, stride):
            super().__init__()
            self.stride, self.kernel = stride, kernel
            self.weight = nn.Parameter(torch.empty(cout, cin, kernel, kernel))
            self.bias = nn.Parameter(torch.zeros(cout))
            nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

        def forward(self, x):
            w = self.weight
            m = w.mean(dim=(1, 2, 3), keepdim=True)
            v = w.var(dim=(1, 2, 3), unbiased=False, keepdim=True)
            w = (w - m) / torch.sqrt(v + EPS)
            (top, bottom), (left, right) = (same_padding(x.shape[2], self.kernel, self.stride),
                                            same_padding(x.shape[3], self.kernel, self.stride))
            return F.conv2d(F.pad(x, (left, right, top, bottom)), w, self.bias, self.stride)

    class Wrn16_4(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv0 = StandardizedConv2d(3, 16, 3, 1)
            for name, cin, cout, stride, shortcut in wrn_blocks():
                setattr(self, name + "_gn1", nn.GroupNorm(16, cin, eps=EPS))
                setattr(self, name + "_conv1", StandardizedConv2d(cin, cout, 3, stride))
                setattr(self, name + "_gn2", nn.GroupNorm(16, cout, eps=EPS))
                setattr(self, name + "_conv2", StandardizedConv2d(cout, cout, 3, 1))
                if shortcut:
                    setattr(self, name + "_shortcut", StandardizedConv2d(cin, cout, 1, stride))
            self.gn = nn.GroupNorm(16, 256, eps=EPS)
            self.fc = nn.Linear(256, 10)

        def forward(self, x):
            h = self.conv0(x)
            for name, _, _, _, shortcut in wrn_blocks():
                m = lambda suffix: getattr(self, name + suffix)
                a = F.relu(m("_gn1")(h))
                inner = m("_conv2")(F.relu(m("_gn2")(m("_conv1")(a))))
                h = inner + (m("_shortcut")(a) if shortcut else h)
            return self.fc(F.relu(self.gn(h)).mean(dim=(2, 3)))

    class TextTransformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(VOCAB, WIDTH)
            self.positions = nn.Embedding(POSITIONS, WIDTH)
            for b in ("b1", "b2"):
                setattr(self, b + "_ln1", nn.LayerNorm(WIDTH, eps=EPS))
                for part in ("query", "key", "value", "out"):
                    setattr(self, f"{b}_{part}", nn.Linear(WIDTH, WIDTH))
                setattr(self, b + "_ln2", nn.LayerNorm(WIDTH, eps=EPS))
                setattr(self, b + "_mlp1", nn.Linear(WIDTH, MLP))
                setattr(self, b + "_mlp2", nn.Linear(MLP, WIDTH))
            self.ln = nn.LayerNorm(WIDTH, eps=EPS)
            self.fc = nn.Linear(WIDTH, 2)

        def attention(self, q, k, v, keep):
            b, t, _ = q.shape
            w = WIDTH // HEADS
            split = lambda u: u.view(b, t, HEADS, w).transpose(1, 2)
            scores = (split(q) @ split(k).transpose(2, 3) / math.sqrt(w)).masked_fill(~keep[:, None, None, :], -math.inf)
            probs = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)  # rows of padding only: zeros
            return (probs @ split(v)).transpose(1, 2).reshape(b, t, WIDTH)

        def forward(self, x):
            keep = x != 0  # padding is hidden from attention
            # Positions as an embedding lookup, so that Opacus has a per-example gradient for them.
            ids = torch.arange(x.shape[1], device=x.device).repeat(x.shape[0], 1)
            h = self.embedding(x) + self.positions(ids)
            for b in ("b1", "b2"):
                m = lambda suffix: getattr(self, b + suffix)
                a = m("_ln1")(h)
                h = h + m("_out")(self.attention(m("_query")(a), m("_key")(a), m("_value")(a), keep))
                h = h + m("_mlp2")(F.gelu(m("_mlp1")(m("_ln2")(h))))
            return self.fc(self.ln(h).mean(dim=1))

    return {"wrn16-4": Wrn16_4, "transformer": TextTransformer}


def random_batch(model, batch, seed=0):
    """x, y of the model's input shape (float32 images, int64 token ids), int64 labels."""
    rng = np.random.default_rng(seed)
    if model == "wrn16-4":
        x = rng.uniform(-1, 1, size=(batch, 3, 32, 32)).astype(np.float32)
        y = rng.integers(0, 10, size=batch)
    else:
        x = rng.integers(1, VOCAB, size=(batch, POSITIONS))
        x[0, :40] = 0  # one review padded at the front, as IMDB's shorter ones are
        y = rng.integers(0, 2, size=batch)
    return x, y.astype(np.int64)
