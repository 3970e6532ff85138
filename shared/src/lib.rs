//! Ferry's shared core: domain types validated at the edge, configuration, and the S3/DynamoDB
//! access that the Lambda functions, the CLI and local mode all use.

pub mod artifact;
pub mod aws;
pub mod config;
pub mod deploy;
pub mod model;
pub mod store;
pub mod workflow;
pub mod zipread;
