//! One step's privacy loss, discretized: the distribution of
//! `L = log(P(X) / Q(X))` for the Poisson-subsampled Gaussian, on a grid of spacing `h`.
//!
//! With unit-variance noise and sensitivity `mu = 1 / sigma`, the mechanism's output on
//! a dataset with the example is `P = (1 - q) N(0, 1) + q N(mu, 1)`, without it
//! `Q = N(0, 1)`. Neighbouring datasets differ by removing or adding an example, so
//! there are two loss distributions: [`Direction::Remove`] (`X ~ P`, `L = l(X)`) and
//! [`Direction::Add`] (`X ~ Q`, `L = -l(X)`), where
//! `l(x) = log(1 - q + q exp(mu x - mu^2 / 2))` grows with `x`.

use rayon::prelude::*;

/// Which neighbour relation a loss distribution describes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Direction {
    /// The example is in the first dataset: `X ~ P`, loss `l(X)`.
    Remove,
    /// The example is in the second dataset: `X ~ Q`, loss `-l(X)`.
    Add,
}

/// One step's loss, rounded to the nearest grid point `k h`, over the range of `X`
/// outside which less than `tail` of its mass lies.
pub struct DiscreteLoss {
    /// Grid index of `pmf[0]`.
    pub first: i64,
    /// Mass at grid points `first, first + 1, ...`; sums to `1 - (mass outside the range)`.
    pub pmf: Vec<f64>,
    /// `E[(Y - L) 1{X in range}]`: the mean rounding error, which composition multiplies by
    /// the number of steps and the accountant corrects for.
    pub rounding_bias: f64,
}

/// `l(x)` and its inverse for one `(q, mu)`.
#[derive(Clone, Copy)]
struct Loss {
    q: f64,
    mu: f64,
}

impl Loss {
    fn at(&self, x: f64) -> f64 {
        let shifted = self.mu * x - self.mu * self.mu / 2.0;
        if self.q == 1.0 { shifted } else { (self.q * shifted.exp_m1()).ln_1p() }
    }

    /// The `x` with `l(x) = value`; minus infinity below the loss's floor `log(1 - q)`.
    fn inverse(&self, value: f64) -> f64 {
        let shifted = if self.q == 1.0 {
            value
        } else {
            let ratio = value.exp_m1() / self.q;
            if ratio <= -1.0 {
                return f64::NEG_INFINITY;
            }
            ratio.ln_1p()
        };
        (shifted + self.mu * self.mu / 2.0) / self.mu
    }
}

