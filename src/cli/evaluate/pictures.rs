//! `evaluate --plot` and `--strip`: the curves and the randomization strips as PNG.

use image::RgbImage;

use super::Args;
use crate::error::{Error, Result};
use crate::imaging::atomic::stage;
use crate::imaging::colormap::Colormap;
use crate::imaging::grid;
use crate::imaging::png::encode_png;
use crate::model::Graph;
use crate::trust::figures::{self, Series};
use crate::trust::report::Scored;
use crate::trust::Metric;

/// Before any work: the pictures asked for can be drawn from the metrics asked for, their
/// paths can be written, and they are two files.
pub(super) fn check(a: &Args, metrics: &[Metric]) -> Result<()> {
    if a.plot.is_some()
        && !metrics
            .iter()
            .any(|m| matches!(m, Metric::Deletion | Metric::Insertion))
    {
        return Err(Error::Usage(
            "--plot draws the deletion and insertion curves; add them to --metrics".into(),
        ));
    }
    if a.strip.is_some() && !metrics.contains(&Metric::Randomization) {
        return Err(Error::Usage(
            "--strip draws the randomization check; add it to --metrics and give --methods".into(),
        ));
    }
    for path in [&a.plot, &a.strip].into_iter().flatten() {
        crate::files::check_output_target(path)?;
    }
    if let (Some(p), Some(s)) = (&a.plot, &a.strip) {
        if std::path::absolute(p).ok() == std::path::absolute(s).ok() {
            return Err(Error::Usage(format!(
                "--plot and --strip both name {}; give the two pictures different paths",
                p.display()
            )));
        }
    }
    Ok(())
}

/// `--plot` and `--strip`: both staged before either is put in place, so a failure leaves
/// neither.
pub(super) fn write(a: &Args, graph: &Graph, rows: &[Scored]) -> Result<()> {
    let mut staged = Vec::new();
    if let Some(path) = &a.plot {
        let series: Vec<Series> = rows
            .iter()
            .map(|r| Series {
                name: &r.name,
                deletion: r.scores.deletion.as_ref(),
                insertion: r.scores.insertion.as_ref(),
            })
            .collect();
        let img = figures::curves(&series).ok_or_else(|| {
            Error::Usage("--plot draws deletion and insertion; add them to --metrics".into())
        })?;
        staged.push(stage(path, &png_bytes(&img)?)?);
    }
    if let Some(path) = &a.strip {
        let strips: Vec<(String, RgbImage)> = rows
            .iter()
            .flat_map(|r| r.scores.randomization.iter().map(move |c| (r, c)))
            .map(|(r, c)| {
                let label = format!("{} {}", r.name, c.order.as_str());
                (label, figures::strip(c, graph, Colormap::Jet))
            })
            .collect();
        if strips.is_empty() {
            return Err(Error::Usage(
                "--strip draws the randomization check; add it to --metrics and give --methods"
                    .into(),
            ));
        }
        staged.push(stage(path, &png_bytes(&grid::stack(&strips))?)?);
    }
    for s in staged {
        s.commit()?;
    }
    Ok(())
}

fn png_bytes(img: &RgbImage) -> Result<Vec<u8>> {
    encode_png(img).map_err(|e| Error::Input(format!("cannot encode the PNG: {e}")))
}
