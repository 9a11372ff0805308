//! The `convscope` binary: parses arguments and hands over to the CLI. No logic here.

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
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
