//! Payload templates (`Parameters`, `ResultSelector`, `ItemSelector`): literal JSON whose
//! `"key.$"` fields are paths or intrinsic functions, compiled once and evaluated per state.

use serde_json::{Map, Value};

use crate::asl::context::Context;
use crate::asl::intrinsics::Intrinsic;
use crate::asl::paths::Path;
use crate::error::TaskError;

/// A payload template: literal JSON whose `"key.$"` fields are evaluated.
#[derive(Debug, Clone)]
pub enum Template {
    Literal(Value),
    Path(Path),
    Intrinsic(Box<Intrinsic>),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
}

impl Template {
    pub fn compile(v: &Value) -> Result<Self, String> {
        match v {
            Value::Object(map) => {
                let mut fields = Vec::with_capacity(map.len());
                let mut dynamic = false;
                for (k, v) in map {
                    if let Some(name) = k.strip_suffix(".$") {
                        // AWS's words, whatever was wrong with the expression.
                        let invalid = || {
                            format!("The value for the field '{k}' must be a valid JSONPath or a valid intrinsic function call")
                        };
                        let Value::String(expr) = v else {
                            return Err(invalid());
                        };
                        let t = Self::compile_expression(expr).map_err(|_| invalid())?;
                        if map.contains_key(name) {
                            return Err(format!("fields '{name}' and '{k}' both appear"));
                        }
                        fields.push((name.to_string(), t));
                        dynamic = true;
                    } else {
                        let t = Self::compile(v)?;
                        dynamic |= !matches!(t, Self::Literal(_));
                        fields.push((k.clone(), t));
                    }
                }
                Ok(if dynamic {
                    Self::Object(fields)
                } else {
                    Self::Literal(v.clone())
                })
            }
            Value::Array(items) => {
                let ts = items
                    .iter()
                    .map(Self::compile)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(if ts.iter().all(|t| matches!(t, Self::Literal(_))) {
                    Self::Literal(v.clone())
                } else {
                    Self::Array(ts)
                })
            }
            other => Ok(Self::Literal(other.clone())),
        }
    }

    /// A `.$` value: a path (`$…`, `$$…`) or an intrinsic function (`States.…(…)`).
    pub fn compile_expression(expr: &str) -> Result<Self, String> {
        if expr.starts_with('$') {
            Path::parse(expr).map(Self::Path)
        } else if expr.starts_with("States.") {
            Intrinsic::parse(expr).map(|i| Self::Intrinsic(Box::new(i)))
        } else {
            Err(format!(
                "'{expr}' is neither a JSONPath nor an intrinsic function"
            ))
        }
    }

    pub fn eval(&self, input: &Value, ctx: &Context<'_>) -> Result<Value, TaskError> {
        self.eval_field(input, ctx, "Parameters")
    }

    /// Evaluates with `field` named in a path failure (`ErrorPath`, `CausePath`, …).
    pub fn eval_field(
        &self,
        input: &Value,
        ctx: &Context<'_>,
        field: &str,
    ) -> Result<Value, TaskError> {
        match self {
            Self::Literal(v) => Ok(v.clone()),
            Self::Path(p) => p.select(input, ctx, field),
            Self::Intrinsic(f) => f.eval(input, ctx),
            Self::Object(fields) => {
                let mut out = Map::with_capacity(fields.len());
                for (k, t) in fields {
                    let name = match t {
                        Self::Path(_) | Self::Intrinsic(_) => format!("{k}.$"),
                        _ => k.clone(),
                    };
                    out.insert(k.clone(), t.eval_field(input, ctx, &name)?);
                }
                Ok(Value::Object(out))
            }
            Self::Array(items) => items
                .iter()
                .map(|t| t.eval_field(input, ctx, field))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asl::context::fixtures::{ctx, exec};
    use serde_json::json;

    #[test]
    fn templates() {
        let e = exec();
        let t = Template::compile(&json!({"a.$": "$.v", "b": [{"c.$": "$$.State.Name"}], "d": 1}))
            .unwrap();
        let out = t.eval(&json!({"v": "x"}), &ctx(&e)).unwrap();
        assert_eq!(out, json!({"a": "x", "b": [{"c": "S"}], "d": 1}));
        assert!(Template::compile(&json!({"a.$": "nope"})).is_err());
    }
}
