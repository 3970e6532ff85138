//! The Amazon States Language, pure: the definition document ([`ast`]), its compiled form
//! ([`definition`], built by [`compile`]), paths, payload templates, intrinsic functions and
//! Choice rules. Nothing here runs anything; the runtime walks what this module builds.

pub mod ast;
pub mod choice;
pub mod compile;
pub mod context;
pub mod definition;
pub mod intrinsics;
pub mod paths;
mod resources;
pub mod template;
