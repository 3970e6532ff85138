//! Signed approval links: a token bound to one gate, one plan and — for decisions —
//! one approver, MACed with Ferry's link key in KMS (HMAC_SHA_256), so the review page can
//! check a link without ever holding the key.
//!
//! A token is `f1.` + base64url(payload) + `.` + base64url(MAC), where the payload is a fixed
//! binary encoding of [`LinkClaims`] (see `encode`) and the MAC covers a context string and
//! the payload. Parsing is strict and bounded before KMS is asked anything.

use std::fmt;

use aws_sdk_kms::error::{DisplayErrorContext, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::MacAlgorithmSpec;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;
use tracing::instrument;

use crate::model::{
    string_enum, Approval, ApprovalStatus, ComponentName, Environment, EnvironmentName,
};

string_enum! {
    /// What a link lets its holder do.
    pub enum LinkPurpose {
        /// Decide one gate, as one approver, once.
        Decide = "decide",
        /// See the gate and its plan; never decides.
        View = "view",
        /// Decide one gate once, as the approver who asked for the link themselves through
        /// the IAM-authenticated Ferry API (`ferry approve --browser`).
        DecideAsCaller = "decide-as-caller",
    }
}

impl LinkPurpose {
    /// Whether a link of this purpose may decide.
    pub fn decides(self) -> bool {
        matches!(self, Self::Decide | Self::DecideAsCaller)
    }

    /// How a decision through such a link reached the gate, as recorded beside the approver.
    pub fn via(self) -> &'static str {
        match self {
            Self::DecideAsCaller => "ferry approve --browser",
            Self::Decide | Self::View => "email link",
        }
    }
}

/// What a link says, covered by its MAC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkClaims {
    pub purpose: LinkPurpose,
    /// The approval's component: with deployment and environment, it names the gate (and the
    /// partition where the link's use is recorded).
    pub component: ComponentName,
    pub deployment_id: String,
    pub environment: EnvironmentName,
    /// For [`LinkPurpose::Decide`] only: the approver's stable identity as Ferry records it
    /// (`arn:aws:iam::123456789012:user/alice`, `local:alice`).
    pub approver: Option<String>,
    /// The plan the link is for: 64 lowercase hex digits.
    pub plan_sha256: String,
    /// Whole seconds: a token carries Unix seconds, so anything finer is dropped (earlier).
    pub expires_at: DateTime<Utc>,
    /// 128 random bits as 32 lowercase hex digits ([`new_nonce`]).
    pub nonce: String,
}

