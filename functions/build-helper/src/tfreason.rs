//! One line saying why terraform failed, from what it printed (`-no-color`).

use serde_json::Value;

/// Terraform's LockInfo in a few words.
pub fn lock_summary(info: &Value) -> String {
    let field = |k: &str| {
        info[k]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or("?")
            .to_owned()
    };
    let op = info["Operation"]
        .as_str()
        .unwrap_or_default()
        .replace("OperationType", "")
        .to_lowercase();
    format!(
        "lock {}: {} by {} since {}",
        field("ID"),
        if op.is_empty() { "?".into() } else { op },
        field("Who"),
        field("Created")
    )
}

/// Lines terraform prints around an error that say where, not what.
fn is_location(line: &str) -> bool {
    if let Some(rest) = line.strip_prefix("on ") {
        if let Some(i) = rest.find(" line ") {
            return rest[i + 6..].starts_with(|c: char| c.is_ascii_digit());
        }
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    (digits > 0 && line[digits..].starts_with(':')) || line.starts_with(['│', '├', '╵', '╷'])
}

/// Why `terraform <cmd>` exited with `rc`, from its output `text`: a state lock it could not
/// take (with `hint` on clearing it), that it was killed, or its last errors.
pub fn reason(text: &str, cmd: &str, rc: i32, hint: &str) -> String {
    if text.contains("Error acquiring the state lock") {
        let mut info = std::collections::HashMap::new();
        for line in text.lines() {
            let t = line.trim();
            for k in ["ID", "Operation", "Who", "Created"] {
                if let Some(v) = t.strip_prefix(k).and_then(|r| r.strip_prefix(':')) {
                    info.insert(k, v.trim().to_owned());
                }
            }
        }
        let get = |k: &str| info.get(k).cloned().unwrap_or_else(|| "?".into());
        let op = get("Operation").replace("OperationType", "").to_lowercase();
        return format!(
            "terraform's state lock is held (lock {}: {op} by {} since {}), so terraform {cmd} could not take it; {hint}",
            get("ID"),
            get("Who"),
            get("Created")
        );
    }
    if rc > 128 {
        return format!("terraform {cmd} was killed (signal {})", rc - 128);
    }
    // -no-color diagnostics: "Error: <summary>", the source excerpt, then the detail.
    let mut blocks: Vec<Vec<&str>> = Vec::new();
    for line in text.lines() {
        if line.starts_with("Error: ") {
            blocks.push(vec![line]);
        } else if let Some(b) = blocks.last_mut() {
            b.push(line);
        }
    }
    if blocks.is_empty() {
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let tail = lines[lines.len().saturating_sub(3)..].join(" ");
        return format!("terraform {cmd} failed (exit status {rc}): {tail}")
            .trim()
            .to_owned();
    }
    let said: Vec<String> = blocks[blocks.len().saturating_sub(2)..]
        .iter()
        .map(|b| {
            let lines: Vec<&str> = b
                .iter()
                .map(|l| l.trim())
                .filter(|l| !l.is_empty())
                .collect();
            let detail = lines[1..].iter().rev().find(|l| !is_location(l));
            match detail {
                Some(d) => format!("{}: {d}", lines[0]),
                None => lines[0].to_owned(),
            }
        })
        .collect();
    format!("terraform {cmd} failed: {}", said.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terraform_errors_are_said_in_one_line() {
        let log = "Planning...\n\nError: Reference to undeclared input variable\n\n  on main.tf line 2, in resource \"terraform_data\" \"x\":\n   2:   input = var.not_declared\n\nAn input variable with the name \"not_declared\" has not been declared.\n";
        assert_eq!(
            reason(log, "plan", 1, "h"),
            "terraform plan failed: Error: Reference to undeclared input variable: An input variable with the name \"not_declared\" has not been declared."
        );
        assert_eq!(
            reason("a\nb\nc\nd\n", "init", 1, "h"),
            "terraform init failed (exit status 1): b c d"
        );
        assert_eq!(
            reason("", "apply", 137, "h"),
            "terraform apply was killed (signal 9)"
        );
    }

    #[test]
    fn a_held_lock_says_whose_and_how_to_clear_it() {
        let log = "Error: Error acquiring the state lock\n\nLock Info:\n  ID:        abc\n  Path:      b/k\n  Operation: OperationTypeApply\n  Who:       root@build\n  Created:   2026-11-27 12:00:00 UTC\n";
        assert_eq!(
            reason(log, "plan", 1, "clear it"),
            "terraform's state lock is held (lock abc: apply by root@build since 2026-11-27 12:00:00 UTC), so terraform plan could not take it; clear it"
        );
        let info = serde_json::json!({"ID": "abc", "Operation": "OperationTypeApply", "Who": "w", "Created": "c"});
        assert_eq!(lock_summary(&info), "lock abc: apply by w since c");
        assert_eq!(lock_summary(&Value::Null), "lock ?: ? by ? since ?");
    }
}
