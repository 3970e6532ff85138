//! Lambda entry point: wiring only.

// The runtime service future nests deeper than rustc's default layout query depth allows.
#![recursion_limit = "256"]

use ferry_shared::{aws, config, store::Store};
use record_result::{handle, Deps, RecordInput};

ferry_lambda::main!(RecordInput, handle, config::json_logs(), |sdk| {
    let cfg = config::Config::from_env()?;
    Deps {
        store: Store::new(aws::dynamodb_client(sdk), cfg.table),
        s3: aws::s3_client(sdk),
        bucket: cfg.artifact_bucket,
        sns: aws_sdk_sns::Client::new(sdk),
        topic_arn: Some(config::topic_arn_from_env()?),
        sfn: Some(aws_sdk_sfn::Client::new(sdk)),
        state_machine_arn: Some(config::state_machine_from_env()?),
    }
});
