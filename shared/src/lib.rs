//! Ferry's shared core: typed domain records, configuration, the S3/DynamoDB access and the
//! record operations that the Lambda functions, the CLI and local mode all use.

pub mod artifact;
pub mod aws;
pub mod config;
pub mod failures;
pub mod gate;
pub mod identity;
pub mod links;
pub mod model;
pub mod names;
pub mod operations;
pub mod store;
pub mod workflow;
pub mod zipread;
