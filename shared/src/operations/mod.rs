//! Operations on the records that more than one caller performs, so the Lambda functions, the
//! CLI and local mode do them one way.

mod cancel;
mod deploy;
mod outcome;

pub use cancel::*;
pub use deploy::*;
pub use outcome::*;
