//! The engine's front: construction, task integrations, and the state-machine half of the
//! API (create, update, describe, list, delete). Executions are in `executions.rs`.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio_util::task::TaskTracker;

use crate::asl::compile;
use crate::error::{ApiError, ErrorCode};
use crate::runtime::integrations::{AwsForwarder, BuildRunner, Builtin, Integrations, LambdaFn};
use crate::runtime::registry::{EngineConfig, Registry, StateMachine, StateMachineInfo};
use crate::runtime::services::Services;

pub(crate) struct Inner {
    pub config: EngineConfig,
    pub registry: Registry,
    pub services: Arc<Services>,
    pub builtin: Arc<Builtin>,
    pub tracker: TaskTracker,
    pub stopping: AtomicBool,
}

/// The local Step Functions engine. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

/// Names of machines and executions: 1..80 characters, none of AWS's forbidden ones.
pub(crate) fn validate_name(name: &str, what: &str) -> Result<(), ApiError> {
    let bad = name.is_empty()
        || name.chars().count() > 80
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c));
    if bad {
        return Err(ApiError::new(
            ErrorCode::InvalidName,
            format!("Invalid {what} name: '{name}'"),
        ));
    }
    Ok(())
}

fn invalid_definition(reason: String) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidDefinition,
        format!("Invalid State Machine Definition: '{reason}'"),
    )
}

impl Engine {
    pub fn new(config: EngineConfig) -> Self {
        let builtin = Arc::new(Builtin::default());
        let integrations: Arc<dyn Integrations> = builtin.clone();
        Self {
            inner: Arc::new(Inner {
                services: Arc::new(Services::new(config.region.clone(), integrations)),
                config,
                registry: Registry::default(),
                builtin,
                tracker: TaskTracker::new(),
                stopping: AtomicBool::new(false),
            }),
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Registers an in-process Lambda handler under a function name (no alias/ARN).
    pub fn register_lambda(&self, name: impl Into<String>, f: LambdaFn) {
        self.inner.builtin.register_lambda(name, f);
    }

    pub fn set_build_runner(&self, runner: Arc<dyn BuildRunner>) {
        self.inner.builtin.set_build_runner(runner);
    }

    pub fn set_aws_forwarder(&self, forwarder: Arc<dyn AwsForwarder>) {
        self.inner.builtin.set_aws_forwarder(forwarder);
    }

    /// Replaces the built-in integrations altogether (registered lambdas etc. are bypassed).
    pub fn set_integrations(&self, integrations: Arc<dyn Integrations>) {
        self.inner.services.set_integrations(integrations);
    }

    pub fn state_machine_arn(&self, name: &str) -> String {
        let c = &self.inner.config;
        format!(
            "arn:aws:states:{}:{}:stateMachine:{name}",
            c.region, c.account_id
        )
    }

    /// Validates the definition and stores the machine. Re-creating a machine with the same
    /// definition and role returns the existing one (as AWS); anything else is a conflict.
    pub fn create_state_machine(
        &self,
        name: &str,
        definition: &str,
        role_arn: &str,
    ) -> Result<StateMachineInfo, ApiError> {
        validate_name(name, "state machine")?;
        let def = compile::parse(definition).map_err(invalid_definition)?;
        let arn = self.state_machine_arn(name);
        let mut machines = self.inner.registry.machines.write();
        if let Some(existing) = machines.get(&arn) {
            if existing.info.definition == definition && existing.info.role_arn == role_arn {
                return Ok(existing.info.clone());
            }
            return Err(ApiError::new(
                ErrorCode::StateMachineAlreadyExists,
                format!("State Machine Already Exists: '{arn}'"),
            ));
        }
        let info = StateMachineInfo {
            arn: arn.clone(),
            name: name.to_string(),
            definition: definition.to_string(),
            role_arn: role_arn.to_string(),
            creation_date: Utc::now(),
        };
        machines.insert(
            arn,
            Arc::new(StateMachine {
                info: info.clone(),
                definition: def,
            }),
        );
        Ok(info)
    }

    /// Replaces definition and/or role; running executions keep the definition they started with.
    pub fn update_state_machine(
        &self,
        arn: &str,
        definition: Option<&str>,
        role_arn: Option<&str>,
    ) -> Result<DateTime<Utc>, ApiError> {
        if definition.is_none() && role_arn.is_none() {
            return Err(ApiError::new(
                ErrorCode::ValidationException,
                "Either definition or roleArn must be given",
            ));
        }
        let current = self.inner.registry.machine(arn)?;
        let mut info = current.info.clone();
        let mut def = current.definition.clone();
        if let Some(src) = definition {
            def = compile::parse(src).map_err(invalid_definition)?;
            info.definition = src.to_string();
        }
        if let Some(r) = role_arn {
            info.role_arn = r.to_string();
        }
        self.inner.registry.machines.write().insert(
            arn.to_string(),
            Arc::new(StateMachine {
                info,
                definition: def,
            }),
        );
        Ok(Utc::now())
    }

    pub fn describe_state_machine(&self, arn: &str) -> Result<StateMachineInfo, ApiError> {
        Ok(self.inner.registry.machine(arn)?.info.clone())
    }

    /// All machines, oldest first.
    pub fn list_state_machines(&self) -> Vec<StateMachineInfo> {
        let mut out: Vec<StateMachineInfo> = self
            .inner
            .registry
            .machines
            .read()
            .values()
            .map(|m| m.info.clone())
            .collect();
        out.sort_by(|a, b| (a.creation_date, &a.name).cmp(&(b.creation_date, &b.name)));
        out
    }

    /// Deletes a machine; its executions keep running to the end, as in AWS.
    pub fn delete_state_machine(&self, arn: &str) -> Result<(), ApiError> {
        self.inner.registry.machine(arn)?;
        self.inner.registry.machines.write().remove(arn);
        Ok(())
    }
}
