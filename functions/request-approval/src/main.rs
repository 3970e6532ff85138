//! Lambda entry point: wiring only.

// The runtime service future nests deeper than rustc's default layout query depth allows.
#![recursion_limit = "256"]

use ferry_shared::{aws, config, store::Store};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use request_approval::{handle, Deps, GateInput};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let sdk = ferry_lambda::cold_start(config::json_logs()).await;
    let cfg = config::Config::from_env()?;
    let deps = Deps {
        store: Store::new(aws::dynamodb_client(&sdk), cfg.table),
        s3: aws::s3_client(&sdk),
        bucket: cfg.artifact_bucket,
        sns: aws_sdk_sns::Client::new(&sdk),
        topic_arn: config::topic_arn_from_env()?,
        sfn: aws_sdk_sfn::Client::new(&sdk),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<GateInput>| {
        let deps = &deps;
        async move {
            handle(deps, event.payload)
                .await
                .map_err(ferry_lambda::diagnostic)
        }
    }))
    .await
}
