//! Who a caller is, in forms the caller cannot choose. Identities arrive as IAM ARNs (from the
//! Function URL's SigV4 authorizer) or as `local:<name>` in local mode. Approver lists and
//! four-eyes compare principals, never a free-text name a caller could pick: a role session
//! name counts only for roles the operator trusts to set it to the person (IAM Identity
//! Center's `AWSReservedSSO_*` roles do). IAM user and role names are unique regardless of
//! case, so they compare case-insensitively.

/// A caller's identity, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `arn:<partition>:iam::<account>:user/[path/]<name>`
    User { account: String, name: String },
    /// `arn:<partition>:sts::<account>:assumed-role/<role>/<session>`
    Session {
        account: String,
        role: String,
        session: String,
    },
    /// `arn:<partition>:iam::<account>:root`
    Root { account: String },
    /// Local mode: `local:<name>` (no IAM; the name is the OS user or `--as`).
    Local { name: String },
    /// Anything else: compared only as the whole string.
    Other(String),
}

impl Principal {
    pub fn parse(identity: &str) -> Principal {
        if let Some(name) = identity.strip_prefix("local:") {
            return Principal::Local {
                name: name.to_ascii_lowercase(),
            };
        }
        let other = || Principal::Other(identity.to_owned());
        let parts: Vec<&str> = identity.splitn(6, ':').collect();
        let [arn, _partition, service, _region, account, resource] = parts[..] else {
            return other();
        };
        if arn != "arn" || account.is_empty() {
            return other();
        }
        let account = account.to_owned();
        match (service, resource.split_once('/')) {
            ("iam", Some(("user", path_and_name))) => match path_and_name.rsplit('/').next() {
                Some(name) if !name.is_empty() => Principal::User {
                    account,
                    name: name.to_ascii_lowercase(),
                },
                _ => other(),
            },
            ("sts", Some(("assumed-role", rest))) => match rest.split_once('/') {
                Some((role, session)) if !role.is_empty() && !session.is_empty() => {
                    Principal::Session {
                        account,
                        role: role.to_ascii_lowercase(),
                        session: session.to_ascii_lowercase(),
                    }
                }
                _ => other(),
            },
            ("iam", None) if resource == "root" => Principal::Root { account },
            _ => other(),
        }
    }

    /// The form four-eyes compares: one person (or one principal) is one key. A session of an
    /// untrusted role is the role itself: whoever can assume it can pick any session name.
    pub fn stable_key(&self, trusted_session_roles: &[String]) -> String {
        match self {
            Principal::User { account, name } => format!("user:{account}:{name}"),
            Principal::Session {
                account,
                role,
                session,
            } if role_trusted(role, trusted_session_roles) => {
                format!("person:{account}:{session}")
            }
            Principal::Session { account, role, .. } => format!("role:{account}:{role}"),
            Principal::Root { account } => format!("root:{account}"),
            Principal::Local { name } => format!("local:{name}"),
            Principal::Other(s) => format!("other:{s}"),
        }
    }

    /// Whether this principal is named by one approver-list entry:
    /// - `arn:…:iam::<account>:user/<name>`: that IAM user;
    /// - `arn:…:iam::<account>:role/<name>` (a trailing `*` matches a prefix): any session of
    ///   that role — everyone who can assume it approves;
    /// - `arn:…:sts::<account>:assumed-role/<role>/<session>`: that session, only when the role
    ///   is trusted to set session names;
    /// - a bare name (`alice`): the IAM user, the local user, or the session of a trusted role
    ///   with that name.
    pub fn matches(&self, entry: &str, trusted_session_roles: &[String]) -> bool {
        let entry = entry.trim();
        if entry.is_empty() {
            return false;
        }
        if !entry.starts_with("arn:") {
            let name = entry.to_ascii_lowercase();
            return match self {
                Principal::User { name: n, .. } | Principal::Local { name: n } => *n == name,
                Principal::Session { role, session, .. } => {
                    *session == name && role_trusted(role, trusted_session_roles)
                }
                _ => false,
            };
        }
        let parts: Vec<&str> = entry.splitn(6, ':').collect();
        let [_, _, service, _, account, resource] = parts[..] else {
            return false;
        };
        match (service, resource.split_once('/'), self) {
            (
                "iam",
                Some(("role", role_path)),
                Principal::Session {
                    account: a, role, ..
                },
            ) => {
                let pattern = role_path.rsplit('/').next().unwrap_or_default();
                a == account && glob_matches(&pattern.to_ascii_lowercase(), role)
            }
            ("iam", Some(("user", _)), Principal::User { .. })
            | ("sts", Some(("assumed-role", _)), Principal::Session { .. }) => {
                let wanted = Principal::parse(entry);
                match (&wanted, self) {
                    (Principal::Session { role, .. }, _)
                        if !role_trusted(role, trusted_session_roles) =>
                    {
                        false
                    }
                    _ => wanted == *self,
                }
            }
            ("iam", None, Principal::Root { account: a }) if resource == "root" => a == account,
            _ => false,
        }
    }
}

/// Whether two identities may be the same person, for four-eyes: the same principal, or the
/// same name (case-insensitively) in their last ARN segment. The second test errs on the side of
/// refusing: a session named like the requester may be them.
pub fn maybe_same_person(a: &str, b: &str, trusted_session_roles: &[String]) -> bool {
    let name = |id: &str| {
        id.rsplit(['/', ':'])
            .next()
            .unwrap_or(id)
            .to_ascii_lowercase()
    };
    Principal::parse(a).stable_key(trusted_session_roles)
        == Principal::parse(b).stable_key(trusted_session_roles)
        || name(a) == name(b)
}

