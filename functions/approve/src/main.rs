//! Lambda entry point (Function URL, AWS_IAM auth): wiring only.

// The runtime service future nests deeper than rustc's default layout query depth allows.
#![recursion_limit = "256"]

use approve::{handle, Deps};
use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use ferry_shared::{aws, config, store::Store};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let sdk = ferry_lambda::cold_start(config::json_logs()).await;
    let deps = Deps {
        store: Store::new(aws::dynamodb_client(&sdk), config::table_from_env()?),
        sfn: aws_sdk_sfn::Client::new(&sdk),
    };
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<LambdaFunctionUrlRequest>| {
            let deps = &deps;
            async move { handle(deps, event.payload).await }
        },
    ))
    .await
}
