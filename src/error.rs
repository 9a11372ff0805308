//! The core's one error type. Every variant renders as a single line that says what is wrong
//! and, where there is one, what the user can do about it: the CLI prints it as is.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: file not found; check the path", path.display())]
    NotFound { path: PathBuf },

    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The file is not a model we can parse (not protobuf, truncated, inconsistent).
    #[error("{} is not a valid ONNX model: {detail}", path.display())]
    BadModel { path: PathBuf, detail: String },

    #[error(
        "unsupported ONNX op {op} (node '{node}'); convscope supports: {supported}. \
         Re-export the model with supported ops or open an issue naming this op"
    )]
    UnsupportedOp {
        op: String,
        node: String,
        supported: String,
    },

    /// A weight file (safetensors, PyTorch checkpoint) that cannot be read or does not fit.
    #[error("{}: {detail}", path.display())]
    Checkpoint { path: PathBuf, detail: String },

    /// A well-formed graph whose structure we cannot run (bad shapes, unsupported attribute values).
    #[error("layer '{layer}': {detail}")]
    Graph { layer: String, detail: String },

    #[error(
        "the weights of {} are in the external data file {}, which is missing; \
         copy that file next to the model",
        model.display(), file.display()
    )]
    MissingExternalData { model: PathBuf, file: PathBuf },

    #[error("{}: cannot decode image: {detail}; use a PNG or JPEG file", path.display())]
    Image { path: PathBuf, detail: String },

    #[error("{}: {detail}", path.display())]
    Npy { path: PathBuf, detail: String },

    /// An input tensor that does not fit the model.
    #[error("{0}")]
    Input(String),

    #[error("no layer named '{name}'{}", suggest(suggestions))]
    UnknownLayer {
        name: String,
        suggestions: Vec<String>,
    },

    /// A command-line argument or option value that makes no sense.
    #[error("{0}")]
    Usage(String),

    /// The caller's cancel token was set while a method ran.
    #[error("cancelled")]
    Cancelled,

    /// A run that ended before its work was done, or with some of it failed: the message says
    /// what was done and what to do; `code` is the process's exit status (130 after SIGINT).
    #[error("{message}")]
    Incomplete { message: String, code: u8 },

    #[error("tensor computation failed: {}", one_line(.0))]
    Tensor(candle_core::Error),
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Tensor(without_backtrace(e))
    }
}

/// candle writes its context above the error, on a line of its own.
pub(crate) fn one_line(e: &candle_core::Error) -> String {
    let text = e.to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(": ")
}

/// candle attaches a backtrace to its errors when RUST_BACKTRACE is set, and prints it with the
/// message: a one-line error must not carry a stack dump.
pub fn without_backtrace(e: candle_core::Error) -> candle_core::Error {
    match e {
        candle_core::Error::WithBacktrace { inner, .. } => without_backtrace(*inner),
        candle_core::Error::Context { inner, context } => candle_core::Error::Context {
            inner: Box::new(without_backtrace(*inner)),
            context,
        },
        other => other,
    }
}

fn suggest(names: &[String]) -> String {
    if names.is_empty() {
        "; run `convscope summary MODEL` to list the layers".to_string()
    } else {
        format!("; did you mean {}?", names.join(", "))
    }
}

impl Error {
    /// The process's exit status for this error: 1, or the status an incomplete run states.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Incomplete { code, .. } => *code,
            _ => 1,
        }
    }

    pub fn graph(layer: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Graph {
            layer: layer.into(),
            detail: detail.into(),
        }
    }

    /// Wraps an I/O error, turning "not found" into the friendlier variant.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound { path }
        } else {
            Error::Io { path, source }
        }
    }
}

/// The item of `all` whose name (`name`) is `given`, ASCII case and surrounding spaces ignored;
/// otherwise a usage error listing the valid names: `unknown WHAT 'GIVEN'; valid: a, b, c`.
pub fn choose<T: Copy>(
    given: &str,
    all: &[T],
    name: impl Fn(&T) -> &'static str,
    what: &str,
) -> Result<T> {
    all.iter()
        .find(|t| name(t).eq_ignore_ascii_case(given.trim()))
        .copied()
        .ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(name).collect();
            Error::Usage(format!(
                "unknown {what} '{given}'; valid: {}",
                names.join(", ")
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_candle_error_loses_its_backtrace_and_keeps_its_context() {
        let traced = candle_core::Error::WithBacktrace {
            inner: Box::new(candle_core::Error::Msg("boom".into())),
            backtrace: Box::new(std::backtrace::Backtrace::force_capture()),
        };
        assert!(
            traced.to_string().lines().count() > 1,
            "the backtrace prints"
        );
        let wrapped = candle_core::Error::Context {
            inner: Box::new(traced),
            context: Box::new("while testing"),
        };
        let text = Error::from(wrapped).to_string();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.contains("boom") && text.contains("while testing"),
            "{text}"
        );
    }
}
