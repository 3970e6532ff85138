//! Operations on the records that more than one caller performs, so the Lambda functions, the
//! CLI and local mode do them one way.

mod deploy;
mod outcome;

pub use deploy::*;
pub use outcome::*;
