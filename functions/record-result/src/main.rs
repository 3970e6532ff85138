//! Lambda entry point: wiring only.

// The runtime service future nests deeper than rustc's default layout query depth allows.
#![recursion_limit = "256"]

use ferry_shared::{aws, config, store::Store};
use record_result::{handle, Deps, RecordInput};

ferry_lambda::main!(RecordInput, handle, config::json_logs(), |sdk| Deps {
    store: Store::new(aws::dynamodb_client(sdk), config::table_from_env()?),
});
