//! JSONPath as ASL uses it: paths over the state input (`$…`) or the context object (`$$…`),
//! and the reference paths that `ResultPath` writes to.
//!
//! Querying is delegated to `serde_json_path` (RFC 9535); only the small reference-path
//! subset (`$.a['b'][0]`) is split here, because `serde_json_path` cannot write.

use serde_json::{Map, Value};
use serde_json_path::JsonPath;

use crate::asl::context::Context;
use crate::error::{names, TaskError};

/// A compiled JSONPath over the input or the context object.
#[derive(Debug, Clone)]
pub struct Path {
    raw: String,
    on_context: bool,
    singular: bool,
    compiled: JsonPath,
}

impl Path {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let (on_context, body) = match raw.strip_prefix("$$") {
            Some(rest) => (true, format!("${rest}")),
            None => (false, raw.to_string()),
        };
        if !body.starts_with('$') {
            return Err(format!("'{raw}' is not a JSONPath: it must start with '$'"));
        }
        let body = shorthand_to_brackets(&body);
        let compiled =
            JsonPath::parse(&body).map_err(|e| format!("invalid JSONPath '{raw}': {e}"))?;
        Ok(Self {
            raw: raw.to_string(),
            on_context,
            singular: is_singular(&body),
            compiled,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Selects the value the path names. A definite path must match exactly one node (else
    /// `States.Runtime`, as AWS); an indefinite one (wildcards, filters, slices) yields an array.
    pub fn select(
        &self,
        input: &Value,
        ctx: &Context<'_>,
        field: &str,
    ) -> Result<Value, TaskError> {
        if self.on_context {
            let ctx_value = ctx.to_value();
            self.select_in(&ctx_value, field)
        } else {
            self.select_in(input, field)
        }
    }

    /// Like [`Path::select`] but `None` when a definite path matches nothing.
    pub fn try_select(&self, input: &Value, ctx: &Context<'_>) -> Option<Value> {
        let query = |doc: &Value| -> Option<Value> {
            let nodes = self.compiled.query(doc);
            if self.singular {
                nodes.first().cloned()
            } else {
                Some(Value::Array(nodes.all().into_iter().cloned().collect()))
            }
        };
        if self.on_context {
            query(&ctx.to_value())
        } else {
            query(input)
        }
    }

    /// Like [`Path::select`], but a definite path that matches nothing fails in Jayway
    /// JSONPath's words, as AWS reports InputPath, OutputPath and the `…SecondsPath` fields:
    /// `Invalid path '$.x' : No results for path: $['x']`.
    pub fn select_or_invalid(&self, input: &Value, ctx: &Context<'_>) -> Result<Value, TaskError> {
        if let Some(v) = self.try_select(input, ctx) {
            return Ok(v);
        }
        let detail = if self.on_context {
            missing_detail(&self.raw[1..], &ctx.to_value())
        } else {
            missing_detail(&self.raw, input)
        };
        Err(TaskError::runtime(format!(
            "Invalid path '{}' : {detail}",
            self.raw
        )))
    }

    fn select_in(&self, doc: &Value, field: &str) -> Result<Value, TaskError> {
        if self.raw == "$" {
            return Ok(doc.clone());
        }
        let nodes = self.compiled.query(doc);
        if self.singular {
            nodes.first().cloned().ok_or_else(|| {
                TaskError::runtime(format!(
                    "The JSONPath '{}' specified for the field '{field}' could not be found in the input '{}'",
                    self.raw,
                    truncate(&doc.to_string())
                ))
            })
        } else {
            Ok(Value::Array(nodes.all().into_iter().cloned().collect()))
        }
    }
}

/// Jayway's account of a definite path that matched nothing: a missing leaf is "No results
/// for path: $['a']['b']", a missing step on the way "Missing property in path $['a']".
fn missing_detail(raw: &str, doc: &Value) -> String {
    let Some(steps) = split_reference(raw) else {
        return format!("No results for path: {raw}");
    };
    let render = |upto: usize| {
        let mut out = String::from("$");
        for s in &steps[..upto] {
            match s {
                Step::Field(n) => out.push_str(&format!("['{n}']")),
                Step::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    };
    let mut cur = doc;
    for (i, step) in steps.iter().enumerate() {
        let next = match (step, cur) {
            (Step::Field(n), Value::Object(m)) => m.get(n),
            (Step::Index(k), Value::Array(a)) => a.get(*k),
            _ => None,
        };
        match next {
            Some(v) => cur = v,
            None if i + 1 < steps.len() && matches!(step, Step::Field(_)) => {
                return format!("Missing property in path {}", render(i + 1))
            }
            None => break,
        }
    }
    format!("No results for path: {}", render(steps.len()))
}

fn truncate(s: &str) -> String {
    // Step Functions caps a cause at 32,768 characters.
    const MAX: usize = 16_384;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Rewrites a path the way AWS (Jayway JSONPath) reads it into RFC 9535 syntax:
/// - dot-names RFC 9535 does not allow in shorthand (`$.ship-date`, `$.1st`) become bracket
///   names (`$['ship-date']`);
/// - quoted bracket names are taken verbatim up to the closing quote, backslashes included
///   (AWS selects the key `Test\"Name` with `$['Test\"Name']`), and re-quoted with RFC 9535
///   escapes. Strings inside filters keep RFC 9535's own reading.
fn shorthand_to_brackets(path: &str) -> String {
    let chars: Vec<char> = path.chars().collect();
    let mut out = String::with_capacity(path.len() + 8);
    let mut i = 0;
    // One entry per open bracket: true when it holds a filter (`[?…]`).
    let mut brackets: Vec<bool> = Vec::new();
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            out.push(c);
            if c == '\\' {
                if let Some(n) = chars.get(i + 1) {
                    out.push(*n);
                    i += 1;
                }
            } else if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        match c {
            '\'' | '"' if brackets.last() == Some(&false) => {
                // Unterminated: copied as is, for the RFC 9535 parser to refuse.
                let Some((name, next)) = raw_name(&chars, i + 1, c) else {
                    out.extend(&chars[i..]);
                    break;
                };
                out.push('\'');
                out.push_str(&rfc_escape(&name));
                out.push('\'');
                i = next;
                continue;
            }
            '\'' | '"' if !brackets.is_empty() => quote = Some(c),
            '[' => {
                let filter = chars[i + 1..]
                    .iter()
                    .find(|c| !c.is_whitespace())
                    .is_some_and(|c| *c == '?');
                brackets.push(filter);
            }
            ']' => {
                brackets.pop();
            }
            '.' if brackets.is_empty()
                && chars
                    .get(i + 1)
                    .is_some_and(|n| *n != '.' && *n != '*' && *n != '[') =>
            {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && chars[j] != '.' && chars[j] != '[' {
                    j += 1;
                }
                let name: String = chars[start..j].iter().collect();
                let shorthand_ok = name.chars().enumerate().all(|(k, ch)| {
                    ch == '_'
                        || ch.is_ascii_alphabetic()
                        || !ch.is_ascii()
                        || (k > 0 && ch.is_ascii_digit())
                });
                if shorthand_ok {
                    out.push('.');
                    out.push_str(&name);
                } else {
                    if out.ends_with('.') {
                        out.push('.'); // descendant segment: `$..a-b` → `$..['a-b']`
                    }
                    out.push_str("['");
                    out.push_str(&rfc_escape(&name));
                    out.push_str("']");
                }
                i = j;
                continue;
            }
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    out
}

/// A quoted bracket name read as AWS reads it: everything from `start` up to the first `quote`
/// not preceded by a backslash, verbatim. Returns the name and the index after the quote.
fn raw_name(chars: &[char], start: usize, quote: char) -> Option<(String, usize)> {
    (start..chars.len())
        .find(|&j| chars[j] == quote && (j == start || chars[j - 1] != '\\'))
        .map(|j| (chars[start..j].iter().collect(), j + 1))
}

/// A name as an RFC 9535 single-quoted string body.
fn rfc_escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for ch in name.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// True when a path can only name one node: no wildcard, descendant, filter, slice or union.
fn is_singular(path: &str) -> bool {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut prev = '\0';
    let mut depth = 0;
    for c in path.chars() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) => {
                if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '"' => quote = Some(c),
                '[' => depth += 1,
                ']' => depth -= 1,
                '*' | '?' => return false,
                '.' if prev == '.' => return false,
                ',' | ':' if depth > 0 => return false,
                _ => {}
            },
        }
        prev = c;
    }
    true
}

/// One step of a reference path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Field(String),
    Index(usize),
}

/// A reference path (`ResultPath`): a definite path that can be written to.
#[derive(Debug, Clone)]
pub struct ReferencePath {
    raw: String,
    steps: Vec<Step>,
}

impl ReferencePath {
    pub fn parse(raw: &str) -> Result<Self, String> {
        // Validate with the real parser first so both agree on what a path is.
        JsonPath::parse(&shorthand_to_brackets(raw))
            .map_err(|e| format!("invalid JSONPath '{raw}': {e}"))?;
        let steps = split_reference(raw).ok_or_else(|| {
            format!("'{raw}' is not a reference path (only names and indexes may appear)")
        })?;
        Ok(Self {
            raw: raw.to_string(),
            steps,
        })
    }

    /// Writes `value` into a copy of `doc` at this path, creating objects on the way.
    pub fn write(&self, mut doc: Value, value: Value) -> Result<Value, TaskError> {
        if self.steps.is_empty() {
            return Ok(value);
        }
        let fail = || {
            TaskError::new(
                names::RESULT_PATH_MATCH_FAILURE,
                format!(
                    "Unable to apply ResultPath '{}' to the state input",
                    self.raw
                ),
            )
        };
        let mut cur = &mut doc;
        for step in &self.steps {
            cur = match step {
                Step::Field(name) => match cur {
                    Value::Object(map) => map
                        .entry(name.clone())
                        .or_insert_with(|| Value::Object(Map::new())),
                    _ => return Err(fail()),
                },
                Step::Index(i) => match cur {
                    Value::Array(items) => items.get_mut(*i).ok_or_else(fail)?,
                    _ => return Err(fail()),
                },
            };
        }
        *cur = value;
        Ok(doc)
    }
}

fn split_reference(raw: &str) -> Option<Vec<Step>> {
    let chars: Vec<char> = raw.chars().collect();
    if chars.first() != Some(&'$') {
        return None;
    }
    let mut steps = Vec::new();
    let mut i = 1;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && chars[j] != '.' && chars[j] != '[' {
                    j += 1;
                }
                if j == start {
                    return None;
                }
                let name: String = chars[start..j].iter().collect();
                if name == "*" {
                    return None;
                }
                steps.push(Step::Field(name));
                i = j;
            }
            '[' => {
                let q = *chars.get(i + 1)?;
                if q == '\'' || q == '"' {
                    // Verbatim, as in `shorthand_to_brackets`.
                    let (name, next) = raw_name(&chars, i + 2, q)?;
                    if chars.get(next) != Some(&']') {
                        return None;
                    }
                    steps.push(Step::Field(name));
                    i = next + 1;
                } else {
                    let mut j = i + 1;
                    while j < chars.len() && chars[j].is_ascii_digit() {
                        j += 1;
                    }
                    if chars.get(j) != Some(&']') || j == i + 1 {
                        return None;
                    }
                    let idx: String = chars[i + 1..j].iter().collect();
                    steps.push(Step::Index(idx.parse().ok()?));
                    i = j + 1;
                }
            }
            _ => return None,
        }
    }
    Some(steps)
}

