//! Lambda entry point: wiring only.

use check_and_lock::{handle, Deps};
use ferry_shared::{aws, config, store::Store, workflow::EnvContext};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    aws::init_tracing(config::json_logs());
    let table = config::table_from_env()?;
    let sdk = aws::sdk_config().await;
    let deps = Deps {
        store: Store::new(aws::dynamodb_client(&sdk), table),
        sfn: aws_sdk_sfn::Client::new(&sdk),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<EnvContext>| {
        let deps = &deps;
        async move { handle(deps, event.payload).await }
    }))
    .await
}