#[derive(Debug, Error)]
pub enum LinkError {
    #[error("malformed link: {0}")]
    Malformed(&'static str),
    #[error("link signature does not verify (altered, or signed with another key)")]
    BadSignature,
    #[error("link has expired")]
    Expired,
    /// The claims cannot be put in a link (a value out of range or too long).
    #[error("cannot make a link: {0}")]
    InvalidClaims(&'static str),
    /// The link must not exist: the person may not decide this gate, or the gate is not open.
    #[error("no link: {0}")]
    NotAllowed(String),
    /// The link is sound but no longer matches its gate (another plan, a decided or closed gate).
    #[error("link no longer applies: {0}")]
    Stale(&'static str),
    #[error("{op} with the link key: {message}")]
    Kms {
        op: &'static str,
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

/// A minted link token. Whoever holds it can act as its approver, so `Debug` and `Display`
/// redact it; only [`SignedLink::expose_for_url`] reads it, to build the URL sent to its one
/// recipient. It is deliberately not `Serialize`: it is never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedLink(String);

impl SignedLink {
    /// The token itself, to put in the link's URL — nowhere else (not logs, not records).
    pub fn expose_for_url(&self) -> &str {
        &self.0
    }

    /// The address that opens this link on the review page at `review_url`.
    pub fn url(&self, review_url: &str) -> String {
        format!("{review_url}?l={}", self.0)
    }
}

impl fmt::Debug for SignedLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignedLink(…redacted…)")
    }
}

impl fmt::Display for SignedLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

const PREFIX: &str = "f1.";
/// Bound into every MAC, so the link key's MACs cannot be replayed as anything else.
const MAC_CONTEXT: &[u8] = b"ferry-link-v1\n";
const MAC_LEN: usize = 32;
const PLAN_LEN: usize = 32;
const NONCE_LEN: usize = 16;
/// Purpose, expiry, plan hash, nonce and four length bytes.
const FIXED_LEN: usize = 1 + 8 + PLAN_LEN + NONCE_LEN + 4;
/// Keeps a token under 600 characters ([`MAX_TOKEN_LEN`]) whatever the names.
const MAX_PAYLOAD: usize = 400;
const MAX_DEPLOYMENT_ID: usize = 80;

/// Unpadded base64 length of `n` bytes.
const fn b64_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

/// The longest token [`LinkKey::verify`] reads.
pub const MAX_TOKEN_LEN: usize = PREFIX.len() + b64_len(MAX_PAYLOAD) + 1 + b64_len(MAC_LEN);
const _: () = assert!(MAX_TOKEN_LEN < 600, "links must fit in a URL");

/// A fresh nonce: 128 bits from the OS's random source, as lowercase hex.
pub fn new_nonce() -> String {
    use rand::RngCore as _;
    let mut b = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// What stores keep of a link: the SHA-256 (hex) of its nonce, never the token.
pub fn nonce_hash(nonce: &str) -> String {
    let d: [u8; 32] = Sha256::digest(nonce.as_bytes()).into();
    hex::encode(d)
}

impl LinkClaims {
    /// A decision link for `approver` on `approval`'s gate, valid for `lifetime` but never
    /// past the gate's own expiry. Refused for anyone `env` does not let decide this gate (not
    /// an approver; the requester where four eyes apply) and for a gate that is not pending.
    pub fn decide(
        approval: &Approval,
        env: &Environment,
        approver: &str,
        lifetime: Duration,
        now: DateTime<Utc>,
    ) -> Result<Self, LinkError> {
        Self::decision(approval, env, approver, LinkPurpose::Decide, lifetime, now)
    }

    /// A decision link for the caller of the Ferry API, whose IAM identity is `approver`:
    /// the same rules as [`LinkClaims::decide`], recorded as decided through the browser.
    pub fn decide_as_caller(
        approval: &Approval,
        env: &Environment,
        approver: &str,
        lifetime: Duration,
        now: DateTime<Utc>,
    ) -> Result<Self, LinkError> {
        Self::decision(
            approval,
            env,
            approver,
            LinkPurpose::DecideAsCaller,
            lifetime,
            now,
        )
    }

    fn decision(
        approval: &Approval,
        env: &Environment,
        approver: &str,
        purpose: LinkPurpose,
        lifetime: Duration,
        now: DateTime<Utc>,
    ) -> Result<Self, LinkError> {
        if env.name != approval.environment {
            return Err(LinkError::NotAllowed(format!(
                "the rules given are for {}, the gate is in {}",
                env.name, approval.environment
            )));
        }
        env.check_decider(&approval.requester, approver)
            .map_err(LinkError::NotAllowed)?;
        Self::for_gate(approval, purpose, Some(approver), lifetime, now)
    }

    /// A view-only link to `approval`'s gate, valid for `lifetime` but never past the gate's
    /// own expiry.
    pub fn view(
        approval: &Approval,
        lifetime: Duration,
        now: DateTime<Utc>,
    ) -> Result<Self, LinkError> {
        Self::for_gate(approval, LinkPurpose::View, None, lifetime, now)
    }

    /// A view-only link to the gate a plan is about to open (the Step Functions console's link,
    /// minted before the gate's record exists), valid until `gate_expires_at`.
    pub fn view_of_plan(
        component: &ComponentName,
        deployment_id: &str,
        environment: &EnvironmentName,
        plan_sha256: &str,
        gate_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Self, LinkError> {
        let expires = whole_seconds(gate_expires_at)
            .ok_or(LinkError::InvalidClaims("expiry out of range"))?;
        if expires <= now {
            return Err(LinkError::NotAllowed("the gate has expired".into()));
        }
        let claims = Self {
            purpose: LinkPurpose::View,
            component: component.clone(),
            deployment_id: deployment_id.to_owned(),
            environment: environment.clone(),
            approver: None,
            plan_sha256: plan_sha256.to_ascii_lowercase(),
            expires_at: expires,
            nonce: new_nonce(),
        };
        check(&claims).map_err(LinkError::InvalidClaims)?;
        Ok(claims)
    }

    fn for_gate(
        approval: &Approval,
        purpose: LinkPurpose,
        approver: Option<&str>,
        lifetime: Duration,
        now: DateTime<Utc>,
    ) -> Result<Self, LinkError> {
        if approval.status != ApprovalStatus::Pending {
            return Err(LinkError::NotAllowed(format!(
                "the gate is {}, not pending",
                approval.status
            )));
        }
        let wanted = now
            .checked_add_signed(lifetime)
            .ok_or(LinkError::InvalidClaims("lifetime out of range"))?;
        let expires = whole_seconds(wanted.min(approval.expires_at))
            .ok_or(LinkError::InvalidClaims("expiry out of range"))?;
        if expires <= now {
            return Err(LinkError::NotAllowed("the gate has expired".into()));
        }
        let claims = Self {
            purpose,
            component: approval.component.clone(),
            deployment_id: approval.deployment_id.clone(),
            environment: approval.environment.clone(),
            approver: approver.map(str::to_owned),
            plan_sha256: approval.plan_sha256.clone(),
            expires_at: expires,
            nonce: new_nonce(),
        };
        check(&claims).map_err(LinkError::InvalidClaims)?;
        Ok(claims)
    }

    /// Whether this (verified) link still applies to `approval` as recorded now: the same
    /// gate, the same plan, still pending. A new plan or a decided gate ends every link.
    pub fn check_gate(&self, approval: &Approval) -> Result<(), LinkError> {
        if self.component != approval.component
            || self.deployment_id != approval.deployment_id
            || self.environment != approval.environment
        {
            return Err(LinkError::Stale("it is for another gate"));
        }
        if self.plan_sha256 != approval.plan_sha256 {
            return Err(LinkError::Stale("the plan has changed since it was sent"));
        }
        if approval.status != ApprovalStatus::Pending {
            return Err(LinkError::Stale(
                "the gate is no longer waiting for a decision",
            ));
        }
        Ok(())
    }

    /// The SHA-256 of this link's nonce: what records keep.
    pub fn nonce_hash(&self) -> String {
        nonce_hash(&self.nonce)
    }
}

fn whole_seconds(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.timestamp(), 0)
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The rules every link's claims follow, checked when minting and again when parsing.
fn check(c: &LinkClaims) -> Result<(), &'static str> {
    let id = &c.deployment_id;
    if id.is_empty()
        || id.len() > MAX_DEPLOYMENT_ID
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err("deployment id is not an execution name");
    }
    if !is_lower_hex(&c.plan_sha256, 2 * PLAN_LEN) {
        return Err("plan SHA-256 is not 64 lowercase hex digits");
    }
    if !is_lower_hex(&c.nonce, 2 * NONCE_LEN) {
        return Err("nonce is not 32 lowercase hex digits");
    }
    match (c.purpose, c.approver.as_deref()) {
        (p, Some(a)) if p.decides() && !a.is_empty() && !a.chars().any(char::is_control) => {}
        (LinkPurpose::Decide | LinkPurpose::DecideAsCaller, _) => {
            return Err("a decision link needs an approver")
        }
        (LinkPurpose::View, None) => {}
        (LinkPurpose::View, Some(_)) => return Err("a view link names no approver"),
    }
    Ok(())
}

/// The payload: purpose (1 = decide, 2 = view), expiry (i64 Unix seconds, big-endian), plan
/// hash (32 bytes), nonce (16 bytes), then component, deployment id, environment and approver
/// (empty for view links), each as one length byte and UTF-8.
fn encode(c: &LinkClaims) -> Result<Vec<u8>, LinkError> {
    check(c).map_err(LinkError::InvalidClaims)?;
    let approver = c.approver.as_deref().unwrap_or("");
    let strings = [
        c.component.as_str(),
        c.deployment_id.as_str(),
        c.environment.as_str(),
        approver,
    ];
    let mut out = Vec::with_capacity(MAX_PAYLOAD);
    out.push(match c.purpose {
        LinkPurpose::Decide => 1,
        LinkPurpose::View => 2,
        LinkPurpose::DecideAsCaller => 3,
    });
    out.extend_from_slice(&c.expires_at.timestamp().to_be_bytes());
    // Both checked as lowercase hex of the right length above.
    out.extend(hex::decode(&c.plan_sha256).map_err(|_| LinkError::InvalidClaims("plan hash"))?);
    out.extend(hex::decode(&c.nonce).map_err(|_| LinkError::InvalidClaims("nonce"))?);
    for s in strings {
        let len =
            u8::try_from(s.len()).map_err(|_| LinkError::InvalidClaims("a name is too long"))?;
        out.push(len);
        out.extend_from_slice(s.as_bytes());
    }
    if out.len() > MAX_PAYLOAD {
        return Err(LinkError::InvalidClaims(
            "the names are too long for a link",
        ));
    }
    Ok(out)
}

/// A bounds-checked reader over an untrusted payload.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let (head, rest) = self.0.split_at_checked(n).ok_or("payload is truncated")?;
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        self.take(N)?.try_into().map_err(|_| "payload is truncated")
    }

    fn string(&mut self) -> Result<&'a str, &'static str> {
        let [len] = self.array::<1>()?;
        std::str::from_utf8(self.take(usize::from(len))?).map_err(|_| "a name is not UTF-8")
    }
}

fn decode(payload: &[u8]) -> Result<LinkClaims, &'static str> {
    if payload.len() < FIXED_LEN || payload.len() > MAX_PAYLOAD {
        return Err("payload has the wrong length");
    }
    let mut r = Reader(payload);
    let purpose = match r.array::<1>()? {
        [1] => LinkPurpose::Decide,
        [2] => LinkPurpose::View,
        [3] => LinkPurpose::DecideAsCaller,
        _ => return Err("unknown purpose"),
    };
    let secs = i64::from_be_bytes(r.array::<8>()?);
    let expires_at = DateTime::from_timestamp(secs, 0).ok_or("expiry out of range")?;
    let plan_sha256 = hex::encode(r.array::<PLAN_LEN>()?);
    let nonce = hex::encode(r.array::<NONCE_LEN>()?);
    let component = ComponentName::parse(r.string()?).map_err(|_| "bad component name")?;
    let deployment_id = r.string()?.to_owned();
    let environment = EnvironmentName::parse(r.string()?).map_err(|_| "bad environment name")?;
    let approver = r.string()?;
    if !r.0.is_empty() {
        return Err("trailing bytes after the payload");
    }
    let claims = LinkClaims {
        purpose,
        component,
        deployment_id,
        environment,
        approver: (!approver.is_empty()).then(|| approver.to_owned()),
        plan_sha256,
        expires_at,
        nonce,
    };
    check(&claims)?;
    Ok(claims)
}

