// Element-wise, reduction, loss, clipping, noise and optimizer kernels of the CUDA
// engine. Compiled at run time by NVRTC, once per engine, with `real` defined as the
// engine's float type (float or double); the GEMMs go to cuBLAS.
//
// Layout: every per-example buffer is row-major [batch, width]. Sizes are 64-bit.
// Every kernel walks its index space with a grid-stride loop, so any launch size works.

typedef unsigned long long u64;
typedef unsigned int u32;

#define GRID_STRIDE(i, n) \
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < (n); i += (u64)gridDim.x * blockDim.x)

__device__ __forceinline__ real sigmoid_(real x) {
    // Never exponentiates a positive number.
    if (x >= (real)0) return (real)1 / ((real)1 + exp(-x));
    real e = exp(x);
    return e / ((real)1 + e);
}

// Activation kinds, as in the Rust enum: 0 relu, 1 sigmoid, 2 tanh.
extern "C" __global__ void activation_forward(u32 kind, const real* x, real* y, u64 n) {
    GRID_STRIDE(i, n) {
        real v = x[i];
        y[i] = kind == 0 ? (v > (real)0 ? v : (real)0) : kind == 1 ? sigmoid_(v) : tanh(v);
    }
}

// dx = dy * f'(x), the derivative computed from the output y; dx += when accumulate.
extern "C" __global__ void activation_backward(u32 kind, const real* y, const real* dy, real* dx, u64 n, u32 accumulate) {
    GRID_STRIDE(i, n) {
        real v = y[i];
        real d = kind == 0 ? (v > (real)0 ? (real)1 : (real)0) : kind == 1 ? v * ((real)1 - v) : (real)1 - v * v;
        real g = dy[i] * d;
        dx[i] = accumulate ? dx[i] + g : g;
    }
}

extern "C" __global__ void add(const real* a, const real* b, real* y, u64 n) {
    GRID_STRIDE(i, n) { y[i] = a[i] + b[i]; }
}

extern "C" __global__ void copy(const real* src, real* dst, u64 n, u32 accumulate) {
    GRID_STRIDE(i, n) { dst[i] = accumulate ? dst[i] + src[i] : src[i]; }
}

extern "C" __global__ void fill(real* dst, u64 n, real value) {
    GRID_STRIDE(i, n) { dst[i] = value; }
}

extern "C" __global__ void scale(real* v, u64 n, real factor) {
    GRID_STRIDE(i, n) { v[i] *= factor; }
}

// y[b, o] = bias[o]: the GEMM then accumulates x W on top.
extern "C" __global__ void broadcast_rows(const real* bias, real* y, u64 rows, u64 width) {
    GRID_STRIDE(i, rows * width) { y[i] = bias[i % width]; }
}

// out[b, :] = dy[b, :] * c[b]: the clipped sum X^T diag(c) D becomes one GEMM.
extern "C" __global__ void scale_rows(const real* dy, const real* c, real* out, u64 rows, u64 width) {
    GRID_STRIDE(i, rows * width) { out[i] = dy[i] * c[i / width]; }
}

__device__ __forceinline__ real warp_sum(real v) {
    for (int s = 16; s > 0; s >>= 1) v += __shfl_xor_sync(0xffffffffu, v, s);
    return v;
}

// Ghost norm of a dense layer: out[b] += (||x_b||^2 + 1) ||dy_b||^2, one warp per example.
extern "C" __global__ void dense_add_sq_norms(const real* x, const real* dy, real* out, u64 rows, u64 inputs, u64 outputs) {
    u64 lane = threadIdx.x & 31;
    u64 warps = ((u64)gridDim.x * blockDim.x) >> 5;
    for (u64 b = (blockIdx.x * (u64)blockDim.x + threadIdx.x) >> 5; b < rows; b += warps) {
        real sx = 0, sd = 0;
        for (u64 j = lane; j < inputs; j += 32) { real v = x[b * inputs + j]; sx += v * v; }
        for (u64 j = lane; j < outputs; j += 32) { real v = dy[b * outputs + j]; sd += v * v; }
        sx = warp_sum(sx);
        sd = warp_sum(sd);
        if (lane == 0) out[b] += (sx + (real)1) * sd;
    }
}

