//! Lambda entry point: wiring only.

use ferry_shared::{aws, config, store::Store};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use register_release::{handle, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    aws::init_tracing(config::json_logs());
    let table = config::table_from_env()?;
    let sdk = aws::sdk_config().await;
    let deps = Deps {
        s3: aws::s3_client(&sdk),
        store: Store::new(aws::dynamodb_client(&sdk), table),
    };
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<aws_lambda_events::s3::S3Event>| {
            let deps = &deps;
            async move { handle(deps, event.payload).await }
        },
    ))
    .await
}
