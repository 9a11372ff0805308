//! Sensitivity-max (Yeh et al. 2019) as captum's `metrics.sensitivity_max` computes it with its
//! defaults: the map is recomputed for the input plus uniform noise in [−0.02, 0.02] on every
//! value (the model's input space), 10 times, seeded; the figure is the largest
//! ‖map(x + δ) − map(x)‖ / ‖map(x)‖ (Frobenius norms of the method's raw output, a zero
//! norm counting as 1). A map that changes a lot under a change the model barely sees explains
//! the gradient's noise, not the model.

use std::sync::Arc;

use crate::engine::{explain, Request, Session, Subject};
use crate::error::Result;
use crate::input::preprocess::PreparedInput;
use crate::input::Input;
use crate::methods::{Artifact, Control};
use crate::model::build::Rng;

/// captum's default number of perturbations.
pub const SAMPLES: usize = 10;
/// captum's default `perturb_radius`.
pub const RADIUS: f32 = 0.02;

/// `n` perturbations of `len` values, uniform in ±`radius`, from `seed`.
pub fn perturbations(n: usize, len: usize, radius: f32, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(seed ^ 0x5e45_17e0);
    (0..n)
        .map(|_| (0..len).map(|_| rng.uniform(-radius, radius)).collect())
        .collect()
}

/// Sensitivity-max of the map `request()` makes (the same method, layer and class each time),
/// whose artifact for `input` is `original`, under `perturbations` (each the input's size).
pub fn sensitivity_max(
    session: &Session,
    input: &Arc<Input>,
    request: &dyn Fn() -> Request,
    original: &Artifact,
    perturbations: &[Vec<f32>],
    control: &Control,
) -> Result<f32> {
    let norm = |v: &mut dyn Iterator<Item = f64>| v.map(|x| x * x).sum::<f64>().sqrt();
    let e0 = original.data();
    let n0 = match norm(&mut e0.iter().map(|&v| f64::from(v))) {
        0.0 => 1.0,
        n => n,
    };
    let mut worst = 0.0f64;
    for (i, p) in perturbations.iter().enumerate() {
        control.step(i, perturbations.len(), "perturbed inputs")?;
        let data = input
            .prepared
            .data
            .iter()
            .zip(p)
            .map(|(v, d)| v + d)
            .collect();
        let moved = Arc::new(Input {
            prepared: PreparedInput {
                shape: input.prepared.shape.clone(),
                data,
            },
            spec: input.spec,
            preprocess: input.preprocess,
            path: input.path.clone(),
        });
        // One map is all this subject serves: its clean pass keeps only what that map reads.
        let asked = request();
        let subject =
            Subject::new(session, moved)?.for_map(&session.graph, asked.method, asked.layer);
        let inner = Control {
            cancel: control.cancel.clone(),
            progress: None,
        };
        let map = explain(session, &subject, asked, inner)?.output.artifact;
        let diff = norm(
            &mut e0
                .iter()
                .zip(map.data())
                .map(|(&a, &b)| f64::from(a) - f64::from(b)),
        );
        worst = worst.max(diff / n0);
    }
    control.step(perturbations.len(), perturbations.len(), "perturbed inputs")?;
    Ok(worst as f32)
}
