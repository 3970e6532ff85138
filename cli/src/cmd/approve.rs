//! `ferry approve` / `ferry reject`: decide a pending gate through the approval function, which
//! records who decided.

use anyhow::Result;
use ferry_shared::model::{
    ApprovalStatus, DecisionRequest, DecisionResponse, EnvironmentName, LinkRequest, LinkResponse,
    Verdict,
};

use crate::api_client;
use crate::args::Actor;
use crate::context::Context;
use crate::exit::Exit;
use crate::stack::Resource;

/// Approve or reject a deployment's pending plan (the help is on the `approve` and `reject`
/// commands in cli.rs).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The deployment id `ferry deploy` printed.
    deployment: String,
    /// The environment whose approval to decide (needed when several are pending).
    #[arg(long, value_parser = crate::parse::environment)]
    env: Option<EnvironmentName>,
    /// Why (kept with the decision; at most 2 KiB).
    #[arg(long, value_parser = crate::parse::comment, conflicts_with = "browser")]
    comment: Option<String>,
    /// Decide on the review page instead: open a link minted for your own identity, valid
    /// for 15 minutes and one decision ($BROWSER, else xdg-open/open).
    #[arg(long)]
    browser: bool,
    /// With --browser: print the link instead of opening it. It acts as you: do not share it.
    #[arg(long, requires = "browser")]
    print_url: bool,
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
    if args.browser {
        let req = LinkRequest {
            deployment_id: args.deployment,
            environment: args.env,
        };
        let link: LinkResponse = api_client::post(&url, "links", &req, &caller).await?;
        let opened = !args.print_url && open_in_browser(&link.url);
        if ctx.json() {
            crate::output::json(&serde_json::json!({
                "deployment_id": link.deployment_id,
                "environment": link.environment,
                "approver": link.approver,
                "expires_at": link.expires_at,
                "opened": opened,
                "url": (!opened).then_some(&link.url),
            }))?;
        } else if opened {
            eprintln!(
                "opened the review page for {} in {} as {} (the link expires {})",
                link.deployment_id,
                link.environment,
                link.approver,
                crate::output::time(&link.expires_at)
            );
        } else {
            if !args.print_url {
                eprintln!("could not open a browser; open this link yourself (it acts as you):");
            }
            println!("{}", link.url);
        }
        return Ok(Exit::Success);
    }
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
        let names: Vec<&str> = resp
            .approved_by
            .iter()
            .map(|w| ferry_shared::identity::short_name(w))
            .collect();
        if resp.status == ApprovalStatus::Pending {
            println!(
                "approval counted for {} in {} (plan {}): {} of {} approvals: {}; waiting for the rest",
                resp.deployment_id,
                resp.environment,
                resp.plan_summary,
                names.len(),
                resp.required_approvals,
                names.join(", ")
            );
        } else {
            println!(
                "{} {} in {} (plan {}) by {}",
                resp.status,
                resp.deployment_id,
                resp.environment,
                resp.plan_summary,
                resp.decided_by
            );
        }
    }
    Ok(Exit::Success)
}

/// Opens `url` in the user's browser: `$BROWSER` (as `git` and `gh` honour it), else the
/// platform's opener. Whether it started; the link is never printed on the way.
fn open_in_browser(url: &str) -> bool {
    let opener = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| {
            if cfg!(target_os = "macos") {
                "open".into()
            } else {
                "xdg-open".into()
            }
        });
    std::process::Command::new(opener.trim())
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
