//! review: the page approvers reach from their notification or the Step Functions console,
//! behind a Function URL with `AuthType: NONE` — the signed link is the credential. A `GET`
//! only shows (a mail scanner or prefetch that follows the link decides nothing); only a `POST`
//! of the page's own form, from the page's own origin, with a decision link minted for one
//! approver and one plan, decides — once.

pub mod page;

use aws_lambda_events::http::{HeaderMap, HeaderValue};
use aws_lambda_events::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use base64::Engine as _;
use chrono::Utc;
use ferry_shared::links::{LinkClaims, LinkError, LinkKey};
use ferry_shared::model::{Approval, ApprovalStatus, DecisionRequest, Verdict};
use tracing::{info, warn};

#[derive(Clone, Debug)]
pub struct Deps {
    pub gate: approve::Gate,
    pub links: LinkKey,
}

/// A page answer: status and HTML.
struct Page {
    status: i64,
    html: String,
}

impl Page {
    /// A page that only says why nothing more can be shown.
    fn message(status: i64, title: &str, line: &str) -> Self {
        Page {
            status,
            html: page::message(title, line),
        }
    }
}

fn respond(p: Page) -> LambdaFunctionUrlResponse {
    let mut r = LambdaFunctionUrlResponse::default();
    r.status_code = p.status;
    for (k, v) in page::security_headers() {
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers.insert(k, v);
        }
    }
    r.body = Some(p.html);
    r
}

pub async fn handle(
    deps: &Deps,
    event: LambdaFunctionUrlRequest,
) -> Result<LambdaFunctionUrlResponse, std::convert::Infallible> {
    let method = event.request_context.http.method.as_deref().unwrap_or("");
    let page = match method {
        "GET" | "HEAD" => {
            let link = query_param(event.raw_query_string.as_deref().unwrap_or(""), "l");
            show(deps, link.as_deref()).await
        }
        "POST" => post(deps, &event).await,
        _ => Page::message(
            405,
            "Not here",
            "This page only shows plans and takes its own form.",
        ),
    };
    Ok(respond(page))
}

/// The link's claims, or the page that says why there are none.
async fn claims(deps: &Deps, link: Option<&str>) -> Result<LinkClaims, Page> {
    let Some(link) = link.filter(|l| !l.is_empty()) else {
        return Err(Page::message(
            400,
            "No link",
            "Open this page from the link in your notification, or decide with `ferry approve`.",
        ));
    };
    deps.links.verify(link, Utc::now()).await.map_err(|e| match e {
        LinkError::Expired => Page::message(
            410,
            "Link expired",
            "This link has expired; decide with `ferry approve`, or ask for a new link.",
        ),
        LinkError::Kms { .. } => {
            warn!(error = %e, "verifying a link failed");
            Page::message(503, "Try again", "The link could not be checked just now; try again.")
        }
        _ => Page::message(
            400,
            "Not a valid link",
            "This link is not one Ferry made (altered or incomplete); use the link from your notification.",
        ),
    })
}

async fn gate_of(deps: &Deps, c: &LinkClaims) -> Result<Approval, Page> {
    let store = &deps.gate.store;
    match store
        .get_approval(&c.component, &c.deployment_id, &c.environment)
        .await
    {
        Ok(Some(a)) => Ok(a),
        Ok(None) => Err(Page::message(
            404,
            "No such gate",
            "This deployment has no approval here.",
        )),
        Err(e) => {
            warn!(error = %e, "reading the approval failed");
            Err(Page::message(
                503,
                "Try again",
                "The approval could not be read just now; try again.",
            ))
        }
    }
}

/// `GET`: shows the gate, with a form only for a decision link that still applies.
async fn show(deps: &Deps, link: Option<&str>) -> Page {
    let c = match claims(deps, link).await {
        Ok(c) => c,
        Err(p) => return p,
    };
    let a = match gate_of(deps, &c).await {
        Ok(a) => a,
        Err(p) => return p,
    };
    let stale = c.check_gate(&a).err().map(|e| e.to_string());
    let decide = c.purpose.decides() && stale.is_none();
    render(deps, &a, &c, link.filter(|_| decide), stale.as_deref()).await
}

