//! Lambda entry point: wiring only.

// The runtime service future nests deeper than rustc's default layout query depth allows.
#![recursion_limit = "256"]

use aws_lambda_events::s3::S3Event;
use ferry_shared::{aws, config, store::Store};
use register_release::{handle, Deps};

ferry_lambda::main!(S3Event, handle, config::json_logs(), |sdk| Deps {
    s3: aws::s3_client(sdk),
    store: Store::new(aws::dynamodb_client(sdk), config::table_from_env()?),
});
