//! Integrated gradients (Sundararajan et al. 2017; captum `IntegratedGradients`):
//! (x − x') · ∫₀¹ ∂F(x' + α(x − x'))/∂x dα, the integral by captum's rules (Gauss–Legendre by
//! default, or left/right/middle/trapezoid Riemann sums), evaluated in batches. Reports the
//! completeness gap: Σ attributions − (F(x) − F(x')), which tends to 0 as steps grow.

use candle_core::Tensor;
use serde_json::json;

use super::context::{attribution, Cx};
use super::options::{Baseline, IgMethod, IgOptions};
use super::{Family, LayerNeed, Method, MethodInfo, Opt, Output, Picture, Tab};
use crate::error::{Error, Result};
use crate::exec::ReluRule;
use crate::model::build::Rng;

pub struct IntegratedGradients;

impl Method for IntegratedGradients {
    fn info(&self) -> MethodInfo {
        MethodInfo {
            id: "ig",
            title: "Integrated gradients",
            family: Family::Gradient,
            layer: LayerNeed::None,
            batched: true,
            stackable: false,
            needs_input: true,
            options: &[
                Opt::Steps,
                Opt::IgMethod,
                Opt::Baseline,
                Opt::Seed,
                Opt::Batch,
                Opt::Unit,
            ],
            tab: Tab::Own {
                title: "Integrated gradients",
                short: "IG",
            },
            picture: Picture::Attribution,
        }
    }

    fn run(&self, cx: &mut Cx<'_>) -> Result<Output> {
        let o: IgOptions = cx.options()?;
        let steps = o.steps;
        if steps == 0 || (steps == 1 && o.method == IgMethod::RiemannTrapezoid) {
            return Err(Error::Usage(format!(
                "--steps {steps} is too few; use at least 2"
            )));
        }
        super::check_count("steps", steps, super::MAX_STEPS)?;
        let baseline = baseline(cx, &o.baseline, o.seed)?;
        let delta = (&cx.input - &baseline)?;
        let (alphas, weights) = quadrature(o.method, steps);
        let batch = cx.batch.max(1);
        let mut total: Option<Tensor> = None;
        for start in (0..steps).step_by(batch) {
            cx.control.check()?;
            let n = batch.min(steps - start);
            let a: Vec<f32> = alphas[start..start + n].iter().map(|&v| v as f32).collect();
            let w: Vec<f32> = weights[start..start + n]
                .iter()
                .map(|&v| v as f32)
                .collect();
            let mut shape = vec![1; cx.input.rank()];
            shape[0] = n;
            let a = Tensor::from_vec(a, shape.clone(), cx.input.device())?;
            let w = Tensor::from_vec(w, shape, cx.input.device())?;
            let points = baseline.broadcast_add(&delta.broadcast_mul(&a)?)?;
            let g = cx.input_gradient(&points, ReluRule::Normal)?;
            let part = g.broadcast_mul(&w)?.sum_keepdim(0)?;
            total = Some(match total {
                Some(acc) => (acc + part)?,
                None => part,
            });
            cx.control.step(start + n, steps, "steps")?;
        }
        let attr = (total.expect("steps >= 1") * &delta)?;
        let sum = attr.sum_all()?.to_scalar::<f32>()?;
        let f = cx.target_scores(&Tensor::cat(&[&cx.input, &baseline], 0)?)?;
        let delta_f = f[0] - f[1];
        let mut out: Output = attribution(&attr)?.into();
        out.extras.insert("attribution_sum".into(), json!(sum));
        out.extras.insert("delta_f".into(), json!(delta_f));
        out.extras
            .insert("completeness_gap".into(), json!(sum - delta_f));
        Ok(out)
    }
}

/// Integration points α ∈ [0, 1] and their weights, as captum's `approximation_methods`.
pub fn quadrature(method: IgMethod, n: usize) -> (Vec<f64>, Vec<f64>) {
    let nf = n as f64;
    let linspace = |a: f64, b: f64| -> Vec<f64> {
        if n == 1 {
            return vec![a];
        }
        (0..n)
            .map(|i| a + (b - a) * i as f64 / (nf - 1.0))
            .collect()
    };
    match method {
        IgMethod::RiemannLeft => (linspace(0.0, 1.0 - 1.0 / nf), vec![1.0 / nf; n]),
        IgMethod::RiemannRight => (linspace(1.0 / nf, 1.0), vec![1.0 / nf; n]),
        IgMethod::RiemannMiddle => (linspace(0.5 / nf, 1.0 - 0.5 / nf), vec![1.0 / nf; n]),
        // captum's trapezoid: steps of 1/n with the two ends halved (so the weights sum to
        // (n−1)/n, not 1, unlike the textbook rule's 1/(n−1)); we follow the reference.
        IgMethod::RiemannTrapezoid => {
            let mut w = vec![1.0 / nf; n];
            w[0] /= 2.0;
            w[n - 1] /= 2.0;
            (linspace(0.0, 1.0), w)
        }
        IgMethod::GaussLegendre => {
            let (x, w) = gauss_legendre(n);
            (
                x.iter().map(|v| 0.5 * (1.0 + v)).collect(),
                w.iter().map(|v| 0.5 * v).collect(),
            )
        }
    }
}