/// `InputPath`/`OutputPath`: absent means `$`, `null` means "pass `{}`".
#[derive(Debug, Clone)]
pub enum IoPath {
    Identity,
    Discard,
    Select(Path),
}

impl IoPath {
    pub fn from_field(v: Option<&Value>, field: &str) -> Result<Self, String> {
        match v {
            None => Ok(Self::Identity),
            Some(Value::Null) => Ok(Self::Discard),
            Some(Value::String(s)) if s == "$" => Ok(Self::Identity),
            Some(Value::String(s)) => Path::parse(s).map(Self::Select),
            Some(_) => Err(format!("{field} must be a string or null")),
        }
    }

    pub fn apply(&self, input: Value, ctx: &Context<'_>) -> Result<Value, TaskError> {
        match self {
            Self::Identity => Ok(input),
            Self::Discard => Ok(Value::Object(Map::new())),
            Self::Select(p) => p.select_or_invalid(&input, ctx),
        }
    }
}

/// `ResultPath`: absent means `$` (result replaces input), `null` means "keep the input".
#[derive(Debug, Clone)]
pub enum ResultPath {
    Replace,
    Discard,
    At(ReferencePath),
}

impl ResultPath {
    pub fn from_field(v: Option<&Value>) -> Result<Self, String> {
        match v {
            None => Ok(Self::Replace),
            Some(Value::Null) => Ok(Self::Discard),
            Some(Value::String(s)) if s == "$" => Ok(Self::Replace),
            Some(Value::String(s)) => ReferencePath::parse(s).map(Self::At),
            Some(_) => Err("ResultPath must be a string or null".to_string()),
        }
    }

