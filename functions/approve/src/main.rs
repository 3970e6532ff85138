//! Lambda entry point (Function URL, AWS_IAM auth): wiring only.

use approve::{handle, Deps};
use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use ferry_shared::{aws, config, store::Store};
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
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<LambdaFunctionUrlRequest>| {
            let deps = &deps;
            async move { handle(deps, event.payload).await }
        },
    ))
    .await
}
