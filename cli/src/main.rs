//! `ferry`: release, deploy and inspect Terraform-managed components.

mod approval;
mod cli;
mod deploy;
mod output;
mod package;
mod release;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::Cli::parse();
    ferry_shared::aws::init_tracing(false);
    match cli::run(args).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(cli::EXIT_FAILURE)
        }
    }
}