/// The last segment of an identity, for people reading a list: `local:alice`,
/// `arn:aws:iam::1:user/alice` and `…:assumed-role/Deployer/alice` are all "alice". Never for
/// deciding anything.
pub fn short_name(identity: &str) -> &str {
    identity.rsplit(['/', ':']).next().unwrap_or(identity)
}

fn role_trusted(role: &str, trusted: &[String]) -> bool {
    trusted
        .iter()
        .any(|t| glob_matches(&t.trim().to_ascii_lowercase(), role))
}

/// `prefix*` matches by prefix; anything else must be equal.
fn glob_matches(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

/// A local-mode user name: what `--as` and the OS user may be (no `/` or `:`, so it can never
/// look like part of an ARN).
pub fn valid_local_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@' | b'+'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE_USER: &str = "arn:aws:iam::123456789012:user/alice";
    const SSO: &str = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123/alice";
    const CI: &str = "arn:aws:sts::123456789012:assumed-role/ci-deployer/alice";

    fn sso() -> Vec<String> {
        vec!["AWSReservedSSO_*".into()]
    }

    #[test]
    fn parses_the_arn_shapes() {
        assert_eq!(
            Principal::parse("arn:aws:iam::123456789012:user/team/Alice"),
            Principal::User {
                account: "123456789012".into(),
                name: "alice".into()
            }
        );
        assert!(matches!(Principal::parse(SSO), Principal::Session { .. }));
        assert!(matches!(
            Principal::parse("arn:aws:iam::123456789012:root"),
            Principal::Root { .. }
        ));
        assert_eq!(
            Principal::parse("local:Bob"),
            Principal::Local { name: "bob".into() }
        );
        assert!(matches!(Principal::parse("bob"), Principal::Other(_)));
        assert!(matches!(
            Principal::parse("arn:aws:sts::1:assumed-role/r"),
            Principal::Other(_)
        ));
    }

    #[test]
    fn bare_names_match_users_local_users_and_trusted_sessions_only() {
        assert!(Principal::parse(ALICE_USER).matches("alice", &[]));
        assert!(Principal::parse("local:alice").matches("alice", &[]));
        assert!(Principal::parse("local:Alice").matches("ALICE", &[]));
        assert!(Principal::parse(SSO).matches("alice", &sso()));
        // Anyone who can assume the CI role can call their session "alice".
        assert!(!Principal::parse(CI).matches("alice", &sso()));
        assert!(!Principal::parse(SSO).matches("alice", &[]));
        assert!(!Principal::parse("local:x/alice").matches("alice", &[]));
    }

    #[test]
    fn arn_entries_match_what_they_name() {
        let ci = Principal::parse(CI);
        assert!(ci.matches("arn:aws:iam::123456789012:role/ci-deployer", &[]));
        assert!(ci.matches("arn:aws:iam::123456789012:role/ci-*", &[]));
        assert!(!ci.matches("arn:aws:iam::999999999999:role/ci-deployer", &[]));
        assert!(Principal::parse(ALICE_USER).matches("arn:aws:iam::123456789012:user/ALICE", &[]));
        assert!(!Principal::parse(ALICE_USER).matches("arn:aws:iam::123456789012:user/bob", &[]));
        // A session entry counts only for a role trusted to set session names.
        assert!(!ci.matches(CI, &[]));
        assert!(Principal::parse(SSO).matches(SSO, &sso()));
        assert!(!Principal::parse(SSO).matches(SSO, &[]));
    }

    #[test]
    fn four_eyes_keys_are_stable_and_case_insensitive() {
        let key = |id: &str| Principal::parse(id).stable_key(&sso());
        assert_eq!(key("local:alice"), key("local:Alice"));
        assert_ne!(key("local:alice"), key("local:x/alice"));
        assert_eq!(
            key(ALICE_USER),
            key("arn:aws:iam::123456789012:user/path/ALICE")
        );
        // Two sessions of an untrusted role are one principal; trusted sessions are people.
        assert_eq!(
            key(CI),
            key("arn:aws:sts::123456789012:assumed-role/ci-deployer/bob")
        );
        assert_ne!(
            key(SSO),
            key("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123/bob")
        );
        assert_eq!(
            key(SSO),
            key("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_ReadOnly_9/Alice")
        );
    }

    #[test]
    fn four_eyes_refuses_whatever_may_be_the_same_person() {
        assert!(maybe_same_person("local:alice", "local:Alice", &[]));
        assert!(maybe_same_person("local:alice", "local:x/alice", &[]));
        assert!(maybe_same_person(
            CI,
            "arn:aws:sts::123456789012:assumed-role/ci-deployer/bob",
            &[]
        ));
        assert!(maybe_same_person(ALICE_USER, SSO, &[]));
        assert!(!maybe_same_person("local:alice", "local:bob", &[]));
        assert!(!maybe_same_person(
            ALICE_USER,
            "arn:aws:iam::123456789012:user/bob",
            &sso()
        ));
    }

    #[test]
    fn local_names() {
        assert!(valid_local_name("alice"));
        assert!(valid_local_name("alice.smith@example.com"));
        assert!(!valid_local_name("x/alice"));
        assert!(!valid_local_name("arn:aws:iam::1:user/a"));
        assert!(!valid_local_name(""));
    }
}
