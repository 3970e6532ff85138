//! Lambda entry point: wiring only.

// The runtime service future nests deeper than rustc's default layout query depth allows.
#![recursion_limit = "256"]

use check_and_lock::{handle, Deps};
use ferry_shared::{aws, config, store::Store, workflow::EnvContext};

ferry_lambda::main!(EnvContext, handle, config::json_logs(), |sdk| {
    let cfg = config::Config::from_env()?;
    Deps {
        store: Store::new(aws::dynamodb_client(sdk), cfg.table),
        sfn: aws_sdk_sfn::Client::new(sdk),
        s3: aws::s3_client(sdk),
        bucket: cfg.artifact_bucket,
    }
});
