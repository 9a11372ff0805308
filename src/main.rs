//! The `convscope` binary: parses arguments and hands over to the CLI. No logic here.

/// A failed allocation becomes an `error:` line and exit 1, with the terminal given back, not
/// an abort (see `convscope::alloc`).
#[global_allocator]
static ALLOCATOR: convscope::alloc::ErrorOnOom = convscope::alloc::ErrorOnOom;

fn main() -> std::process::ExitCode {
    // `convscope summary model.onnx | head` should end quietly, as Unix tools do, not panic in
    // println! on the closed pipe: restore the default SIGPIPE action that Rust's runtime ignores.
    #[cfg(unix)]
    // SAFETY: called first, before any thread exists; SIG_DFL is a valid action for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Before any thread exists: tensors are large and short-lived (see the function).
    convscope::exec::cpu::keep_freed_memory();
    let cli = convscope::cli::parse();
    match convscope::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "error: {}",
                convscope::text::escape_controls(&e.to_string())
            );
            std::process::ExitCode::from(e.exit_code())
        }
    }
}
