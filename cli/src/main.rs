//! `ferry`: release, deploy and inspect Terraform-managed components.

mod api_client;
mod args;
mod cli;
mod cmd;
mod context;
mod errors;
mod exit;
#[cfg(test)]
mod fuzz;
mod output;
mod parse;
mod progress;
mod stack;

use std::process::ExitCode;

use clap::Parser;

use crate::exit::Exit;

fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of stdout goes away (`ferry … | head`)
    // instead of panicking on the failed write. Rust ignores SIGPIPE by default; sockets are
    // unaffected (std and mio send with MSG_NOSIGNAL).
    #[cfg(unix)]
    // SAFETY: restoring a signal's default disposition at the start of main, before any
    // thread exists, races with nothing.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Local builds run the build helper as `ferry-build`, a link to this executable.
    let mut argv = std::env::args_os();
    let name = argv.next().map(std::path::PathBuf::from);
    if name.as_deref().and_then(std::path::Path::file_name) == Some("ferry-build".as_ref()) {
        return ferry_build::main(argv.collect());
    }
    // reqwest (the approval API) builds on rustls without a provider of its own: ring, as
    // the SDK's client uses (Cargo.toml says why not aws-lc).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = cli::Cli::parse();
    // The SDK's own loader reads these, so --profile/--region behave exactly like the AWS
    // CLI's (set before any thread exists).
    if let Some(p) = &args.profile {
        std::env::set_var("AWS_PROFILE", p);
    }
    if let Some(r) = &args.region {
        std::env::set_var("AWS_REGION", r);
    }
    // The terminal gets ferry's own warnings only; the handlers ferry runs in-process (cancel,
    // local mode) log nothing there unless asked (-v, FERRY_LOG, RUST_LOG). The local stack's
    // daemon logs at info into its log file.
    let level = if args.verbose || args.is_local_daemon() {
        "info"
    } else {
        "ferry=warn"
    };
    ferry_shared::aws::init_cli_tracing(level);
    let verbose = args.verbose;
    output::set_wide(args.wide);
    match run(args) {
        Ok(code) => code.into(),
        Err(err) => {
            eprintln!("error: {}", errors::one_line(&err));
            if verbose {
                eprintln!("detail: {err:#}");
            }
            errors::exit_for(&err).into()
        }
    }
}

fn run(args: cli::Cli) -> anyhow::Result<Exit> {
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| anyhow::anyhow!("starting the async runtime: {e}"))?;
    runtime.block_on(cli::run(args))
}
