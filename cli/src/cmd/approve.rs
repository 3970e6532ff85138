//! `ferry approve` / `ferry reject`: decide a pending gate through the approval function, which
//! records who decided.

use anyhow::Result;
use ferry_shared::model::{DecisionRequest, DecisionResponse, EnvironmentName, Verdict};

use crate::api_client;
use crate::args::Actor;
use crate::context::Context;
use crate::exit::Exit;
use crate::stack::Resource;

/// Approve or reject a deployment's pending plan.
///
/// Example: ferry approve hello-service-1-2-0-20261127120000-ab12cd --env prod --comment "ok"
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The deployment id `ferry deploy` printed.
    deployment: String,
    /// The environment whose approval to decide (needed when several are pending).
    #[arg(long, value_parser = crate::parse::environment)]
    env: Option<EnvironmentName>,
    /// Why (kept with the decision; at most 2 KiB).
    #[arg(long, value_parser = crate::parse::comment)]
    comment: Option<String>,
    /// The Ferry API's URL (the stack's ApprovalUrl output) [default: from --stack].
    #[arg(long, env = "FERRY_APPROVAL_URL", hide_env_values = true)]
    approval_url: Option<String>,
    #[command(flatten)]
    actor: Actor,
}

pub async fn run(ctx: &Context, args: Args, verdict: Verdict) -> Result<Exit> {
    let url = ctx
        .resource(Resource::ApprovalUrl, args.approval_url.as_deref())
        .await?;
    let caller = ctx.caller(&args.actor).await?;
    let req = DecisionRequest {
        deployment_id: args.deployment,
        environment: args.env,
        decision: verdict,
        comment: args.comment,
    };
    let resp: DecisionResponse = api_client::post(&url, "decisions", &req, &caller).await?;
    if ctx.json() {
        crate::output::json(&resp)?;
    } else {
        println!(
            "{} {} in {} (plan {}) by {}",
            resp.status, resp.deployment_id, resp.environment, resp.plan_summary, resp.decided_by
        );
    }
    Ok(Exit::Success)
}