async fn render(
    deps: &Deps,
    a: &Approval,
    c: &LinkClaims,
    decide_with: Option<&str>,
    notice: Option<&str>,
) -> Page {
    let store = &deps.gate.store;
    let (env, release) = match (
        store.get_environment(&a.environment).await,
        store.get_release(&a.component, &a.version).await,
    ) {
        (Ok(Some(env)), Ok(release)) => (env, release),
        (Ok(None), _) => {
            return Page::message(
                404,
                "No such environment",
                "The environment no longer exists.",
            )
        }
        (Err(e), _) | (_, Err(e)) => {
            warn!(error = %e, "reading the gate's environment or release failed");
            return Page::message(
                503,
                "Try again",
                "The gate could not be read just now; try again.",
            );
        }
    };
    let form = decide_with
        .zip(c.approver.as_deref())
        .map(|(link, who)| page::DecisionForm {
            link,
            approver: who,
            confirm_name: env.confirm_name,
        });
    Page {
        status: 200,
        html: page::render(&page::PageView {
            approval: a,
            release: release.as_ref(),
            environment: &env,
            now: Utc::now(),
            form,
            notice,
        }),
    }
}

/// `POST`: the page's own form deciding, once, as the approver the link was minted for.
async fn post(deps: &Deps, event: &LambdaFunctionUrlRequest) -> Page {
    if let Err(why) = same_origin(&event.headers) {
        warn!(why, "decision refused: not from the page's own form");
        return Page::message(
            403,
            "Decide from the page",
            "Decisions are taken only from this page's own form; open the link again and use its buttons.",
        );
    }
    let body = match body_text(event) {
        Some(b) => b,
        None => {
            return Page::message(
                400,
                "Bad form",
                "The form could not be read; open the link again.",
            )
        }
    };
    let field = |name| query_param(&body, name);
    let link = field("link");
    let c = match claims(deps, link.as_deref()).await {
        Ok(c) => c,
        Err(p) => return p,
    };
    let Some(approver) = c.approver.clone().filter(|_| c.purpose.decides()) else {
        return Page::message(
            403,
            "View only",
            "This link shows the plan but cannot decide; use your own decision link or `ferry approve`.",
        );
    };
    let a = match gate_of(deps, &c).await {
        Ok(a) => a,
        Err(p) => return p,
    };
    if let Err(e) = c.check_gate(&a) {
        return render(deps, &a, &c, None, Some(&e.to_string())).await;
    }
    let decision = match field("decision").as_deref() {
        Some("approve") => Verdict::Approve,
        Some("reject") => Verdict::Reject,
        _ => return Page::message(400, "Bad form", "Choose Approve or Reject on the page."),
    };
    match deps.gate.store.get_environment(&a.environment).await {
        Ok(Some(env)) if env.confirm_name => {
            let typed = field("confirm").unwrap_or_default();
            if typed.trim() != a.environment.as_str() {
                let why = format!(
                    "Type the environment's name ({}) to confirm; nothing was decided.",
                    a.environment
                );
                return render(deps, &a, &c, link.as_deref(), Some(&why)).await;
            }
        }
        Ok(_) => {}
        Err(e) => {
            warn!(error = %e, "reading the environment failed");
            return Page::message(
                503,
                "Try again",
                "The gate could not be read just now; try again.",
            );
        }
    }
    // Single use: the link's nonce is recorded once, conditionally, before anything decides.
    match deps.gate.store.use_link(&c).await {
        Ok(true) => {}
        Ok(false) => {
            return render(
                deps,
                &a,
                &c,
                None,
                Some("This link was used already; each link decides once."),
            )
            .await
        }
        Err(e) => {
            warn!(error = %e, "recording the link's use failed");
            return Page::message(503, "Try again", "Nothing was decided; try again.");
        }
    }
    let req = DecisionRequest {
        deployment_id: c.deployment_id.clone(),
        environment: Some(c.environment.clone()),
        decision,
        comment: field("comment").filter(|s| !s.trim().is_empty()),
    };
    let via = c.purpose.via();
    let outcome = Box::pin(approve::decide(&deps.gate, &approver, Some(via), &req)).await;
    let after = gate_of(deps, &c).await.unwrap_or(a);
    match outcome {
        Ok(r) => {
            info!(deployment = %r.deployment_id, environment = %r.environment, status = %r.status, "decided through the review page");
            let line = match (decision, r.status) {
                (Verdict::Approve, ApprovalStatus::Pending) => format!(
                    "Approved by {approver} (via {via}): {} of {} approvals; the gate waits for the rest.",
                    r.approved_by.len(),
                    r.required_approvals
                ),
                (Verdict::Approve, _) => format!(
                    "Approved by {approver} (via {via}). The deployment continues from here."
                ),
                (Verdict::Reject, _) => format!(
                    "Rejected by {approver} (via {via}). The deployment stops here."
                ),
            };
            render(deps, &after, &c, None, Some(&line)).await
        }
        Err(e) => {
            let mut p = render(
                deps,
                &after,
                &c,
                None,
                Some(&format!("Nothing was decided: {e}")),
            )
            .await;
            p.status = e.status();
            p
        }
    }
}

