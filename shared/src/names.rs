//! Unique names for resources and requests that must not collide (test buckets and tables,
//! local request ids): one helper, so every caller gets the same guarantees.

/// `prefix-` followed by 12 random hex digits (48 bits of a v4 UUID).
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &id[..12])
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_differ_and_keep_their_prefix() {
        let a = super::unique("ferry-test");
        let b = super::unique("ferry-test");
        assert_ne!(a, b);
        assert!(
            a.starts_with("ferry-test-") && a.len() == "ferry-test-".len() + 12,
            "{a}"
        );
    }
}
