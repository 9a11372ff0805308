//! `convscope merge OUTDIR`: a sharded run's manifest parts joined (see `dataset::merge`).

use std::path::PathBuf;

use serde_json::Value;

use crate::error::Result;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The -o folder the shards wrote to.
    pub outdir: PathBuf,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args) -> Result<()> {
    let merged = crate::dataset::merge(&a.outdir)?;
    let s = &merged.summary;
    if a.json {
        super::print_json(s);
        return Ok(());
    }
    let counts = |v: &Value| -> String {
        v.as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    outln!(
        "merged {} parts: {} images ({}) into {}",
        merged.parts,
        s["images"],
        counts(&s["status"]),
        a.outdir.join(crate::dataset::manifest::MANIFEST).display()
    );
    Ok(())
}
