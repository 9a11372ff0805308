//! The `convscope` binary: parses arguments and hands over to the CLI. No logic here.

fn main() -> std::process::ExitCode {
    let cli = convscope::cli::parse();
    match convscope::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
