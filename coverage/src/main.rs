//! `coverage-gate`: a thin shell over the library, which holds the logic so
//! it can be unit-tested.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    let result = dx_coverage_gate::run(std::env::args_os().skip(1), &mut stdout);
    let flushed = stdout.flush();
    match result.and_then(|code| flushed.map(|()| code).map_err(Into::into)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("coverage-gate: error: {err}");
            if err.is_usage() {
                eprintln!("\n{}", dx_coverage_gate::cli::USAGE);
            }
            ExitCode::from(2)
        }
    }
}
