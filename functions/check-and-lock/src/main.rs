//! Lambda entry point: wiring only.

// The runtime service future nests deeper than rustc's default layout query depth allows.
#![recursion_limit = "256"]

use check_and_lock::{handle, Deps};
use ferry_shared::{aws, config, store::Store, workflow::EnvContext};

ferry_lambda::main!(EnvContext, handle, config::json_logs(), |sdk| Deps {
    store: Store::new(aws::dynamodb_client(sdk), config::table_from_env()?),
    sfn: aws_sdk_sfn::Client::new(sdk),
});
