//! Lambda entry point (Function URL, AWS_IAM auth): wiring only.

// The runtime service future nests deeper than rustc's default layout query depth allows.
#![recursion_limit = "256"]

use approve::{handle, Deps};
use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use ferry_shared::{aws, config, gate::TokenKey, links::LinkKey, store::Store};

ferry_lambda::main!(
    LambdaFunctionUrlRequest,
    handle,
    config::json_logs(),
    |sdk| Deps {
        store: Store::new(aws::dynamodb_client(sdk), config::table_from_env()?),
        sfn: aws_sdk_sfn::Client::new(sdk),
        token_key: TokenKey::new(aws_sdk_kms::Client::new(sdk), config::token_key_from_env()?),
        state_machine_arn: config::state_machine_from_env()?,
        links: Some(approve::CallerLinks {
            key: LinkKey::new(aws_sdk_kms::Client::new(sdk), config::link_key_from_env()?),
            review_url: config::review_url_from_env()?,
        }),
    }
);
