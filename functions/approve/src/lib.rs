//! approve: the Ferry API behind a Lambda Function URL with AWS_IAM auth, so the caller's IAM
//! ARN is their identity. `POST /deployments` records a deployment with its caller as the
//! requester and starts the workflow; `POST /` (or `/decisions`) decides an approval gate — the
//! only way a person completes one: the function checks the environment's rules, records who
//! decided, when and why, and completes the workflow's task token. `POST /links` mints a
//! review-page decision link for the caller's own identity (`ferry approve --browser`).

mod decide;
mod deploy;
mod links;

use aws_lambda_events::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use base64::Engine as _;
use ferry_shared::store::{Store, StoreError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::warn;

pub use decide::{check_rules, decide};
pub use deploy::request_deployment;
pub use links::{link_for_caller, CallerLinks};

#[derive(Clone, Debug)]
pub struct Deps {
    pub store: Store,
    pub sfn: aws_sdk_sfn::Client,
    /// Unseals the task tokens approval records hold.
    pub token_key: ferry_shared::gate::TokenKey,
    /// The deploy state machine deployments start.
    pub state_machine_arn: String,
    /// Mints decision links for callers (`POST /links`); `None` where the stack has no
    /// review page.
    pub links: Option<CallerLinks>,
}

/// What deciding a gate needs: the Ferry API and the review page both decide.
#[derive(Clone, Debug)]
pub struct Gate {
    pub store: Store,
    pub sfn: aws_sdk_sfn::Client,
    /// Unseals the task tokens approval records hold.
    pub token_key: ferry_shared::gate::TokenKey,
}

impl Deps {
    pub fn gate(&self) -> Gate {
        Gate {
            store: self.store.clone(),
            sfn: self.sfn.clone(),
            token_key: self.token_key.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no caller identity: the Ferry API URL must use AWS_IAM auth")]
    Unauthenticated,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("completing the approval task failed: {0}")]
    Sfn(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> i64 {
        match self {
            Self::Unauthenticated => 401,
            Self::BadRequest(_) => 400,
            Self::NotFound(_) => 404,
            Self::Forbidden(_) => 403,
            Self::Conflict(_) => 409,
            Self::Store(_) | Self::Sfn(_) | Self::Internal(_) => 500,
        }
    }
}

fn respond(status: i64, body: &impl Serialize) -> LambdaFunctionUrlResponse {
    let mut r = LambdaFunctionUrlResponse::default();
    r.status_code = status;
    r.headers.insert(
        "content-type",
        aws_lambda_events::http::HeaderValue::from_static("application/json"),
    );
    r.body = serde_json::to_string(body).ok();
    r
}

/// The Function URL handler: identity from the IAM authorizer, the request from the JSON body,
/// routed by path.
pub async fn handle(
    deps: &Deps,
    event: LambdaFunctionUrlRequest,
) -> Result<LambdaFunctionUrlResponse, std::convert::Infallible> {
    let identity = event
        .request_context
        .authorizer
        .as_ref()
        .and_then(|a| a.iam.as_ref())
        .and_then(|iam| iam.user_arn.clone().or_else(|| iam.caller_id.clone()));
    let result = async {
        let identity = identity.ok_or(ApiError::Unauthenticated)?;
        let body = event.body.clone().unwrap_or_default();
        let body = if event.is_base64_encoded {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(body.as_bytes())
                .map_err(|e| ApiError::BadRequest(format!("body is not base64: {e}")))?;
            String::from_utf8(raw).map_err(|e| ApiError::BadRequest(e.to_string()))?
        } else {
            body
        };
        match (event.request_context.http.method.as_deref(), path(&event)) {
            (Some("POST"), "/" | "/decisions") => {
                let req = parse(&body)?;
                // Boxed: the decision future is deep enough to overflow rustc's layout limit.
                json(
                    200,
                    &Box::pin(decide(&deps.gate(), &identity, None, &req)).await?,
                )
            }
            (Some("POST"), "/deployments") => {
                let req = parse(&body)?;
                json(
                    201,
                    &Box::pin(request_deployment(deps, &identity, &req)).await?,
                )
            }
            (Some("POST"), "/links") => {
                let req = parse(&body)?;
                json(201, &link_for_caller(deps, &identity, &req).await?)
            }
            (method, path) => Err(ApiError::NotFound(format!(
                "no route {} {path}: POST /deployments, /decisions or /links",
                method.unwrap_or("?")
            ))),
        }
    }
    .await;
    Ok(match result {
        Ok(r) => r,
        Err(e) => {
            warn!(error = %e, "request refused");
            respond(e.status(), &serde_json::json!({"error": e.to_string()}))
        }
    })
}

fn path(event: &LambdaFunctionUrlRequest) -> &str {
    event
        .request_context
        .http
        .path
        .as_deref()
        .or(event.raw_path.as_deref())
        .map(|p| p.trim_end_matches('/'))
        .map(|p| if p.is_empty() { "/" } else { p })
        .unwrap_or("/")
}

fn parse<T: DeserializeOwned>(body: &str) -> Result<T, ApiError> {
    serde_json::from_str(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid request body: {e}")))
}

fn json(status: i64, body: &impl Serialize) -> Result<LambdaFunctionUrlResponse, ApiError> {
    Ok(respond(status, body))
}
