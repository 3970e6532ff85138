//! Lambda entry point: wiring only.

// The runtime service future nests deeper than rustc's default layout query depth allows.
#![recursion_limit = "256"]

use check_and_lock::{handle, Deps};
use ferry_shared::{aws, config, store::Store, workflow::EnvContext};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let sdk = ferry_lambda::cold_start(config::json_logs()).await;
    let deps = Deps {
        store: Store::new(aws::dynamodb_client(&sdk), config::table_from_env()?),
        sfn: aws_sdk_sfn::Client::new(&sdk),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<EnvContext>| {
        let deps = &deps;
        async move {
            handle(deps, event.payload)
                .await
                .map_err(ferry_lambda::diagnostic)
        }
    }))
    .await
}
