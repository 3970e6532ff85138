//! Lambda entry point (Function URL, AuthType NONE: the signed link is the credential): wiring only.

// The runtime service future nests deeper than rustc's default layout query depth allows.
#![recursion_limit = "256"]

use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use ferry_shared::{aws, config, gate::TokenKey, links::LinkKey, store::Store};
use review::{handle, Deps};

ferry_lambda::main!(
    LambdaFunctionUrlRequest,
    handle,
    config::json_logs(),
    |sdk| {
        let kms = aws_sdk_kms::Client::new(sdk);
        Deps {
            gate: approve::Gate {
                store: Store::new(aws::dynamodb_client(sdk), config::table_from_env()?),
                sfn: aws_sdk_sfn::Client::new(sdk),
                token_key: TokenKey::new(kms.clone(), config::token_key_from_env()?),
            },
            links: LinkKey::new(kms, config::link_key_from_env()?),
        }
    }
);