/// Splits a token into payload and MAC bytes, refusing anything but the exact form.
fn split(token: &str) -> Result<(Vec<u8>, Vec<u8>), LinkError> {
    use LinkError::Malformed;
    if token.len() > MAX_TOKEN_LEN {
        return Err(Malformed("too long"));
    }
    let rest = token
        .strip_prefix(PREFIX)
        .ok_or(Malformed("not a Ferry link (unknown version)"))?;
    let (payload, mac) = rest.split_once('.').ok_or(Malformed("no signature"))?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| Malformed("payload is not base64url"))?;
    let mac = URL_SAFE_NO_PAD
        .decode(mac)
        .map_err(|_| Malformed("signature is not base64url"))?;
    if mac.len() != MAC_LEN {
        return Err(Malformed("signature has the wrong length"));
    }
    Ok((payload, mac))
}

fn mac_message(payload: &[u8]) -> Blob {
    Blob::new([MAC_CONTEXT, payload].concat())
}

/// Ferry's link key: an HMAC_256 KMS key (KeyUsage GENERATE_VERIFY_MAC). Its holders call
/// GenerateMac/VerifyMac; nobody sees the key itself.
#[derive(Clone, Debug)]
pub struct LinkKey {
    kms: aws_sdk_kms::Client,
    key_id: String,
}

