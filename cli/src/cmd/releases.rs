//! `ferry releases`: what was registered, and uploads that were rejected with their reasons.

use anyhow::Result;
use ferry_shared::failures::{self, RegistrationFailure};
use ferry_shared::model::{ComponentName, Rejection, Release};
use ferry_shared::store::Store;
use serde::Serialize;

use crate::args::TableArg;
use crate::context::Context;
use crate::exit::Exit;
use crate::output::{self, Format};
use crate::stack::Resource;

#[derive(Serialize)]
struct Listing {
    /// The component (the name in its ferry.json).
    component: String,
    releases: Vec<Release>,
    rejections: Vec<Rejection>,
}

/// List a component's releases, newest first, and any rejected uploads; or, with --failed,
/// uploads that could not be registered at all.
///
/// Example: ferry releases hello-service
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The component (the name in its ferry.json).
    #[arg(value_parser = crate::parse::component)]
    component: ComponentName,
    /// Show uploads whose registration failed every attempt (a fault, not a bad zip), instead.
    #[arg(long)]
    failed: bool,
    /// The queue of failed registrations (the stack's RegistrationFailuresQueueUrl output)
    /// [default: from --stack].
    #[arg(long, env = "FERRY_FAILURES_QUEUE_URL", hide_env_values = true)]
    failures_queue: Option<String>,
    #[command(flatten)]
    table: TableArg,
}

pub async fn run(ctx: &Context, args: Args) -> Result<Exit> {
    if args.failed {
        let queue = ctx
            .resource(Resource::FailuresQueue, args.failures_queue.as_deref())
            .await?;
        let sqs = aws_sdk_sqs::Client::new(ctx.sdk().await);
        let prefix = format!("releases/{}/", args.component);
        let failures: Vec<RegistrationFailure> = failures::list(&sqs, &queue)
            .await?
            .into_iter()
            .filter(|f| f.keys.iter().any(|k| k.starts_with(&prefix)))
            .collect();
        output::listing(
            ctx.format,
            "failures",
            &failures,
            &format!("no failed registrations of {}", args.component),
            &[
                output::id("KEY"),
                output::when("WHEN"),
                output::keep("ATTEMPTS").hide(1),
                output::text("ERROR"),
            ],
            |f| {
                vec![
                    f.keys.join(", "),
                    f.failed_at.as_ref().map(output::time).unwrap_or_default(),
                    f.attempts.map(|n| n.to_string()).unwrap_or_default(),
                    f.error.clone(),
                ]
            },
        )?;
        return Ok(Exit::Success);
    }
    let store = ctx.store(args.table.table.as_deref()).await?;
    list(&store, &args.component, ctx.format).await?;
    Ok(Exit::Success)
}

async fn list(store: &Store, name: &ComponentName, format: Format) -> Result<()> {
    let component = name.as_str();
    let releases = store.list_releases(name).await?;
    let rejections = store.list_rejections(component).await?;
    if format == Format::Json {
        return output::json(&Listing {
            component: component.to_owned(),
            releases,
            rejections,
        });
    }
    if releases.is_empty() {
        println!("no releases of {component}");
    } else {
        let mut t = output::table(&[
            output::keep("VERSION"),
            output::id("SHA-256"),
            output::keep("SIZE"),
            output::when("REGISTERED"),
            output::id("COMMIT").hide(1),
        ]);
        for r in &releases {
            t.add_row(vec![
                r.version.to_string(),
                r.sha256.clone(),
                output::size(r.size),
                output::time(&r.registered_at),
                r.manifest.commit.clone().unwrap_or_default(),
            ]);
        }
        output::print(&t);
    }
    if !rejections.is_empty() {
        println!("\nrejected uploads:");
        let mut t = output::table(&[
            output::id("KEY"),
            output::keep("REASON"),
            output::text("DETAIL"),
            output::when("WHEN"),
        ]);
        for r in &rejections {
            t.add_row(vec![
                r.s3_key.clone(),
                r.kind.to_string(),
                r.reason.clone(),
                output::time(&r.rejected_at),
            ]);
        }
        output::print(&t);
    }
    Ok(())
}
