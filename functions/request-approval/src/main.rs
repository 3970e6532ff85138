//! Lambda entry point: wiring only.

use ferry_shared::{aws, config, store::Store};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use request_approval::{handle, Deps, GateInput};

#[tokio::main]
async fn main() -> Result<(), Error> {
    aws::init_tracing(config::json_logs());
    let cfg = config::Config::from_env()?;
    let topic_arn = config::topic_arn_from_env()?;
    let sdk = aws::sdk_config().await;
    let deps = Deps {
        store: Store::new(aws::dynamodb_client(&sdk), cfg.table),
        s3: aws::s3_client(&sdk),
        bucket: cfg.artifact_bucket,
        sns: aws_sdk_sns::Client::new(&sdk),
        topic_arn,
        sfn: aws_sdk_sfn::Client::new(&sdk),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<GateInput>| {
        let deps = &deps;
        async move { handle(deps, event.payload).await }
    }))
    .await
}