/// Whether a POST came from this page's own form. Browsers send `Origin` with every form POST,
/// but as `null` when the page's referrer policy is `no-referrer` (Fetch standard, "serializing
/// a request origin") — which this page's is, so the link never leaks in a Referer; then the
/// browser's `Sec-Fetch-Site: same-origin` is the proof. A request with neither, or from
/// another site, did not come from the page.
fn same_origin(headers: &HeaderMap) -> Result<(), &'static str> {
    let get = |k: &str| headers.get(k).and_then(|v| v.to_str().ok());
    let origin = get("origin").ok_or("no Origin header")?;
    let host = get("host").ok_or("no Host header")?;
    let proto = get("x-forwarded-proto").unwrap_or("https");
    if origin.eq_ignore_ascii_case(&format!("{proto}://{host}")) {
        return Ok(());
    }
    match (origin, get("sec-fetch-site")) {
        ("null", Some("same-origin")) => Ok(()),
        ("null", _) => Err("Origin null without Sec-Fetch-Site: same-origin"),
        _ => Err("Origin is another site"),
    }
}

fn body_text(event: &LambdaFunctionUrlRequest) -> Option<String> {
    let body = event.body.clone().unwrap_or_default();
    if event.is_base64_encoded {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .ok()?;
        String::from_utf8(raw).ok()
    } else {
        Some(body)
    }
}

/// One value of an `application/x-www-form-urlencoded` string (a query or a form body).
pub fn query_param(encoded: &str, name: &str) -> Option<String> {
    encoded.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k) == name).then(|| decode(v))
    })
}

fn decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_decode() {
        let body = "link=f1.ab%2Bc&decision=approve&comment=looks+good%21&confirm=prod";
        assert_eq!(query_param(body, "link").as_deref(), Some("f1.ab+c"));
        assert_eq!(query_param(body, "comment").as_deref(), Some("looks good!"));
        assert_eq!(query_param(body, "missing"), None);
    }

    #[test]
    fn only_the_pages_own_origin_may_post() {
        let mut h = HeaderMap::new();
        h.insert(
            "host",
            HeaderValue::from_static("abc.lambda-url.eu-west-1.on.aws"),
        );
        assert!(same_origin(&h).is_err(), "no Origin");
        h.insert("origin", HeaderValue::from_static("https://evil.example"));
        assert!(same_origin(&h).is_err());
        h.insert(
            "origin",
            HeaderValue::from_static("https://abc.lambda-url.eu-west-1.on.aws"),
        );
        assert!(same_origin(&h).is_ok());
        // A no-referrer page's own form: Origin null, and the browser says same-origin.
        h.insert("origin", HeaderValue::from_static("null"));
        assert!(same_origin(&h).is_err(), "null alone proves nothing");
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(same_origin(&h).is_err());
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(same_origin(&h).is_ok());
    }
}
