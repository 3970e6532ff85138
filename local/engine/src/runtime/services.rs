//! The narrow handle an execution runs with: where Task states go, the task-token broker and
//! the region history events name. It sees no other execution and no state machine.

use std::sync::Arc;

use parking_lot::RwLock;

use crate::runtime::integrations::Integrations;
use crate::runtime::tokens::TokenBroker;

pub(crate) struct Services {
    pub region: String,
    pub tokens: Arc<TokenBroker>,
    // Swappable while executions run (Engine::set_integrations); each Task reads the current one.
    integrations: RwLock<Arc<dyn Integrations>>,
}

impl Services {
    pub fn new(region: String, integrations: Arc<dyn Integrations>) -> Self {
        Self {
            region,
            tokens: Arc::default(),
            integrations: RwLock::new(integrations),
        }
    }

    pub fn integrations(&self) -> Arc<dyn Integrations> {
        self.integrations.read().clone()
    }

    pub fn set_integrations(&self, integrations: Arc<dyn Integrations>) {
        *self.integrations.write() = integrations;
    }
}