impl LinkKey {
    pub fn new(kms: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self {
            kms,
            key_id: key_id.into(),
        }
    }

    /// Signs `claims` into a token (KMS GenerateMac, HMAC_SHA_256).
    #[instrument(skip_all, fields(purpose = %claims.purpose, deployment = %claims.deployment_id, environment = %claims.environment))]
    pub async fn mint(&self, claims: &LinkClaims) -> Result<SignedLink, LinkError> {
        const OP: &str = "kms:GenerateMac";
        let payload = encode(claims)?;
        let out = self
            .kms
            .generate_mac()
            .key_id(&self.key_id)
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .message(mac_message(&payload))
            .send()
            .await
            .map_err(|e| kms_error(OP, e))?;
        let mac = out.mac.ok_or_else(|| LinkError::Kms {
            op: OP,
            message: "no MAC returned".into(),
            source: None,
        })?;
        if mac.as_ref().len() != MAC_LEN {
            return Err(LinkError::Kms {
                op: OP,
                message: format!(
                    "returned a {}-byte MAC, not HMAC-SHA-256's {MAC_LEN}",
                    mac.as_ref().len()
                ),
                source: None,
            });
        }
        Ok(SignedLink(format!(
            "{PREFIX}{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(mac.as_ref())
        )))
    }

