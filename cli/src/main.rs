//! `ferry`: release, deploy and inspect Terraform-managed components.

mod approval;
mod cli;
mod deploy;
mod output;
mod package;
mod release;
mod stack;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Stack outputs become default variables before clap reads flags and environment, and
    // while this process is still single-threaded (setting the environment is only sound then).
    let args: Vec<String> = std::env::args().collect();
    if let Some(name) = stack::requested(&args) {
        let resolved = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(stack::resolve(&name)));
        match resolved {
            Ok(vars) => {
                for (var, value) in vars {
                    if !ferry_shared::config::is_set(var) {
                        std::env::set_var(var, value);
                    }
                }
            }
            Err(err) => {
                eprintln!("error: {err:#}");
                return ExitCode::from(cli::EXIT_FAILURE);
            }
        }
    }
    let args = cli::Cli::parse();
    ferry_shared::aws::init_tracing(false);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: starting the async runtime: {err}");
            return ExitCode::from(cli::EXIT_FAILURE);
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(cli::EXIT_FAILURE)
        }
    }
}
