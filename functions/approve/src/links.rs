//! `POST /links`: a decision link for the caller's own IAM identity (`ferry approve --browser`),
//! so a person can decide on the review page and be recorded as who they are. The same rules as
//! any decision apply when minting (an approver of the environment; not the requester under
//! four eyes) and again when the page decides.

use chrono::{Duration, Utc};
use ferry_shared::links::{LinkClaims, LinkError, LinkKey};
use ferry_shared::model::{ApprovalStatus, LinkRequest, LinkResponse};
use tracing::{info, instrument};

use crate::{ApiError, Deps};

/// A browser link is for the person who just asked for it: it lives minutes, not the gate's
/// whole timeout.
const LIFETIME: Duration = Duration::minutes(15);

/// The review page and the key its links are signed with.
#[derive(Clone, Debug)]
pub struct CallerLinks {
    pub key: LinkKey,
    pub review_url: String,
}

#[instrument(skip(deps, req), fields(deployment = %req.deployment_id, identity = %identity))]
pub async fn link_for_caller(
    deps: &Deps,
    identity: &str,
    req: &LinkRequest,
) -> Result<LinkResponse, ApiError> {
    let links = deps.links.as_ref().ok_or_else(|| {
        ApiError::NotFound("this stack has no review page: decide with `ferry approve`".into())
    })?;
    let deployment = deps
        .store
        .get_deployment(&req.deployment_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no deployment {}", req.deployment_id)))?;
    let approval =
        crate::decide::find_approval(&deps.gate(), &deployment, req.environment.as_ref()).await?;
    if approval.status != ApprovalStatus::Pending {
        return Err(ApiError::Conflict(format!(
            "the approval for {} is {}, not waiting for a decision",
            approval.environment, approval.status
        )));
    }
    let env = deps
        .store
        .get_environment(&approval.environment)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "environment {} no longer exists",
                approval.environment
            ))
        })?;
    let claims = LinkClaims::decide_as_caller(&approval, &env, identity, LIFETIME, Utc::now())
        .map_err(|e| match e {
            LinkError::NotAllowed(why) => ApiError::Forbidden(why),
            other => ApiError::BadRequest(other.to_string()),
        })?;
    let link = links
        .key
        .mint(&claims)
        .await
        .map_err(|e| ApiError::Internal(format!("signing the link failed: {e}")))?;
    info!(environment = %approval.environment, "decision link minted for the caller");
    Ok(LinkResponse {
        deployment_id: deployment.id,
        environment: approval.environment,
        approver: identity.to_owned(),
        url: link.url(&links.review_url),
        expires_at: claims.expires_at,
    })
}