/// The density of `X` at `x`.
fn density(q: f64, mu: f64, direction: Direction, x: f64) -> f64 {
    let normal = |z: f64| (-z * z / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    match direction {
        Direction::Add => normal(x),
        Direction::Remove => (1.0 - q) * normal(x) + q * normal(x - mu),
    }
}

/// The standard normal's upper tail `P(Z > z)`.
pub fn normal_tail(z: f64) -> f64 {
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

/// How far past the mixture's components the range of `X` reaches so that at most
/// `tail` of the mass of `X` lies outside `[-reach, mu + reach]`.
fn reach(tail: f64) -> f64 {
    let mut z = 1.0;
    while 2.0 * normal_tail(z) > tail {
        z += 1.0 / 16.0;
    }
    z
}

/// Gauss-Legendre nodes and weights on [-1, 1], 8 points (exact for degree 15).
const GAUSS_NODES: [f64; 4] =
    [0.183_434_642_495_649_8, 0.525_532_409_916_329, 0.796_666_477_413_626_7, 0.960_289_856_497_536_3];
const GAUSS_WEIGHTS: [f64; 4] =
    [0.362_683_783_378_362, 0.313_706_645_877_887_3, 0.222_381_034_453_374_5, 0.101_228_536_290_376_3];

/// The widest panel of the quadrature: the density varies little across it, so eight
/// points integrate it to double precision.
const PANEL: f64 = 0.125;

/// `(P(X in [a, b]), E[L 1{X in [a, b]}])` by Gauss-Legendre quadrature on panels.
fn bin_moments(loss: Loss, direction: Direction, a: f64, b: f64) -> (f64, f64) {
    let sign = if direction == Direction::Remove { 1.0 } else { -1.0 };
    let panels = ((b - a) / PANEL).ceil().max(1.0) as usize;
    let width = (b - a) / panels as f64;
    let (mut mass, mut loss_mass) = (0.0, 0.0);
    for panel in 0..panels {
        let centre = a + (panel as f64 + 0.5) * width;
        for (&node, &weight) in GAUSS_NODES.iter().zip(&GAUSS_WEIGHTS) {
            for x in [centre - node * width / 2.0, centre + node * width / 2.0] {
                let p = weight * width / 2.0 * density(loss.q, loss.mu, direction, x);
                mass += p;
                loss_mass += p * sign * loss.at(x);
            }
        }
    }
    (mass, loss_mass)
}

/// The range of `X` outside which at most `tail` of its mass lies.
fn x_range(loss: Loss, tail: f64) -> (f64, f64) {
    let z = reach(tail);
    (-z, loss.mu + z)
}

/// How wide one step's loss is over the range of `X` that holds all but `tail` of its
/// mass (the same in both directions): what sizes the grid before any discretization.
pub fn loss_width(q: f64, sigma: f64, tail: f64) -> f64 {
    let loss = Loss { q, mu: 1.0 / sigma };
    let (x_lo, x_hi) = x_range(loss, tail);
    loss.at(x_hi) - loss.at(x_lo)
}

/// The loss of one step of rate `q` and noise multiplier `sigma`, on the grid of spacing
/// `h`, from the range of `X` that holds all but `tail` of its mass.
pub fn discretize(q: f64, sigma: f64, direction: Direction, h: f64, tail: f64) -> DiscreteLoss {
    let loss = Loss { q, mu: 1.0 / sigma };
    let (x_lo, x_hi) = x_range(loss, tail);
    // The grid bin `k` holds the losses in [(k - 1/2) h, (k + 1/2) h); `x_at_edge` maps a
    // loss edge to the x where the loss crosses it, clipped to the range.
    let (loss_lo, loss_hi, x_at_edge): (f64, f64, Box<dyn Fn(f64) -> f64 + Sync>) = match direction {
        Direction::Remove => (loss.at(x_lo), loss.at(x_hi), Box::new(move |edge| loss.inverse(edge).clamp(x_lo, x_hi))),
        Direction::Add => (-loss.at(x_hi), -loss.at(x_lo), Box::new(move |edge| loss.inverse(-edge).clamp(x_lo, x_hi))),
    };
    let first = (loss_lo / h).round() as i64;
    let last = (loss_hi / h).round() as i64;
    // Bins are independent: neighbours compute their shared edge identically.
    let moments: Vec<(f64, f64)> = (first..=last)
        .into_par_iter()
        .map(|k| {
            let (lower, upper) = (x_at_edge((k as f64 - 0.5) * h), x_at_edge((k as f64 + 0.5) * h));
            // Loss falls as x grows when adding: the bin's x-interval runs the other way.
            let (a, b) = if lower <= upper { (lower, upper) } else { (upper, lower) };
            if b > a { bin_moments(loss, direction, a, b) } else { (0.0, 0.0) }
        })
        .collect();
    let rounding_bias =
        moments.iter().zip(first..).map(|(&(mass, loss_mass), k)| k as f64 * h * mass - loss_mass).sum();
    let pmf = moments.into_iter().map(|(mass, _)| mass).collect();
    DiscreteLoss { first, pmf, rounding_bias }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inverse_inverts() {
        for &(q, sigma) in &[(1.0, 2.0), (0.01, 1.1), (0.5, 0.3)] {
            let loss = Loss { q, mu: 1.0 / sigma };
            for &x in &[-5.0, -0.5, 0.0, 1.0, 7.0] {
                let back = loss.inverse(loss.at(x));
                assert!((back - x).abs() < 1e-6 * (1.0 + x.abs()), "q {q} sigma {sigma} x {x}: {back}");
            }
        }
    }

    #[test]
    fn the_mass_is_whole_and_the_mean_is_the_kl_divergence() {
        // For q = 1 both directions are N(mu^2 / 2, mu^2): mean mu^2 / 2.
        for direction in [Direction::Remove, Direction::Add] {
            let (sigma, h) = (2.0, 1e-3);
            let step = discretize(1.0, sigma, direction, h, 1e-14);
            let total: f64 = step.pmf.iter().sum();
            assert!((total - 1.0).abs() < 1e-13, "{total}");
            let mean: f64 = step.pmf.iter().enumerate().map(|(i, p)| (step.first + i as i64) as f64 * h * p).sum();
            let exact = 1.0 / (2.0 * sigma * sigma);
            assert!((mean - step.rounding_bias - exact).abs() < 1e-12, "{mean} - {} vs {exact}", step.rounding_bias);
            assert!(step.rounding_bias.abs() < h * h, "nearest rounding is unbiased to first order");
        }
        // Subsampled: the masses still add up, in both directions.
        for direction in [Direction::Remove, Direction::Add] {
            let step = discretize(0.01, 1.1, direction, 1e-4, 1e-14);
            let total: f64 = step.pmf.iter().sum();
            assert!((total - 1.0).abs() < 1e-12, "{direction:?}: {total}");
        }
    }
}
