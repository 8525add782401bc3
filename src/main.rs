use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

// The token path allocates many small short-lived strings; mimalloc handles that pattern
// with less contention between worker threads than glibc malloc (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match gatehouse::cli::run(gatehouse::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        // `gatehouse events | head`: the reader had what it wanted.
        Err(e) if e.is_closed_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            // Not eprintln!: it panics when stderr is closed too.
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::FAILURE
        }
    }
}
