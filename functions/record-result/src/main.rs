//! Lambda entry point: wiring only.

// The runtime service future nests deeper than rustc's default layout query depth allows.
#![recursion_limit = "256"]

use ferry_shared::{aws, config, store::Store};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use record_result::{handle, Deps, RecordInput};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let sdk = ferry_lambda::cold_start(config::json_logs()).await;
    let deps = Deps {
        store: Store::new(aws::dynamodb_client(&sdk), config::table_from_env()?),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<RecordInput>| {
        let deps = &deps;
        async move {
            handle(deps, event.payload)
                .await
                .map_err(ferry_lambda::diagnostic)
        }
    }))
    .await
}
