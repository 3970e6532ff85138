//! Choice rules: compiled from their JSON form and evaluated against a state's effective input.
//!
//! Rules stay hand-parsed rather than serde-derived: a rule is one operator key out of ~40
//! whose name encodes the operand type, the comparison and whether the operand is a path, so
//! decoding the name is shorter and gives better errors than forty optional fields.

use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};

use crate::asl::context::Context;
use crate::asl::paths::Path;
use crate::error::TaskError;

/// A Choice rule.
#[derive(Debug)]
pub enum Rule {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    Test {
        variable: Path,
        op: Op,
        operand: Operand,
    },
}

#[derive(Debug)]
pub enum Operand {
    Value(Value),
    Path(Path),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    String(Cmp),
    StringMatches,
    Numeric(Cmp),
    Boolean,
    Timestamp(Cmp),
    IsNull,
    IsPresent,
    IsNumeric,
    IsString,
    IsBoolean,
    IsTimestamp,
}

/// Parses a timestamp the way ASL requires (RFC 3339, with an offset).
pub fn parse_timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    // chrono also takes RFC 3339's optional space separator; AWS (Java's ISO offset date-time,
    // case-insensitive) needs the `T`.
    if !matches!(s.as_bytes().get(10), Some(b'T' | b't')) {
        return None;
    }
    DateTime::parse_from_rfc3339(s).ok()
}

/// Compiles one rule object; `top` rules carry `Next`, nested ones (under And/Or/Not) must not.
pub fn parse_rule(obj: &Map<String, Value>, top: bool) -> Result<Rule, String> {
    if !top && obj.contains_key("Next") {
        return Err("nested choice rules must not have 'Next'".into());
    }
    let ops: Vec<(&String, &Value)> = obj
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "Next" | "Comment" | "Variable"))
        .collect();
    let [(op_name, operand)] = ops.as_slice() else {
        return Err(
            "each choice rule needs exactly one comparison operator (or And/Or/Not)".into(),
        );
    };
    let sub_rules = |v: &Value| -> Result<Vec<Rule>, String> {
        v.as_array()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| format!("{op_name} needs a non-empty array of rules"))?
            .iter()
            .map(|r| parse_rule(r.as_object().ok_or("choice rules must be objects")?, false))
            .collect()
    };
    match op_name.as_str() {
        "And" | "Or" | "Not" if obj.contains_key("Variable") => {
            Err(format!("{op_name} must not have 'Variable'"))
        }
        "And" => Ok(Rule::And(sub_rules(operand)?)),
        "Or" => Ok(Rule::Or(sub_rules(operand)?)),
        "Not" => {
            let inner = operand
                .as_object()
                .ok_or("Not needs a single rule object")?;
            Ok(Rule::Not(Box::new(parse_rule(inner, false)?)))
        }
        name => {
            let variable = variable_path(obj, name)?;
            let (base, is_path) = match name.strip_suffix("Path") {
                Some(b) if b != "Is" && !name.starts_with("Is") && name != "StringMatchesPath" => {
                    (b, true)
                }
                _ => (name, false),
            };
            let cmp = |suffix: &str| -> Option<Cmp> {
                Some(match suffix {
                    "Equals" => Cmp::Eq,
                    "LessThan" => Cmp::Lt,
                    "GreaterThan" => Cmp::Gt,
                    "LessThanEquals" => Cmp::Le,
                    "GreaterThanEquals" => Cmp::Ge,
                    _ => return None,
                })
            };
            let op = if let Some(c) = base.strip_prefix("String").and_then(cmp) {
                Op::String(c)
            } else if base == "StringMatches" {
                Op::StringMatches
            } else if let Some(c) = base.strip_prefix("Numeric").and_then(cmp) {
                Op::Numeric(c)
            } else if base == "BooleanEquals" {
                Op::Boolean
            } else if let Some(c) = base.strip_prefix("Timestamp").and_then(cmp) {
                Op::Timestamp(c)
            } else {
                match base {
                    "IsNull" => Op::IsNull,
                    "IsPresent" => Op::IsPresent,
                    "IsNumeric" => Op::IsNumeric,
                    "IsString" => Op::IsString,
                    "IsBoolean" => Op::IsBoolean,
                    "IsTimestamp" => Op::IsTimestamp,
                    _ => return Err(format!("unknown choice operator '{name}'")),
                }
            };
            let operand = if is_path {
                let p = operand
                    .as_str()
                    .ok_or_else(|| format!("{name} needs a path string"))?;
                Operand::Path(Path::parse(p)?)
            } else {
                let ok = match op {
                    Op::String(_) | Op::StringMatches => operand.is_string(),
                    Op::Numeric(_) => operand.is_number(),
                    Op::Timestamp(_) => operand.as_str().and_then(parse_timestamp).is_some(),
                    _ => operand.is_boolean(),
                };
                if !ok {
                    return Err(format!(
                        "{name} has an operand of the wrong type: {operand}"
                    ));
                }
                Operand::Value((*operand).clone())
            };
            Ok(Rule::Test {
                variable,
                op,
                operand,
            })
        }
    }
}

fn variable_path(obj: &Map<String, Value>, op: &str) -> Result<Path, String> {
    match obj.get("Variable") {
        None => Err(format!("{op} needs 'Variable'")),
        Some(Value::String(p)) => Path::parse(p),
        Some(_) => Err("Variable must be a string".into()),
    }
}

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
