//! `dx-reference`: runs the dx-www reference server.

use std::process::ExitCode;

use clap::Parser;
use dx_server::{BoundServer, Config, ServeError, ServerArgs, shutdown_signal, telemetry};

/// The dx-www reference server.
#[derive(Debug, Parser)]
#[command(name = "dx-reference", version, about)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::resolve(&cli.server) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dx-reference: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dx-reference: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let bound = BoundServer::bind(config).await?;
        bound.serve(shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ ServeError::Start(_)) => {
            eprintln!("dx-reference: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            tracing::error!(error = %e, "dx-reference failed");
            eprintln!("dx-reference: {e}");
            ExitCode::FAILURE
        }
    }
}
