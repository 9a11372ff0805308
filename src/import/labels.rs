//! Class labels: the embedded ImageNet-1k names, or a user's file with one name a line.

use std::path::Path;

use crate::error::{Error, Result};

const IMAGENET: &str = include_str!("imagenet_classes.txt");

pub fn imagenet() -> Vec<String> {
    IMAGENET.lines().map(str::to_string).collect()
}

/// 16 MiB: ImageNet-21k's 21,843 names take ~500 KB.
const MAX_LABELS_BYTES: u64 = 16 << 20;

/// Reads a labels file: one class name a line, in class-index order.
pub fn read(path: &Path) -> Result<Vec<String>> {
    let bytes = crate::files::read_bounded(
        path,
        "a labels file (one class name a line)",
        MAX_LABELS_BYTES,
        "a labels file may have (one class name a line)",
    )?;
    parse(bytes, path)
}

/// Class names from a labels file's bytes (`path` names it in messages).
pub fn parse(bytes: Vec<u8>, path: &Path) -> Result<Vec<String>> {
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::Usage(format!(
            "{}: the labels file is not UTF-8 text; give one class name a line",
            path.display()
        ))
    })?;
    let labels: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
    if labels.iter().all(String::is_empty) {
        return Err(Error::Usage(format!(
            "{}: the labels file is empty; give one class name a line",
            path.display()
        )));
    }
    Ok(labels)
}

/// The labels for a model with `classes` outputs: the user's file (which must have exactly that
/// many lines), else those the model carries, else ImageNet's when there are 1000 classes, else
/// none.
pub fn for_model(
    classes: usize,
    file: Option<&Path>,
    carried: Option<&[String]>,
) -> Result<Option<Vec<String>>> {
    match file {
        Some(path) => {
            let mut labels = read(path)?;
            while labels.last().is_some_and(String::is_empty) && labels.len() > classes {
                labels.pop();
            }
            if labels.len() != classes {
                return Err(Error::Usage(format!(
                    "{} has {} labels but the model has {classes} classes",
                    path.display(),
                    labels.len()
                )));
            }
            Ok(Some(labels))
        }
        None if carried.is_some_and(|l| l.len() == classes) => Ok(carried.map(<[String]>::to_vec)),
        None if classes == 1000 => Ok(Some(imagenet())),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imagenet_has_1000_names_in_order() {
        let l = imagenet();
        assert_eq!(l.len(), 1000);
        assert_eq!(l[0], "tench");
        assert_eq!(l[281], "tabby");
        assert_eq!(l[999], "toilet tissue");
    }
}
