//! Which class a map explains: an index, a label substring, or the top-1 prediction.

use crate::error::{Error, Result};

/// Resolves `--target`: a class index, or text matched against the labels (an exact label
/// wins; otherwise a unique case-insensitive substring match).
pub fn resolve(spec: &str, classes: usize, labels: Option<&[String]>) -> Result<usize> {
    let spec = spec.trim();
    if let Ok(index) = spec.parse::<usize>() {
        if index >= classes {
            return Err(Error::Usage(format!(
                "--target {index} is out of range: the model has {classes} classes (0..{})",
                classes.saturating_sub(1)
            )));
        }
        return Ok(index);
    }
    let labels = labels.ok_or_else(|| {
        Error::Usage(format!(
            "--target '{spec}' is not a class index, and the model has no labels to match it against; \
             give an index or --labels FILE"
        ))
    })?;
    let lower = spec.to_lowercase();
    if let Some(i) = labels.iter().position(|l| l.to_lowercase() == lower) {
        return Ok(i);
    }
    let matches: Vec<usize> = (0..labels.len())
        .filter(|&i| labels[i].to_lowercase().contains(&lower))
        .collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::Usage(format!(
            "--target '{spec}' matches no label; run `convscope predict` to see the classes, or give an index"
        ))),
        many => {
            let shown: Vec<String> = many.iter().take(8).map(|&i| format!("{i} '{}'", labels[i])).collect();
            let more = if many.len() > 8 { format!(" and {} more", many.len() - 8) } else { String::new() };
            Err(Error::Usage(format!(
                "--target '{spec}' is ambiguous: it matches {}{more}; give the index",
                shown.join(", ")
            )))
        }
    }
}

/// `--target` for one class or several: `I,J,…` (indices only) names several classes, whose
/// scores are summed; anything else is one class as [`resolve`] reads it (a label may hold a
/// comma).
pub fn resolve_many(spec: &str, classes: usize, labels: Option<&[String]>) -> Result<Vec<usize>> {
    let parts: Vec<&str> = spec.split(',').map(str::trim).collect();
    if parts.len() > 1 && parts.iter().all(|p| p.parse::<usize>().is_ok()) {
        return parts.iter().map(|p| resolve(p, classes, labels)).collect();
    }
    Ok(vec![resolve(spec, classes, labels)?])
}

/// Softmax of raw scores, accumulated in f64 (shifted by the maximum, so large logits are safe).
pub fn softmax(scores: &[f32]) -> Vec<f32> {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f64> = scores.iter().map(|&s| ((s - max) as f64).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| (e / sum) as f32).collect()
}

/// The index of the highest score.
pub fn top1(scores: &[f32]) -> usize {
    (0..scores.len())
        .max_by(|&a, &b| scores[a].total_cmp(&scores[b]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<String> {
        ["tabby", "tiger cat", "tiger", "Egyptian cat"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn indices_and_labels() {
        let l = labels();
        assert_eq!(resolve("2", 4, Some(&l)).unwrap(), 2);
        assert!(resolve("4", 4, Some(&l))
            .unwrap_err()
            .to_string()
            .contains("out of range"));
        assert_eq!(resolve("tabby", 4, Some(&l)).unwrap(), 0);
        assert_eq!(resolve("Egyptian", 4, Some(&l)).unwrap(), 3);
        // "tiger" is a label exactly, even though "tiger cat" contains it.
        assert_eq!(resolve("TIGER", 4, Some(&l)).unwrap(), 2);
        let e = resolve("cat", 4, Some(&l)).unwrap_err().to_string();
        assert!(
            e.contains("ambiguous")
                && e.contains("1 'tiger cat'")
                && e.contains("3 'Egyptian cat'"),
            "{e}"
        );
        assert!(resolve("dog", 4, Some(&l))
            .unwrap_err()
            .to_string()
            .contains("matches no label"));
        assert!(resolve("cat", 4, None).is_err());
    }

    #[test]
    fn softmax_sums_to_one_and_survives_large_logits() {
        let p = softmax(&[1000.0, 1000.0, -1000.0]);
        assert_eq!(p, vec![0.5, 0.5, 0.0]);
    }

    #[test]
    fn top1_picks_the_largest() {
        assert_eq!(top1(&[0.1, 3.0, -1.0]), 1);
    }
}

/// One class of a prediction: its index, softmax probability and raw score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prediction {
    pub index: usize,
    pub prob: f32,
    pub logit: f32,
}

/// The `k` highest-scoring classes with softmax probabilities.
pub fn top_k(logits: &[f32], k: usize) -> Vec<Prediction> {
    let probs = softmax(logits);
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    order
        .into_iter()
        .take(k)
        .map(|i| Prediction {
            index: i,
            prob: probs[i],
            logit: logits[i],
        })
        .collect()
}
