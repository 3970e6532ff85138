//! The command line: global options, the commands, and dispatch to `cmd/`.

use anyhow::Result;
use clap::{Parser, Subcommand};
use ferry_shared::model::Verdict;

use crate::cmd;
use crate::context::Context;
use crate::exit::Exit;
use crate::output::Format;

/// Ferry ships Terraform-managed components: immutable release zips in S3, deployed
/// environment by environment through plan, approval and apply.
///
/// Resources come from flags, their variables, or the SAM stack's outputs (--stack). Exit
/// codes: 0 success, 1 error, 2 usage error, 3 release rejected, 4 timed out waiting, 5
/// deployment failed.
#[derive(Debug, Parser)]
#[command(name = "ferry", version)]
pub struct Cli {
    /// Output format: table (for people) or json (for scripts; shapes in docs/json.md).
    #[arg(
        long,
        short = 'o',
        global = true,
        value_enum,
        ignore_case = true,
        env = "FERRY_OUTPUT",
        default_value_t = Format::Table
    )]
    pub output: Format,

    /// Tables show every column and every id and time in full, however wide the terminal.
    #[arg(long, global = true)]
    pub wide: bool,

    /// Read resource names from this CloudFormation stack's outputs (the SAM stack).
    #[arg(long, global = true, env = "FERRY_STACK")]
    pub stack: Option<String>,

    /// Use this AWS profile (as the AWS CLI's --profile; overrides AWS_PROFILE).
    #[arg(long, global = true)]
    pub profile: Option<String>,

    /// Use this AWS region (as the AWS CLI's --region; overrides AWS_REGION).
    #[arg(long, global = true)]
    pub region: Option<String>,

    /// Show what Ferry and the handlers it runs log (info level; FERRY_LOG or RUST_LOG take an
    /// EnvFilter directive instead).
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Package(cmd::package::Args),
    Release(cmd::release::Args),
    Releases(cmd::releases::Args),
    Env(cmd::env::Args),
    Deploy(cmd::deploy::Args),
    Plan(cmd::plan::Args),
    Rollback(cmd::rollback::Args),
    Destroy(cmd::destroy::Args),
    Drift(cmd::drift::Args),
    Freeze(cmd::freeze::FreezeArgs),
    Unfreeze(cmd::freeze::UnfreezeArgs),
    Cancel(cmd::cancel::Args),
    /// Approve a deployment's pending plan.
    ///
    /// Example: ferry approve hello-service-1-2-0-20261127120000-ab12cd --env prod --comment "ok"
    ///
    /// With --browser, the Ferry API mints a review-page link for your own identity (checked
    /// against the environment's rules) and opens it: review the plan and decide there.
    Approve(cmd::approve::Args),
    /// Reject a deployment's pending plan.
    ///
    /// Example: ferry reject hello-service-1-2-0-20261127120000-ab12cd --env prod --comment "not during the freeze"
    Reject(cmd::approve::Args),
    Approvers(cmd::approvers::Args),
    Status(cmd::status::Args),
    Deployment(cmd::deployment::Args),
    Deployments(cmd::lists::DeploymentsArgs),
    Approvals(cmd::lists::ApprovalsArgs),
    Components(cmd::lists::ComponentsArgs),
    History(cmd::history::Args),
    Logs(cmd::logs::Args),
    Unlock(cmd::unlock::Args),
    Local(cmd::local::Args),
    /// Print a shell completion script.
    ///
    /// Example: ferry completion bash > /etc/bash_completion.d/ferry
    /// Example: ferry completion zsh > "${fpath[1]}/_ferry"
    Completion {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

impl Cli {
    /// `ferry local serve`: the local stack's daemon, whose log is its log file.
    pub fn is_local_daemon(&self) -> bool {
        matches!(&self.command, Command::Local(a) if a.is_serve())
    }
}

pub async fn run(cli: Cli) -> Result<Exit> {
    // The stack is only read by commands that ask the context for a resource.
    let ctx = Context::new(cli.output, cli.stack);
    match cli.command {
        Command::Package(args) => cmd::package::run(&ctx, args),
        Command::Release(args) => cmd::release::run(&ctx, args).await,
        Command::Releases(args) => cmd::releases::run(&ctx, args).await,
        Command::Env(args) => cmd::env::run(&ctx, args).await,
        Command::Deploy(args) => cmd::deploy::run(&ctx, args).await,
        Command::Plan(args) => cmd::plan::run(&ctx, args).await,
        Command::Rollback(args) => cmd::rollback::run(&ctx, args).await,
        Command::Destroy(args) => cmd::destroy::run(&ctx, args).await,
        Command::Drift(args) => cmd::drift::run(&ctx, args).await,
        Command::Freeze(args) => cmd::freeze::freeze(&ctx, args).await,
        Command::Unfreeze(args) => cmd::freeze::unfreeze(&ctx, args).await,
        Command::Cancel(args) => cmd::cancel::run(&ctx, args).await,
        Command::Approve(args) => cmd::approve::run(&ctx, args, Verdict::Approve).await,
        Command::Reject(args) => cmd::approve::run(&ctx, args, Verdict::Reject).await,
        Command::Approvers(args) => cmd::approvers::run(&ctx, args).await,
        Command::Status(args) => cmd::status::run(&ctx, args).await,
        Command::Deployment(args) => cmd::deployment::run(&ctx, args).await,
        Command::Deployments(args) => cmd::lists::deployments(&ctx, args).await,
        Command::Approvals(args) => cmd::lists::approvals(&ctx, args).await,
        Command::Components(args) => cmd::lists::components(&ctx, args).await,
        Command::History(args) => cmd::history::run(&ctx, args).await,
        Command::Logs(args) => cmd::logs::run(&ctx, args).await,
        Command::Unlock(args) => cmd::unlock::run(&ctx, args).await,
        Command::Local(args) => cmd::local::run(&ctx, args).await,
        Command::Completion { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "ferry", &mut std::io::stdout());
            Ok(Exit::Success)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every command a person runs has an example in its help, and every argument says what
    /// it is.
    #[test]
    fn every_command_has_an_example_and_every_argument_a_description() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let here = format!("{path} {}", cmd.get_name());
            let leaf = !cmd.has_subcommands() || cmd.is_args_conflicts_with_subcommands_set();
            let about = cmd
                .get_long_about()
                .or(cmd.get_about())
                .map(ToString::to_string)
                .unwrap_or_default();
            if leaf && !cmd.is_hide_set() && !about.contains("Example") && path.contains(' ') {
                missing.push(format!("{here}: no example"));
            }
            for a in cmd.get_arguments() {
                if a.is_hide_set() || ["help", "version"].contains(&a.get_id().as_str()) {
                    continue;
                }
                if a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{here}: {} has no description", a.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_name() != "help" {
                    walk(sub, &here, missing);
                }
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }

    #[test]
    fn resource_flags_are_not_required_in_help() {
        let help = Cli::command()
            .find_subcommand_mut("deploy")
            .expect("deploy")
            .render_long_help()
            .to_string();
        assert!(help.contains("--table"), "{help}");
        assert!(!help
            .contains("--table <TABLE>\n          DynamoDB table Ferry keeps its records in\n"));
        let usage = Cli::command()
            .find_subcommand_mut("deploy")
            .expect("deploy")
            .render_usage()
            .to_string();
        for flag in ["--table", "--bucket", "--state-machine"] {
            assert!(!usage.contains(flag), "{flag} shown as required: {usage}");
        }
    }
}
