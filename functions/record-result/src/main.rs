//! Lambda entry point: wiring only.

use ferry_shared::{aws, config, store::Store};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use record_result::{handle, Deps, RecordInput};

#[tokio::main]
async fn main() -> Result<(), Error> {
    aws::init_tracing(config::json_logs());
    let table = config::table_from_env()?;
    let sdk = aws::sdk_config().await;
    let deps = Deps {
        store: Store::new(aws::dynamodb_client(&sdk), table),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<RecordInput>| {
        let deps = &deps;
        async move { handle(deps, event.payload).await }
    }))
    .await
}
