//! The review page approvers open from their notification or the Step Functions console: one
//! self-contained HTML document (no scripts, fonts or styles from elsewhere) that shows what
//! would change and, on a decision link, a plain form to approve or reject. Rendering is pure;
//! the handler decides what the page may offer.

use std::fmt::Write as _;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use ferry_shared::model::{Approval, ApprovalStatus, Environment, Release, ResourceChange};
use sha2::Digest as _;

/// The page's only style sheet, inline: the Content-Security-Policy allows exactly this text.
const STYLE: &str = "\
:root{color-scheme:light dark;--bad:#b42318;--warn:#b54708;--ok:#067647;--muted:#667085}\
body{font:16px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;padding:1rem;\
max-width:46rem;margin-inline:auto;overflow-wrap:anywhere}\
h1{font-size:1.35rem;margin:.2rem 0 1rem}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem .9rem;margin:0 0 1rem}\
dt{color:var(--muted)}dd{margin:0}\
code{font:.9em ui-monospace,SFMono-Regular,Menlo,monospace}\
.counts{display:flex;flex-wrap:wrap;gap:.5rem;margin:0 0 1rem;padding:0;list-style:none}\
.counts li{border:1px solid;border-radius:.4rem;padding:.1rem .6rem}\
.danger{color:var(--bad);font-weight:600}.replace{color:var(--warn);font-weight:600}\
table{border-collapse:collapse;width:100%;margin:0 0 1rem}\
td{border-top:1px solid #8884;padding:.3rem .4rem;vertical-align:top}\
tr.danger td,tr.replace td{background:#f0443814}\
form{border-top:1px solid #8886;padding-top:1rem}\
label{display:block;margin:.6rem 0 .2rem}\
textarea,input[type=text]{width:100%;box-sizing:border-box;font:inherit;padding:.4rem}\
.buttons{display:flex;flex-wrap:wrap;gap:.6rem;margin-top:1rem}\
button{font:inherit;padding:.55rem 1.2rem;border-radius:.4rem;border:1px solid;cursor:pointer}\
button[value=approve]{background:var(--ok);color:#fff;border-color:var(--ok)}\
button[value=reject]{background:transparent;color:var(--bad);border-color:var(--bad)}\
.notice{border-left:4px solid var(--warn);padding:.4rem .8rem;margin:0 0 1rem}\
.muted{color:var(--muted)}";

/// Headers every page response carries: nothing loads from elsewhere, nothing frames the page,
/// no address (with its link) leaks in a Referer, nothing is cached.
pub fn security_headers() -> Vec<(&'static str, String)> {
    let style_hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(STYLE));
    vec![
        ("content-type", "text/html; charset=utf-8".into()),
        (
            "content-security-policy",
            format!(
                "default-src 'none'; style-src 'sha256-{style_hash}'; form-action 'self'; \
                 frame-ancestors 'none'; base-uri 'none'"
            ),
        ),
        ("referrer-policy", "no-referrer".into()),
        ("cache-control", "no-store".into()),
        ("x-frame-options", "DENY".into()),
        ("x-content-type-options", "nosniff".into()),
    ]
}

/// What a decision link lets its holder do on the page.
#[derive(Debug, Clone)]
pub struct DecisionForm<'a> {
    /// The signed link, posted back with the form (never shown as text).
    pub link: &'a str,
    /// Who the link was minted for.
    pub approver: &'a str,
    /// The environment asks deciders to type its name.
    pub confirm_name: bool,
}

/// Everything the page shows.
#[derive(Debug, Clone)]
pub struct PageView<'a> {
    pub approval: &'a Approval,
    pub release: Option<&'a Release>,
    pub environment: &'a Environment,
    pub now: DateTime<Utc>,
    pub form: Option<DecisionForm<'a>>,
    /// One line above everything: why the link cannot decide, or what just happened.
    pub notice: Option<&'a str>,
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// How dangerous a resource change is: destroys first, then replacements, then the rest.
fn rank(r: &ResourceChange) -> (u8, &'static str) {
    let has = |a: &str| r.actions.iter().any(|x| x == a);
    match (has("delete"), has("create")) {
        (true, true) => (1, "replace"),
        (true, false) => (0, "danger"),
        _ => (2, ""),
    }
}

