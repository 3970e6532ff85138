//! Evaluation of Choice rules against a state's effective input.

use std::cmp::Ordering;

use serde_json::Value;

use crate::definition::{parse_timestamp, Cmp, Op, Operand, Rule};
use crate::error::TaskError;
use crate::paths::Context;

/// Evaluates a rule; a missing `Variable` is a `States.Runtime` error except for `IsPresent`.
pub fn eval(rule: &Rule, input: &Value, ctx: &Context<'_>) -> Result<bool, TaskError> {
    match rule {
        Rule::And(rules) => {
            for r in rules {
                if !eval(r, input, ctx)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Rule::Or(rules) => {
            for r in rules {
                if eval(r, input, ctx)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Rule::Not(r) => Ok(!eval(r, input, ctx)?),
        Rule::Test {
            variable,
            op,
            operand,
        } => {
            let value = variable.try_select(input, ctx);
            if *op == Op::IsPresent {
                return Ok(
                    value.is_some() == (operand_value(operand, input, ctx)? == Value::Bool(true))
                );
            }
            let value = value.ok_or_else(|| {
                TaskError::runtime(format!(
                    "Invalid path '{}': The choice state's condition path references an invalid value.",
                    variable.as_str()
                ))
            })?;
            let rhs = operand_value(operand, input, ctx)?;
            Ok(test(*op, &value, &rhs))
        }
    }
}

fn operand_value(operand: &Operand, input: &Value, ctx: &Context<'_>) -> Result<Value, TaskError> {
    match operand {
        Operand::Value(v) => Ok(v.clone()),
        Operand::Path(p) => p.select(input, ctx, "choice operand"),
    }
}

fn holds(c: Cmp, ord: Ordering) -> bool {
    match c {
        Cmp::Eq => ord == Ordering::Equal,
        Cmp::Lt => ord == Ordering::Less,
        Cmp::Gt => ord == Ordering::Greater,
        Cmp::Le => ord != Ordering::Greater,
        Cmp::Ge => ord != Ordering::Less,
    }
}

fn test(op: Op, value: &Value, rhs: &Value) -> bool {
    let expect = rhs.as_bool() == Some(true);
    match op {
        Op::String(c) => match (value.as_str(), rhs.as_str()) {
            (Some(a), Some(b)) => holds(c, a.cmp(b)),
            _ => false,
        },
        Op::StringMatches => match (value.as_str(), rhs.as_str()) {
            (Some(a), Some(pattern)) => wildcard_match(pattern, a),
            _ => false,
        },
        Op::Numeric(c) => match (value.as_f64(), rhs.as_f64()) {
            (Some(a), Some(b)) if value.is_number() && rhs.is_number() => {
                a.partial_cmp(&b).is_some_and(|o| holds(c, o))
            }
            _ => false,
        },
        Op::Boolean => matches!((value, rhs), (Value::Bool(a), Value::Bool(b)) if a == b),
        Op::Timestamp(c) => {
            match (
                value.as_str().and_then(parse_timestamp),
                rhs.as_str().and_then(parse_timestamp),
            ) {
                (Some(a), Some(b)) => holds(c, a.cmp(&b)),
                _ => false,
            }
        }
        Op::IsNull => value.is_null() == expect,
        Op::IsNumeric => value.is_number() == expect,
        Op::IsString => value.is_string() == expect,
        Op::IsBoolean => value.is_boolean() == expect,
        Op::IsTimestamp => value.as_str().and_then(parse_timestamp).is_some() == expect,
        Op::IsPresent => expect,
    }
}

/// `StringMatches`: `*` matches any run of characters; `\*` and `\\` are literal.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum Tok {
        Star,
        Char(char),
    }
    let mut toks = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => toks.push(Tok::Char(chars.next().unwrap_or('\\'))),
            '*' => toks.push(Tok::Star),
            c => toks.push(Tok::Char(c)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    // Greedy match with backtracking to the last star: linear in practice.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match toks.get(p) {
            Some(Tok::Char(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            Some(Tok::Star) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    toks[p..].iter().all(|t| *t == Tok::Star)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("log-*.txt", "log-2024.txt"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b", "aXXc"));
        assert!(wildcard_match("a\\*b", "a*b"));
        assert!(!wildcard_match("a\\*b", "aXb"));
    }
}
