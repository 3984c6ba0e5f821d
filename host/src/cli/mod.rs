//! The `wharf` command line.

mod dev;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Wharf: a WebAssembly-sandboxed connector runtime.
#[derive(Parser, Debug)]
#[command(name = "wharf", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a connector locally in the same sandbox the server uses (no
    /// server, no database): for connector authors.
    #[command(subcommand)]
    Dev(dev::DevCommand),
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Dev(cmd) => dev::run(cmd).await,
        }
    })
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("WHARF_LOG").unwrap_or_else(|_| EnvFilter::new("warn,wharf::runtime::log=off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
