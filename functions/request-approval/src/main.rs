//! Lambda entry point: wiring only.

// The runtime service future nests deeper than rustc's default layout query depth allows.
#![recursion_limit = "256"]

use ferry_shared::{aws, config, gate::TokenKey, links::LinkKey, store::Store};
use request_approval::{handle, Deps, Request};

ferry_lambda::main!(Request, handle, config::json_logs(), |sdk| {
    let cfg = config::Config::from_env()?;
    Deps {
        store: Store::new(aws::dynamodb_client(sdk), cfg.table),
        s3: aws::s3_client(sdk),
        bucket: cfg.artifact_bucket,
        sns: aws_sdk_sns::Client::new(sdk),
        topic_arn: config::topic_arn_from_env()?,
        sfn: aws_sdk_sfn::Client::new(sdk),
        token_key: TokenKey::new(aws_sdk_kms::Client::new(sdk), config::token_key_from_env()?),
        links: Some(request_approval::Links {
            key: LinkKey::new(aws_sdk_kms::Client::new(sdk), config::link_key_from_env()?),
            review_url: config::review_url_from_env()?,
            local_identities: false,
        }),
    }
});
