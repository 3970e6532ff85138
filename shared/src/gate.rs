//! Completing an approval gate: the only code that reads a task token — to seal it for the
//! approval record, to unseal it, and to hand it to Step Functions (SendTaskSuccess /
//! SendTaskFailure).

use aws_sdk_sfn::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use thiserror::Error;

use base64::Engine as _;

use crate::model::{Decision, EnvironmentName, SealedToken, TaskToken, REJECTED_ERROR};

#[derive(Debug, Error)]
pub enum GateError {
    /// The gate is no longer waiting (timed out, stopped, already completed): the caller's
    /// conflict, not a fault.
    #[error("the workflow is no longer waiting for this approval (timed out or stopped)")]
    Gone,
    #[error("{op}: {message}")]
    Sfn { op: &'static str, message: String },
    #[error("{op} with the token key: {message}")]
    Kms { op: &'static str, message: String },
}

/// Ferry's token key (KMS): seals task tokens for the approval record, bound to one gate by the
/// encryption context, so a sealed token copied to another approval does not open.
#[derive(Clone, Debug)]
pub struct TokenKey {
    kms: aws_sdk_kms::Client,
    key_id: String,
}

impl TokenKey {
    pub fn new(kms: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self {
            kms,
            key_id: key_id.into(),
        }
    }

    pub async fn seal(
        &self,
        token: &TaskToken,
        deployment: &str,
        environment: &EnvironmentName,
    ) -> Result<SealedToken, GateError> {
        let kms_err = |e: String| GateError::Kms {
            op: "kms:Encrypt",
            message: e,
        };
        let out = self
            .kms
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(aws_sdk_kms::primitives::Blob::new(
                token.expose().as_bytes(),
            ))
            .encryption_context("ferry:deployment", deployment)
            .encryption_context("ferry:environment", environment.as_str())
            .send()
            .await
            .map_err(|e| kms_err(DisplayErrorContext(e).to_string()))?;
        let blob = out
            .ciphertext_blob
            .ok_or_else(|| kms_err("no ciphertext returned".into()))?;
        Ok(SealedToken::new(
            base64::engine::general_purpose::STANDARD.encode(blob.as_ref()),
        ))
    }

    pub async fn unseal(
        &self,
        sealed: &SealedToken,
        deployment: &str,
        environment: &EnvironmentName,
    ) -> Result<TaskToken, GateError> {
        let kms_err = |e: String| GateError::Kms {
            op: "kms:Decrypt",
            message: e,
        };
        let blob = base64::engine::general_purpose::STANDARD
            .decode(sealed.ciphertext())
            .map_err(|e| kms_err(format!("the sealed token is not base64: {e}")))?;
        let out = self
            .kms
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(blob))
            .encryption_context("ferry:deployment", deployment)
            .encryption_context("ferry:environment", environment.as_str())
            .send()
            .await
            .map_err(|e| kms_err(DisplayErrorContext(e).to_string()))?;
        let plain = out
            .plaintext
            .ok_or_else(|| kms_err("no plaintext returned".into()))?;
        String::from_utf8(plain.into_inner())
            .map(TaskToken::new)
            .map_err(|e| kms_err(format!("the unsealed token is not text: {e}")))
    }
}

impl GateError {
    fn from_sdk<E, R>(op: &'static str, e: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let gone = e
            .as_service_error()
            .and_then(|s| s.code())
            .is_some_and(|c| matches!(c, "TaskTimedOut" | "TaskDoesNotExist" | "InvalidToken"));
        if gone {
            Self::Gone
        } else {
            Self::Sfn {
                op,
                message: DisplayErrorContext(e).to_string(),
            }
        }
    }
}

/// Completes the gate with `decision` as the approval task's output.
pub async fn send_decision(
    sfn: &aws_sdk_sfn::Client,
    token: &TaskToken,
    decision: &Decision,
) -> Result<(), GateError> {
    let output = serde_json::to_string(decision).map_err(|e| GateError::Sfn {
        op: "states:SendTaskSuccess",
        message: e.to_string(),
    })?;
    sfn.send_task_success()
        .task_token(token.expose())
        .output(output)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| GateError::from_sdk("states:SendTaskSuccess", e))
}

/// Fails the gate as rejected (`Ferry.Rejected`) with `cause`, which the workflow records.
pub async fn send_rejection(
    sfn: &aws_sdk_sfn::Client,
    token: &TaskToken,
    cause: &str,
) -> Result<(), GateError> {
    sfn.send_task_failure()
        .task_token(token.expose())
        .error(REJECTED_ERROR)
        .cause(cause)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| GateError::from_sdk("states:SendTaskFailure", e))
}
