use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match gatehouse::cli::run(gatehouse::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
