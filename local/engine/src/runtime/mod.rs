//! The engine at run time: the registry of machines and executions, typed history, the
//! task-token broker, task integrations, and the interpreter that runs executions.

pub mod engine;
pub mod executions;
pub mod history;
pub mod integrations;
mod interpreter;
pub mod registry;
pub mod services;
pub mod tokens;
