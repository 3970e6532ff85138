//! Requests to the Ferry API (`ferry deploy`, `ferry approve`, `ferry reject`). In AWS that is a
//! Function URL with AWS_IAM auth, so the request is SigV4-signed and the caller's IAM ARN is
//! the identity the API records. In local mode the local endpoint takes the identity from a
//! header instead (`--as`, default the OS user).

use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub enum Caller {
    /// Local mode: the identity to act as.
    Local(String),
    /// AWS: sign with the ambient credentials.
    Aws(Box<aws_config::SdkConfig>),
}

/// POSTs `req` as JSON to `path` under the API's `base` URL and reads the JSON answer.
pub async fn post<Req: Serialize, Resp: DeserializeOwned>(
    base: &str,
    path: &str,
    req: &Req,
    caller: &Caller,
) -> Result<Resp> {
    let url = format!("{}/{path}", base.trim_end_matches('/'));
    let url = url.as_str();
    let body = serde_json::to_string(req)?;
    let client = reqwest::Client::new();
    let mut builder = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.clone());
    match caller {
        Caller::Local(identity) => {
            builder = builder.header(ferry_local::services::LOCAL_IDENTITY_HEADER, identity);
        }
        Caller::Aws(sdk) => {
            let creds = sdk
                .credentials_provider()
                .context("no AWS credentials configured")?
                .provide_credentials()
                .await
                .context("loading AWS credentials")?;
            let region = sdk
                .region()
                .map(|r| r.to_string())
                .context("no AWS region configured")?;
            let identity = creds.into();
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region(&region)
                .name("lambda")
                .time(SystemTime::now())
                .settings(SigningSettings::default())
                .build()
                .context("building SigV4 parameters")?
                .into();
            let headers = [("content-type", "application/json")];
            let signable = SignableRequest::new(
                "POST",
                url,
                headers.iter().copied(),
                SignableBody::Bytes(body.as_bytes()),
            )
            .context("preparing the request for signing")?;
            let (instructions, _) = sign(signable, &params)
                .context("signing the request")?
                .into_parts();
            for (name, value) in instructions.headers() {
                builder = builder.header(name, value);
            }
        }
    }
    let resp = builder
        .send()
        .await
        .with_context(|| format!("calling the Ferry API at {url}"))?;
    let status = resp.status();
    let text = resp
        .text()
        .await
        .context("reading the Ferry API's answer")?;
    if !status.is_success() {
        let msg = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or(text);
        bail!("{msg} (HTTP {})", status.as_u16());
    }
    serde_json::from_str(&text).context("the Ferry API's answer is not what this ferry expects")
}