// Each example's dense-layer gradient in its row of the [batch, params] matrix:
// x_b (outer) dy_b at weight_offset, dy_b at bias_offset.
extern "C" __global__ void dense_per_example_grads(const real* x, const real* dy, real* per_example, u64 params,
                                                   u64 weight_offset, u64 bias_offset, u64 rows, u64 inputs, u64 outputs) {
    u64 per_row = (inputs + 1) * outputs;
    GRID_STRIDE(i, rows * per_row) {
        u64 b = i / per_row, r = i % per_row;
        u64 j = r / outputs, o = r % outputs;
        real d = dy[b * outputs + o];
        if (j < inputs) per_example[b * params + weight_offset + j * outputs + o] = x[b * inputs + j] * d;
        else per_example[b * params + bias_offset + o] = d;
    }
}

// Per-example loss and d loss / d logits. Kinds: 0 binary logistic, 1 softmax cross-entropy.
extern "C" __global__ void loss(u32 kind, const real* z, const u32* labels, real* losses, real* dz, u64 rows, u64 width) {
    GRID_STRIDE(b, rows) {
        const real* zb = z + b * width;
        real* db = dz + b * width;
        u32 y = labels[b];
        if (kind == 0) {
            real v = zb[0], t = y == 1 ? (real)1 : (real)0;
            losses[b] = fmax(v, (real)0) - v * t + log1p(exp(-fabs(v)));
            db[0] = sigmoid_(v) - t;
        } else {
            real m = zb[0];
            for (u64 k = 1; k < width; k++) m = fmax(m, zb[k]);
            real sum = 0;
            for (u64 k = 0; k < width; k++) { real e = exp(zb[k] - m); db[k] = e; sum += e; }
            real inv = (real)1 / sum;
            for (u64 k = 0; k < width; k++) db[k] *= inv;
            db[y] -= (real)1;
            losses[b] = m + log(sum) - zb[y];
        }
    }
}

// factors[b] = min(1, threshold / ||g_b||); threshold is C (1 - margin), see clip.rs.
extern "C" __global__ void clip_factors(const real* sq_norms, real* factors, u64 rows, real threshold) {
    GRID_STRIDE(b, rows) {
        real norm = sqrt(sq_norms[b]);
        // A norm that is not finite adds nothing (factor 0), as on the CPU.
        factors[b] = norm <= threshold ? (real)1 : (isfinite(norm) ? threshold / norm : (real)0);
    }
}

// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11).
__device__ __forceinline__ uint4 philox4x32_10(uint4 c, uint2 k) {
    for (int r = 0; r < 10; r++) {
        u32 hi0 = __umulhi(0xD2511F53u, c.x), lo0 = 0xD2511F53u * c.x;
        u32 hi1 = __umulhi(0xCD9E8D57u, c.z), lo1 = 0xCD9E8D57u * c.z;
        c = make_uint4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
        k.x += 0x9E3779B9u;
        k.y += 0xBB67AE85u;
    }
    return c;
}

// A uniform in (0, 1): never 0, so its logarithm is finite.
__device__ __forceinline__ real uniform_open(u32 v) { return ((real)v + (real)0.5) * (real)2.3283064365386963e-10; }

// Four standard normals (Box-Muller on Philox) for draw group `group` of call `call`.
// Counter (group, call) and key (seed): every call of a run draws fresh numbers, and
// the same seed repeats them on any GPU.
__device__ __forceinline__ void gaussian4(u64 seed, u64 call, u64 group, real z[4]) {
    uint2 key = make_uint2((u32)seed, (u32)(seed >> 32));
    uint4 r = philox4x32_10(make_uint4((u32)group, (u32)(group >> 32), (u32)call, (u32)(call >> 32)), key);
    real r0 = sqrt((real)-2 * log(uniform_open(r.x))), a0 = (real)6.283185307179586 * uniform_open(r.y);
    real r1 = sqrt((real)-2 * log(uniform_open(r.z))), a1 = (real)6.283185307179586 * uniform_open(r.w);
    z[0] = r0 * cos(a0);
    z[1] = r0 * sin(a0);
    z[2] = r1 * cos(a1);
    z[3] = r1 * sin(a1);
}