/// Nodes (ascending) and weights of n-point Gauss–Legendre quadrature on [−1, 1], by Newton's
/// method on the Legendre polynomial (what numpy's `leggauss` returns, to ~1e-15).
pub fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut nodes = vec![0.0; n];
    let mut weights = vec![0.0; n];
    for i in 0..n.div_ceil(2) {
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            // P_n(x) and P_n'(x) by the three-term recurrence.
            let (mut p0, mut p1) = (1.0, x);
            for k in 2..=n {
                let p2 = ((2 * k - 1) as f64 * x * p1 - (k - 1) as f64 * p0) / k as f64;
                p0 = p1;
                p1 = p2;
            }
            let p = if n == 0 {
                1.0
            } else if n == 1 {
                x
            } else {
                p1
            };
            let pm1 = if n == 1 { 1.0 } else { p0 };
            dp = n as f64 * (x * p - pm1) / (x * x - 1.0);
            let dx = p / dp;
            x -= dx;
            if dx.abs() < 1e-16 {
                break;
            }
        }
        let w = 2.0 / ((1.0 - x * x) * dp * dp);
        nodes[i] = -x;
        nodes[n - 1 - i] = x;
        weights[i] = w;
        weights[n - 1 - i] = w;
    }
    (nodes, weights)
}

/// The baseline x' as a tensor shaped like the input (shared with occlusion).
pub(super) fn baseline(cx: &Cx<'_>, baseline: &Baseline, seed: u64) -> Result<Tensor> {
    let x = &cx.input;
    Ok(match baseline {
        Baseline::Zero => x.zeros_like()?,
        Baseline::Constant(v) => (x.zeros_like()? + *v as f64)?,
        Baseline::Tensor(t) => {
            if t.dims() != x.dims() {
                return Err(Error::Usage(format!(
                    "the baseline has shape {:?} but the input has {:?}",
                    t.dims(),
                    x.dims()
                )));
            }
            t.to_device(x.device())?
        }
        Baseline::Uniform => {
            let flat: Vec<f32> = x.flatten_all()?.to_vec1()?;
            let (lo, hi) = flat
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                });
            let mut rng = Rng::new(seed);
            let data: Vec<f32> = flat.iter().map(|_| rng.uniform(lo, hi)).collect();
            Tensor::from_vec(data, x.dims(), x.device())?
        }
        Baseline::Blur(sigma) => super::blur::gaussian_blur(x, *sigma, cx.graph)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_legendre_matches_numpy_leggauss() {
        // numpy.polynomial.legendre.leggauss(3): nodes ±sqrt(3/5), 0; weights 5/9, 8/9, 5/9.
        let (x, w) = gauss_legendre(3);
        assert!((x[0] + 0.6f64.sqrt()).abs() < 1e-14 && x[1].abs() < 1e-14);
        assert!((w[0] - 5.0 / 9.0).abs() < 1e-14 && (w[1] - 8.0 / 9.0).abs() < 1e-14);
        // Exact for polynomials of degree 2n-1: ∫_{-1}^{1} x^8 = 2/9 with n = 5.
        let (x, w) = gauss_legendre(5);
        let integral: f64 = x.iter().zip(&w).map(|(x, w)| w * x.powi(8)).sum();
        assert!((integral - 2.0 / 9.0).abs() < 1e-13);
        let (_, w) = gauss_legendre(50);
        assert!((w.iter().sum::<f64>() - 2.0).abs() < 1e-12);
    }

    #[test]
    fn riemann_rules_match_captum() {
        let (a, w) = quadrature(IgMethod::RiemannTrapezoid, 5);
        assert_eq!(a, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(w, vec![0.1, 0.2, 0.2, 0.2, 0.1]);
        let (a, _) = quadrature(IgMethod::RiemannMiddle, 4);
        assert_eq!(a, vec![0.125, 0.375, 0.625, 0.875]);
        let (a, _) = quadrature(IgMethod::RiemannLeft, 4);
        assert_eq!(a, vec![0.0, 0.25, 0.5, 0.75]);
    }
}