    /// The claims of `token` if it is well-formed, its MAC verifies with this key (KMS
    /// VerifyMac) and it has not expired at `now`. The token is never logged. Whether the link
    /// still fits its gate ([`LinkClaims::check_gate`]) and whether it was used
    /// (`Store::use_link`) are the caller's next steps.
    #[instrument(skip_all)]
    pub async fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<LinkClaims, LinkError> {
        let (payload, mac) = split(token)?;
        let claims = decode(&payload).map_err(LinkError::Malformed)?;
        let res = self
            .kms
            .verify_mac()
            .key_id(&self.key_id)
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .message(mac_message(&payload))
            .mac(Blob::new(mac))
            .send()
            .await;
        match res {
            Ok(out) if out.mac_valid => {}
            Ok(_) => return Err(LinkError::BadSignature),
            Err(SdkError::ServiceError(e)) if e.err().is_kms_invalid_mac_exception() => {
                return Err(LinkError::BadSignature)
            }
            Err(e) => return Err(kms_error("kms:VerifyMac", e)),
        }
        if now >= claims.expires_at {
            return Err(LinkError::Expired);
        }
        Ok(claims)
    }
}

fn kms_error<E, R>(op: &'static str, e: SdkError<E, R>) -> LinkError
where
    E: std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    LinkError::Kms {
        op,
        message: DisplayErrorContext(&e).to_string(),
        source: Some(Box::new(e)),
    }
}

#[cfg(test)]
mod tests;