// g[i] += std * z_i.
extern "C" __global__ void add_gaussian_noise(real* g, u64 n, real std, u64 seed, u64 call) {
    GRID_STRIDE(group, (n + 3) / 4) {
        real z[4];
        gaussian4(seed, call, group, z);
        for (int j = 0; j < 4; j++) {
            u64 i = group * 4 + j;
            if (i < n) g[i] += std * z[j];
        }
    }
}

// The end of a private step in one pass: g = (g + std z) * scale, then the SGD update
// of `sgd` below. Draws exactly what add_gaussian_noise draws.
extern "C" __global__ void noisy_sgd(real* p, real* g, real* v, u64 n, real std, u64 seed, u64 call, real scale,
                                     real lr, real momentum) {
    GRID_STRIDE(group, (n + 3) / 4) {
        real z[4];
        gaussian4(seed, call, group, z);
        for (int j = 0; j < 4; j++) {
            u64 i = group * 4 + j;
            if (i >= n) break;
            real gi = (g[i] + std * z[j]) * scale;
            g[i] = gi;
            if (momentum == (real)0) {
                p[i] -= lr * gi;
            } else {
                real vi = momentum * v[i] + gi;
                v[i] = vi;
                p[i] -= lr * vi;
            }
        }
    }
}

// x[b, :] = data[rows[b], :] and labels[b] = data_labels[rows[b]]: a batch gathered
// from a dataset kept on the GPU.
extern "C" __global__ void gather_rows(const real* data, const u32* data_labels, const u32* rows, real* x, u32* labels,
                                       u64 count, u64 width) {
    GRID_STRIDE(i, count * width) {
        u64 b = i / width, j = i % width;
        u64 r = rows[b];
        x[i] = data[r * width + j];
        if (j == 0) labels[b] = data_labels[r];
    }
}

// SGD with heavy-ball momentum, as kernels/optim.rs: v = m v + g; p -= lr v (p -= lr g when m = 0).
extern "C" __global__ void sgd(real* p, const real* g, real* v, u64 n, real lr, real momentum) {
    GRID_STRIDE(i, n) {
        if (momentum == (real)0) {
            p[i] -= lr * g[i];
        } else {
            real vi = momentum * v[i] + g[i];
            v[i] = vi;
            p[i] -= lr * vi;
        }
    }
}

// Adam at step t with bias correction, as kernels/optim.rs; c1 = 1/(1-b1^t), c2 = 1/(1-b2^t).
extern "C" __global__ void adam(real* p, const real* g, real* m, real* v, u64 n, real lr, real beta1, real beta2,
                                real eps, real c1, real c2) {
    GRID_STRIDE(i, n) {
        real gi = g[i];
        real mi = beta1 * m[i] + ((real)1 - beta1) * gi;
        real vi = beta2 * v[i] + ((real)1 - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= lr * (mi * c1) / (sqrt(vi * c2) + eps);
    }
}

// y += a x.
extern "C" __global__ void axpy(real* y, const real* x, u64 n, real a) {
    GRID_STRIDE(i, n) { y[i] += a * x[i]; }
}

// The sum of a width-1 per-example buffer, into out[0]; one block.
extern "C" __global__ void sum(const real* v, u64 n, real* out) {
    __shared__ real partial[32];
    real s = 0;
    for (u64 i = threadIdx.x; i < n; i += blockDim.x) s += v[i];
    s = warp_sum(s);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = s;
    __syncthreads();
    if (threadIdx.x < 32) {
        s = threadIdx.x < (blockDim.x >> 5) ? partial[threadIdx.x] : (real)0;
        s = warp_sum(s);
        if (threadIdx.x == 0) out[0] = s;
    }
}
