//! One module per command: its arguments (typed at the edge) and what it does.

pub mod approve;
pub mod approvers;
pub mod cancel;
pub mod deploy;
pub mod deployment;
pub mod destroy;
pub mod drift;
pub mod env;
pub mod freeze;
pub mod history;
pub mod lists;
pub mod local;
pub mod logs;
pub mod package;
pub mod plan;
pub mod release;
pub mod releases;
pub mod rollback;
pub mod status;
pub mod unlock;
