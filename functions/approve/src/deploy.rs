//! Requesting a deployment: the caller's authenticated identity becomes the requester of
//! record; nothing in the request body can name someone else.

use ferry_shared::model::Deployment;
use ferry_shared::operations::{start_deployment, DeployError, DeployRequest};
use tracing::instrument;

use crate::{ApiError, Deps};

/// Records and starts a deployment requested by `identity`.
#[instrument(skip(deps, req), fields(component = %req.component, identity = %identity))]
pub async fn request_deployment(
    deps: &Deps,
    identity: &str,
    req: &DeployRequest,
) -> Result<Deployment, ApiError> {
    start_deployment(
        &deps.store,
        &deps.sfn,
        &deps.state_machine_arn,
        req,
        identity,
    )
    .await
    .map_err(|e| match e {
        DeployError::NotRegistered(..)
        | DeployError::NoReleases(_)
        | DeployError::NoEnvironment(_)
        | DeployError::NothingLive(..) => ApiError::NotFound(e.to_string()),
        DeployError::NoTargets
        | DeployError::NamedTwice(_)
        | DeployError::NoVersion(_)
        | DeployError::OneTarget(_)
        | DeployError::NotLive { .. } => ApiError::BadRequest(e.to_string()),
        DeployError::NothingToRollBackTo { .. }
        | DeployError::Busy { .. }
        | DeployError::PromotionRefused { .. } => ApiError::Conflict(e.to_string()),
        DeployError::Frozen(_) => ApiError::Forbidden(e.to_string()),
        DeployError::Store(e) => ApiError::Store(e),
        DeployError::Start(_) => ApiError::Internal(e.to_string()),
    })
}