/// A page that only says one thing (no link, an expired or altered link, a refusal).
pub fn message(title: &str, line: &str) -> String {
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width,initial-scale=1\">\
         <meta name=referrer content=no-referrer><title>{t}</title><style>{STYLE}</style></head>\
         <body><main><h1>{t}</h1><p>{l}</p></main></body></html>",
        t = escape(title),
        l = escape(line)
    )
}

pub fn render(v: &PageView<'_>) -> String {
    let a = v.approval;
    let plan = &a.plan_summary;
    let mut h = String::with_capacity(8 * 1024);
    let title = format!("Approve {} {} → {}?", a.component, a.version, a.environment);
    let _ = write!(
        h,
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width,initial-scale=1\">\
         <meta name=referrer content=no-referrer><title>{t}</title><style>{STYLE}</style></head>\
         <body><main><h1>{t}</h1>",
        t = escape(&title)
    );
    if let Some(n) = v.notice {
        let _ = write!(h, "<p class=notice role=status>{}</p>", escape(n));
    }

    let release_sha = v.release.map_or("unknown", |r| r.sha256.as_str());
    let commit = v
        .release
        .and_then(|r| r.manifest.commit.as_deref())
        .unwrap_or("not recorded");
    let expires = a.expires_at.format("%Y-%m-%d %H:%M UTC");
    let left = a.expires_at - v.now;
    let left = if left.num_seconds() <= 0 {
        "expired".to_owned()
    } else if left.num_hours() >= 1 {
        format!("in {} h {} min", left.num_hours(), left.num_minutes() % 60)
    } else {
        format!("in {} min", left.num_minutes().max(1))
    };
    let approvals = a.progress();
    let rows: [(&str, String); 10] = [
        ("Component", a.component.to_string()),
        ("Version", a.version.to_string()),
        ("Environment", a.environment.to_string()),
        ("Requested by", a.requester.clone()),
        ("Release SHA-256", release_sha.to_owned()),
        ("Commit", commit.to_owned()),
        ("Plan SHA-256", a.plan_sha256.clone()),
        ("Status", a.status.to_string()),
        ("Approvals", approvals),
        ("Expires", format!("{expires} ({left})")),
    ];
    h.push_str("<dl>");
    for (k, val) in rows {
        let code = k.ends_with("SHA-256") || k == "Commit";
        let _ = if code {
            write!(h, "<dt>{k}</dt><dd><code>{}</code></dd>", escape(&val))
        } else {
            write!(h, "<dt>{k}</dt><dd>{}</dd>", escape(&val))
        };
    }
    h.push_str("</dl><h2>Plan</h2>");

    if plan.no_changes {
        h.push_str("<p>No changes.</p>");
    } else {
        let _ = write!(
            h,
            "<ul class=counts><li class={d}>{} to destroy</li><li class={r}>{} to replace</li>\
             <li>{} to add</li><li>{} to change</li></ul>",
            plan.destroy,
            plan.replace,
            plan.add,
            plan.change,
            d = if plan.destroy > 0 { "danger" } else { "muted" },
            r = if plan.replace > 0 { "replace" } else { "muted" },
        );
    }
    let mut resources: Vec<&ResourceChange> = plan.resources.iter().collect();
    resources.sort_by_key(|r| rank(r).0);
    if !resources.is_empty() {
        h.push_str("<table><tbody>");
        for r in resources {
            let class = rank(r).1;
            let _ = write!(
                h,
                "<tr class=\"{class}\"><td>{}</td><td><code>{}</code></td></tr>",
                escape(&r.actions.join("/")),
                escape(&r.address)
            );
        }
        h.push_str("</tbody></table>");
    }

    match &v.form {
        Some(f) if a.status == ApprovalStatus::Pending && v.now < a.expires_at => {
            let _ = write!(
                h,
                "<form method=post><input type=hidden name=link value=\"{link}\">\
                 <p>Deciding as <strong>{who}</strong>.</p>\
                 <label for=comment>Comment (optional)</label>\
                 <textarea id=comment name=comment rows=3 maxlength=2048></textarea>",
                link = escape(f.link),
                who = escape(f.approver)
            );
            if f.confirm_name {
                let _ = write!(
                    h,
                    "<label for=confirm>Type <strong>{env}</strong> to confirm</label>\
                     <input type=text id=confirm name=confirm autocomplete=off required \
                     pattern=\"{env}\">",
                    env = escape(a.environment.as_str())
                );
            }
            h.push_str(
                "<div class=buttons><button type=submit name=decision value=approve>Approve\
                 </button><button type=submit name=decision value=reject>Reject</button></div>\
                 </form>",
            );
        }
        _ => {
            let _ = write!(
                h,
                "<p class=muted>To decide: use the link from your own notification, or run \
                 <code>ferry approve {id} --env {env}</code> (or <code>ferry approve {id} --env \
                 {env} --browser</code>).</p>",
                id = escape(&a.deployment_id),
                env = escape(a.environment.as_str())
            );
        }
    }
    h.push_str("</main></body></html>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_shared::model::{
        ApprovalPolicy, ComponentName, EnvironmentName, PlanSummary, SealedToken, Version,
    };

    fn approval() -> Approval {
        Approval {
            deployment_id: "d-1".into(),
            component: ComponentName::parse("web").unwrap(),
            version: Version::parse("1.4.2").unwrap(),
            environment: EnvironmentName::parse("prod").unwrap(),
            requester: "local:alice".into(),
            status: ApprovalStatus::Pending,
            plan_sha256: "ab".repeat(32),
            plan_summary: PlanSummary {
                add: 1,
                change: 0,
                destroy: 1,
                replace: 1,
                no_changes: false,
                resources: vec![
                    ResourceChange {
                        address: "aws_s3_bucket.logs".into(),
                        actions: vec!["create".into()],
                        attributes: vec![],
                    },
                    ResourceChange {
                        address: "aws_db_instance.<script>".into(),
                        actions: vec!["delete".into()],
                        attributes: vec![],
                    },
                    ResourceChange {
                        address: "aws_instance.web".into(),
                        actions: vec!["delete".into(), "create".into()],
                        attributes: vec![],
                    },
                ],
                plan_sha256: "ab".repeat(32),
                drift: vec![],
            },
            requested_at: Utc::now(),
            expires_at: Utc::now() + chrono::Duration::hours(2),
            task_token: SealedToken::default(),
            decided_by: None,
            comment: None,
            decided_at: None,
            gate_error: None,
            verdict: None,
            via: None,
            required_approvals: 1,
            approvals: vec![],
        }
    }

    fn env() -> Environment {
        Environment {
            name: EnvironmentName::parse("prod").unwrap(),
            order: 1,
            approval: ApprovalPolicy::Required,
            approvers: vec![],
            four_eyes: true,
            trusted_session_roles: vec![],
            approval_timeout_secs: 3600,
            confirm_name: false,
            required_approvals: 1,
            destroy_approvals: None,
            freeze: None,
            drift_check_secs: None,
            updated_at: Utc::now(),
        }
    }

    fn page(form: Option<DecisionForm<'_>>) -> String {
        let (a, e) = (approval(), env());
        render(&PageView {
            approval: &a,
            release: None,
            environment: &e,
            now: Utc::now(),
            form,
            notice: None,
        })
    }

    #[test]
    fn destroys_come_first_and_everything_is_escaped() {
        let html = page(None);
        let destroy = html.find("aws_db_instance").unwrap();
        let replace = html.find("aws_instance.web").unwrap();
        let create = html.find("aws_s3_bucket.logs").unwrap();
        assert!(destroy < replace && replace < create, "{html}");
        assert!(html.contains("aws_db_instance.&lt;script&gt;"));
        assert!(!html.contains("<script"));
    }

    #[test]
    fn nothing_loads_from_elsewhere() {
        let html = page(None);
        for needle in ["http://", "https://", "src=", "<link", "@import", "url("] {
            assert!(!html.contains(needle), "{needle} in the page");
        }
        let headers = security_headers();
        let csp = &headers
            .iter()
            .find(|(k, _)| *k == "content-security-policy")
            .unwrap()
            .1;
        assert!(csp.starts_with("default-src 'none'"));
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(STYLE));
        assert!(csp.contains(&hash), "the style's hash is allowed");
    }

    #[test]
    fn only_a_decision_link_gets_a_form_and_production_asks_for_the_name() {
        assert!(!page(None).contains("<form"));
        assert!(page(None).contains("ferry approve d-1 --env prod"));
        let html = page(Some(DecisionForm {
            link: "v1.abc\"def",
            approver: "local:bob",
            confirm_name: true,
        }));
        assert!(html.contains("<form method=post>"));
        assert!(html.contains("value=\"v1.abc&quot;def\""));
        assert!(html.contains("name=confirm"));
        assert!(html.contains("Deciding as <strong>local:bob</strong>"));
    }
}
