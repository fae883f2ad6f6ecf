//! A dense layer applied at every position of a sequence: what differs from a vector's
//! (one position) are the per-example gradient and its norm, which sum over the
//! positions. Each example's `x` is `[positions, inputs]` and `dy` `[positions,
//! outputs]`, row-major.

use rayon::prelude::*;

use crate::Float;
use crate::contracts::Dense;
use crate::gemm::matmul;
use crate::kernels::vector;

/// One example's weight gradient `G = X^T dY` (`[inputs, outputs]`) into `gw`, and its
/// bias gradient (the positions' `dy` summed) into `gb`.
pub fn example_grad<F: Float>(layer: &Dense, x: &[F], dy: &[F], gw: &mut [F], gb: &mut [F]) {
    let (t, i, o) = (layer.positions, layer.inputs, layer.outputs);
    matmul(i, o, t, x, 1, i, dy, o, gw, false);
    gb.fill(F::ZERO);
    for d in dy.chunks_exact(o) {
        gb.iter_mut().zip(d).for_each(|(g, &v)| *g += v);
    }
}

/// One example's squared gradient norm by the ghost identity over its positions,
/// `sum_{t,t'} (x_t . x_t') (d_t . d_t')` for the weight (each pair's products formed
/// on the fly), plus the bias's `|sum_t d_t|^2`.
pub fn ghost_sq_norm<F: Float>(layer: &Dense, x: &[F], dy: &[F]) -> F {
    let (t, i, o) = (layer.positions, layer.inputs, layer.outputs);
    let (mut weight, mut bias) = (F::ZERO, F::ZERO);
    for a in 0..t {
        let (xa, da) = (&x[a * i..][..i], &dy[a * o..][..o]);
        weight += vector::sq_norm(xa) * vector::sq_norm(da);
        bias += vector::sq_norm(da);
        for b in 0..a {
            let (xb, db) = (&x[b * i..][..i], &dy[b * o..][..o]);
            let d = vector::dot(da, db);
            weight += (F::ONE + F::ONE) * vector::dot(xa, xb) * d;
            bias += (F::ONE + F::ONE) * d;
        }
    }
    weight + bias
}

/// Adds each example's squared norm to `out`: by the ghost identity, or from the
/// gradient materialized in `scratch` (`inputs * outputs + outputs` values per example).
pub fn add_sq_norms<F: Float>(layer: &Dense, x: &[F], dy: &[F], out: &mut [F], ghost: bool, scratch: &mut [F]) {
    let (t, i, o) = (layer.positions, layer.inputs, layer.outputs);
    let per = i * o + o;
    let examples = x.par_chunks(t * i).zip(dy.par_chunks(t * o)).zip(out.par_iter_mut());
    if ghost {
        examples.for_each(|((x, dy), out)| *out += ghost_sq_norm(layer, x, dy));
        return;
    }
    examples.zip(scratch.par_chunks_mut(per)).for_each(|(((x, dy), out), grad)| {
        let (gw, gb) = grad.split_at_mut(i * o);
        example_grad(layer, x, dy, gw, gb);
        *out += vector::sq_norm(grad);
    });
}

/// Each example's gradient at the layer's place in its row of `per_example`
/// (`[batch, params]`).
pub fn per_example_grads<F: Float>(layer: &Dense, x: &[F], dy: &[F], per_example: &mut [F], params: usize) {
    let (t, i, o) = (layer.positions, layer.inputs, layer.outputs);
    x.par_chunks(t * i).zip(dy.par_chunks(t * o)).zip(per_example.par_chunks_mut(params)).for_each(|((x, dy), row)| {
        let (gw, rest) = row[layer.offset..].split_at_mut(i * o);
        example_grad(layer, x, dy, gw, &mut rest[..o]);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYER: Dense = Dense { offset: 2, inputs: 3, outputs: 4, positions: 5 };

    fn values(n: usize, seed: u64) -> Vec<f64> {
        (0..n).map(|i| (((i as u64 + 1) * (seed * 7919 + 104729)) % 1000) as f64 / 500.0 - 1.0).collect()
    }

    /// The gradient written out from its definition: `G[a][b] = sum_t x[t][a] dy[t][b]`.
    fn naive(x: &[f64], dy: &[f64]) -> Vec<f64> {
        let (t, i, o) = (LAYER.positions, LAYER.inputs, LAYER.outputs);
        let mut g = vec![0.0; i * o + o];
        for p in 0..t {
            for a in 0..i {
                for b in 0..o {
                    g[a * o + b] += x[p * i + a] * dy[p * o + b];
                }
            }
            for b in 0..o {
                g[i * o + b] += dy[p * o + b];
            }
        }
        g
    }

    #[test]
    fn gradients_and_both_norms_match_the_definition() {
        let (t, i, o, batch) = (LAYER.positions, LAYER.inputs, LAYER.outputs, 3);
        let (x, dy) = (values(batch * t * i, 1), values(batch * t * o, 2));
        let params = 2 + i * o + o + 1;
        let mut per_example = vec![0.0; batch * params];
        per_example_grads(&LAYER, &x, &dy, &mut per_example, params);
        let (mut ghost, mut materialized) = (vec![0.5; batch], vec![0.5; batch]);
        add_sq_norms(&LAYER, &x, &dy, &mut ghost, true, &mut []);
        add_sq_norms(&LAYER, &x, &dy, &mut materialized, false, &mut vec![0.0; batch * (i * o + o)]);
        for e in 0..batch {
            let want = naive(&x[e * t * i..][..t * i], &dy[e * t * o..][..t * o]);
            let got = &per_example[e * params + 2..][..i * o + o];
            got.iter().zip(&want).for_each(|(a, b)| assert!((a - b).abs() < 1e-12, "{a} vs {b}"));
            let norm = 0.5 + want.iter().map(|g| g * g).sum::<f64>();
            assert!((ghost[e] - norm).abs() < 1e-12 && (materialized[e] - norm).abs() < 1e-12);
        }
    }
}
