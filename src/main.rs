use std::process::ExitCode;

use clap::Parser;

// The token path allocates many small short-lived strings; mimalloc handles that pattern
// with less contention between worker threads than glibc malloc (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match gatehouse::cli::run(gatehouse::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
