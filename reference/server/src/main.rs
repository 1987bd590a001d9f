//! `dx-reference`: runs the dx-www reference server, and the operator's commands on its
//! database (`migrate`, `add-account`).

use std::ffi::OsString;
use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use dx_server::commands::{self, AccountOutcome, CommandError};
use dx_server::config::Origins;
use dx_server::{BoundServer, Config, ServeError, ServerArgs, shutdown_signal, telemetry};

/// The environment variable `add-account` reads the password from when no file is given.
const PASSWORD_ENV: &str = "DX_ACCOUNT_PASSWORD";

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
    /// Apply the database migrations (auth store and query module) and exit
    ///
    /// Exit 0 when the schema is current, 1 when the database could not be reached or
    /// migrated, 2 without a database URL (--database-url or DATABASE_URL).
    Migrate {
        /// The same settings as serving (only the database ones matter).
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Add an account (email and password) to the configured database
    ///
    /// The account is validated and hashed (Argon2id) exactly as the register endpoint does,
    /// after applying the migrations; a database URL is required. The password is read from
    /// --password-file, else the DX_ACCOUNT_PASSWORD environment variable, else one line of
    /// standard input, never from the command line. Exit 0 printing the account's email and
    /// id, 1 when the store fails or the email has an account (unless --if-missing), 2 on
    /// usage errors (including an email or password registration refuses).
    AddAccount(AddAccountArgs),
}

/// `add-account`'s arguments: its own and the server's.
#[derive(Debug, clap::Args)]
struct AddAccountArgs {
    #[command(flatten)]
    account: AccountArgs,
    /// The same settings as serving (only the database ones matter).
    #[command(flatten)]
    server: ServerArgs,
}

/// The account to add.
#[derive(Debug, clap::Args)]
struct AccountArgs {
    /// The account's email (normalised as registration does: NFC, lowercase)
    #[arg(long, value_name = "EMAIL")]
    email: String,
    /// A file whose first line is the password [default: DX_ACCOUNT_PASSWORD, else one line
    /// of standard input]
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Succeed (exit 0) when the email has an account already, leaving it unchanged
    #[arg(long)]
    if_missing: bool,
}

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let mut command = Cli::command();
    let parsed = command
        .try_get_matches_from_mut(&argv)
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, m)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => parse_failure(e, &command, &argv),
    };
    let origins = Origins::from_matches(matches.subcommand().map_or(&matches, |(_, m)| m));
    let (mut args, action) = match cli.command {
        None => (cli.server, Action::Serve),
        Some(Command::Migrate { server }) => (server, Action::Migrate),
        Some(Command::AddAccount(AddAccountArgs { account, server })) => {
            (server, Action::AddAccount(account))
        }
    };
    args.origins = origins;
    let resolved = match &action {
        Action::Serve => Config::resolve(&args),
        Action::Migrate => Config::resolve_for_command(&args, "dx-reference migrate"),
        Action::AddAccount(_) => Config::resolve_for_command(&args, "dx-reference add-account"),
    };
    let config = match resolved {
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
    match action {
        Action::Serve => serve(&runtime, config),
        Action::Migrate => match runtime.block_on(commands::migrate(&config)) {
            Ok(()) => {
                println!(
                    "dx-reference: migrations applied to {}",
                    config.database.redacted()
                );
                ExitCode::SUCCESS
            }
            Err(e) => command_failed("migration failed", &e),
        },
        Action::AddAccount(account) => add_account(&runtime, &config, &account),
    }
}

/// What the command line asked for.
#[derive(Debug)]
enum Action {
    Serve,
    Migrate,
    AddAccount(AccountArgs),
}