    pub fn apply(&self, raw_input: Value, result: Value) -> Result<Value, TaskError> {
        match self {
            Self::Replace => Ok(result),
            Self::Discard => Ok(raw_input),
            Self::At(p) => p.write(raw_input, result),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asl::context::fixtures::{ctx, exec};
    use serde_json::json;

    #[test]
    fn singular_and_indefinite_paths() {
        let e = exec();
        let doc = json!({"a": {"b": [1, 2, 3]}, "c d": 4});
        let p = Path::parse("$.a.b[1]").unwrap();
        assert_eq!(p.select(&doc, &ctx(&e), "f").unwrap(), json!(2));
        let p = Path::parse("$.a.b[*]").unwrap();
        assert_eq!(p.select(&doc, &ctx(&e), "f").unwrap(), json!([1, 2, 3]));
        let p = Path::parse("$.c d").unwrap();
        assert_eq!(p.select(&doc, &ctx(&e), "f").unwrap(), json!(4));
        let p = Path::parse("$['c d']").unwrap();
        assert_eq!(p.select(&doc, &ctx(&e), "f").unwrap(), json!(4));
        let p = Path::parse("$.missing").unwrap();
        assert_eq!(
            p.select(&doc, &ctx(&e), "f").unwrap_err().error,
            "States.Runtime"
        );
        let p = Path::parse("$$.Task.Token").unwrap();
        assert_eq!(p.select(&doc, &ctx(&e), "f").unwrap(), json!("tok"));
        assert!(Path::parse("a.b").is_err());
    }

    #[test]
    fn bracket_names_are_verbatim_as_in_aws() {
        let e = exec();
        let doc = json!({"Test\\\"\"Name\"": "v", "a'b": 1});
        let p = Path::parse(r#"$['Test\""Name"']"#).unwrap();
        assert_eq!(p.select(&doc, &ctx(&e), "f").unwrap(), json!("v"));
        let p = Path::parse(r#"$["a'b"]"#).unwrap();
        assert_eq!(p.select(&doc, &ctx(&e), "f").unwrap(), json!(1));
        assert!(Path::parse("$['open").is_err());
    }

    #[test]
    fn missing_paths_in_jayway_words() {
        let e = exec();
        let doc = json!({"a": {"b": 1}});
        let err = |raw: &str| {
            Path::parse(raw)
                .unwrap()
                .select_or_invalid(&doc, &ctx(&e))
                .unwrap_err()
                .cause
        };
        assert_eq!(
            err("$.x"),
            "Invalid path '$.x' : No results for path: $['x']"
        );
        assert_eq!(
            err("$.x.y.z"),
            "Invalid path '$.x.y.z' : Missing property in path $['x']"
        );
        assert_eq!(
            err("$.a.c"),
            "Invalid path '$.a.c' : No results for path: $['a']['c']"
        );
    }

    #[test]
    fn reference_paths_write() {
        let p = ReferencePath::parse("$.x['y z'][1]").unwrap();
        let out = p.write(json!({"x": {"y z": [0, 0]}}), json!(9)).unwrap();
        assert_eq!(out, json!({"x": {"y z": [0, 9]}}));
        let p = ReferencePath::parse("$.new.deep").unwrap();
        assert_eq!(
            p.write(json!({}), json!(1)).unwrap(),
            json!({"new": {"deep": 1}})
        );
        assert!(ReferencePath::parse("$.a[*]").is_err());
        assert!(ReferencePath::parse("$..a").is_err());
    }
}
