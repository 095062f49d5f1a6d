//! `codereview-sync`: a thin binary over the library; see `cli.rs` for the commands.

use std::process::ExitCode;

use clap::Parser as _;
use codereview_sync::cli::{self, Cli};
use codereview_sync::config;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("codereview-sync: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let mut stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    match runtime.block_on(cli::run(cli, &config::process_env, &mut stdin, &mut stdout)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("codereview-sync: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