fn serve(runtime: &tokio::runtime::Runtime, config: Config) -> ExitCode {
    let result = runtime.block_on(async {
        let bound = BoundServer::bind(config).await?;
        bound.serve(shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ (ServeError::Start(_) | ServeError::Tls(_))) => {
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

fn add_account(
    runtime: &tokio::runtime::Runtime,
    config: &Config,
    account: &AccountArgs,
) -> ExitCode {
    let password = match read_password(account.password_file.as_deref(), &account.email) {
        Ok(p) => p,
        Err(message) => {
            eprintln!("dx-reference: {message}");
            return ExitCode::from(2);
        }
    };
    let outcome = runtime.block_on(commands::add_account(
        config,
        &account.email,
        &password,
        account.if_missing,
    ));
    match outcome {
        Ok(AccountOutcome::Added(a)) => {
            println!("added account {} (id {})", a.email, a.id);
            ExitCode::SUCCESS
        }
        Ok(AccountOutcome::Existing(a)) => {
            println!(
                "account {} exists already (id {}); left unchanged",
                a.email, a.id
            );
            ExitCode::SUCCESS
        }
        Err(e) => command_failed("add-account failed", &e),
    }
}

fn command_failed(what: &str, error: &CommandError) -> ExitCode {
    eprintln!("dx-reference: {what}: {error}");
    ExitCode::from(error.exit_code())
}

/// The password for `add-account`, never from the command line (where `ps` shows it): the
/// first line of `file`, else [`PASSWORD_ENV`], else one line of standard input (not echoed
/// on a terminal).
fn read_password(file: Option<&Path>, email: &str) -> Result<String, String> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the password file {}: {e}", path.display()))?;
        return Ok(first_line(&text).to_owned());
    }
    if let Some(value) = std::env::var_os(PASSWORD_ENV) {
        return value
            .into_string()
            .map_err(|_| format!("the environment variable {PASSWORD_ENV} is not UTF-8"));
    }
    let stdin = std::io::stdin();
    let on_terminal = stdin.is_terminal();
    let echo_off = on_terminal && set_echo(false);
    if on_terminal {
        eprint!("Password for {email}: ");
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if echo_off {
        set_echo(true);
        eprintln!();
    }
    match read {
        Ok(0) => Err(format!(
            "no password: give --password-file FILE, set {PASSWORD_ENV}, or write it on standard input"
        )),
        Ok(_) => Ok(first_line(&line).to_owned()),
        Err(e) => Err(format!("cannot read the password from standard input: {e}")),
    }
}

/// `text` up to its first line break.
fn first_line(text: &str) -> &str {
    text.split(['\n', '\r']).next().unwrap_or_default()
}

/// Turns the terminal's echo on or off with `stty` (the binary forbids `unsafe`, so no
/// termios here); false when that failed and the input will be seen.
fn set_echo(on: bool) -> bool {
    std::process::Command::new("stty")
        .arg(if on { "echo" } else { "-echo" })
        .stdin(std::process::Stdio::inherit())
        .status()
        .is_ok_and(|s| s.success())
}

/// Reports a command-line error and exits 2 (0 for `--help` and `--version`). clap names a
/// bad value by its flag even when it came from the flag's environment variable; the
/// operator who set `DX_MAX_BODY_BYTES=-5` must read `DX_MAX_BODY_BYTES`.
fn parse_failure(error: clap::Error, command: &clap::Command, argv: &[OsString]) -> ! {
    match from_environment(&error, command, argv) {
        Some(message) => {
            eprint!("{message}");
            std::process::exit(2)
        }
        None => error.exit(),
    }
}

/// `error`'s message naming the environment variable, when the bad value came from one: the
/// flag is not on the command line and its variable is set.
fn from_environment(
    error: &clap::Error,
    command: &clap::Command,
    argv: &[OsString],
) -> Option<String> {
    if !matches!(
        error.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return None;
    }
    let Some(ContextValue::String(invalid_arg)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = invalid_arg.strip_prefix("--")?.split([' ', '=']).next()?;
    let arg = std::iter::once(command)
        .chain(command.get_subcommands())
        .flat_map(clap::Command::get_arguments)
        .find(|a| a.get_long() == Some(long))?;
    let env = arg.get_env()?;
    std::env::var_os(env)?;
    let flag = format!("--{long}");
    let on_command_line = argv.iter().skip(1).any(|a| {
        let a = a.to_string_lossy();
        a == flag || a.starts_with(&format!("{flag}="))
    });
    if on_command_line {
        return None;
    }
    let text = error.render().to_string();
    Some(text.replacen(
        &format!("'{invalid_arg}'"),
        &format!(
            "the environment variable {} (which sets {flag})",
            env.to_string_lossy()
        ),
        1,
    ))
}
