//! AWS JSON protocol responses for Ferry's local emulators (the Step Functions engine speaks
//! JSON 1.0, the build runner JSON 1.1). One responder, so both answer errors the way the AWS
//! SDKs parse them: `{"__type": …, "message": …}` plus the `x-amzn-errortype` header.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// One AWS JSON protocol version: its content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwsJson {
    content_type: &'static str,
}

/// AWS JSON 1.0 (Step Functions).
pub const JSON_1_0: AwsJson = AwsJson {
    content_type: "application/x-amz-json-1.0",
};
/// AWS JSON 1.1 (CodeBuild).
pub const JSON_1_1: AwsJson = AwsJson {
    content_type: "application/x-amz-json-1.1",
};

impl AwsJson {
    pub fn content_type(&self) -> &'static str {
        self.content_type
    }

    /// A successful response with `body`.
    pub fn ok(&self, body: &Value) -> Response {
        self.with_type(StatusCode::OK, body.to_string().into_response())
    }

    /// An error response. `type_name` is the body's `__type` (some services qualify it with a
    /// namespace); `code` is the bare error code the `x-amzn-errortype` header carries.
    pub fn error(
        &self,
        status: StatusCode,
        type_name: &str,
        code: &str,
        message: &str,
    ) -> Response {
        let body = json!({"__type": type_name, "message": message}).to_string();
        let mut res = self.with_type(status, body.into_response());
        if let Ok(v) = HeaderValue::from_str(code) {
            res.headers_mut().insert("x-amzn-errortype", v);
        }
        res
    }

    fn with_type(&self, status: StatusCode, mut res: Response) -> Response {
        *res.status_mut() = status;
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_type_header_and_status() {
        let res = JSON_1_1.error(StatusCode::BAD_REQUEST, "ns#Nope", "Nope", "no such thing");
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(res.headers()["x-amzn-errortype"], "Nope");
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "application/x-amz-json-1.1"
        );
        let ok = JSON_1_0.ok(&json!({}));
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(
            ok.headers()[header::CONTENT_TYPE],
            "application/x-amz-json-1.0"
        );
    }
}
