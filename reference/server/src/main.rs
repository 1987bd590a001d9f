//! `dx-reference`: runs the dx-www reference server.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use dx_server::{BoundServer, Config, ServeError, ServerArgs, migrate, shutdown_signal, telemetry};

/// The dx-www reference server.
#[derive(Debug, Parser)]
#[command(
    name = "dx-reference",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    server: ServerArgs,
}

/// What to do instead of serving.
#[derive(Debug, Subcommand)]
enum Command {
    /// Apply the database migrations (auth store and query module) and exit: 0 when the
    /// schema is current, 1 when the database could not be migrated.
    Migrate {
        /// The same settings as serving (only the database ones matter).
        #[command(flatten)]
        server: ServerArgs,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (migrating, args) = match &cli.command {
        Some(Command::Migrate { server }) => (true, server),
        None => (false, &cli.server),
    };
    let config = match Config::resolve(args) {
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
    if migrating {
        return match runtime.block_on(migrate(config)) {
            Ok(()) => {
                println!("dx-reference: migrations applied");
                ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!(error = %e, cause = ?e.source_chain(), "migration failed");
                eprintln!("dx-reference: migration failed: {e}");
                ExitCode::FAILURE
            }
        };
    }
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
