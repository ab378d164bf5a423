//! The framework's own refusals in the one error shape.
//!
//! poem and poem-openapi answer some requests before a handler runs — no or a malformed token,
//! a path or query parameter that does not parse, a body that is not the JSON the operation
//! takes, a missing or unsupported `Content-Type`, an unknown path, a method the path does not
//! take — with English `text/plain`. [`shape`] turns each into `{code, message, errors}` with a
//! stable code and a Chinese message naming the parameter or field, like every other error;
//! a 405 also gets the `Allow` header, from the served spec.
//!
//! The shape stays `application/json` rather than RFC 9457's `application/problem+json`: the
//! spec documents every error response as `application/json` with this schema, and clients
//! generated from it (and the README's) read that media type; `type`/`title` would duplicate
//! `code`/`message`.

use std::collections::BTreeSet;

use gradflow_engine::form::FieldError;
use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::{IntoResponse, Response};
use poem_openapi::error::{
    AuthorizationError, ContentTypeError, ParseMultipartError, ParseParamError, ParsePathError,
    ParseRequestPayloadError,
};

use crate::error::ApiError;

/// The response for an error raised before (or instead of) a handler's own answer.
pub fn shape(routes: &Routes, e: poem::Error, method: &Method, path: &str) -> Response {
    if e.is::<ApiError>() {
        return e.into_response();
    }
    let err = if e.is::<AuthorizationError>() {
        ApiError::unauthorized()
    } else if let Some(p) = e.downcast_ref::<ParsePathError>() {
        // A destructured parameter is `paramN` to the framework: the spec's name instead.
        let name = p
            .name
            .strip_prefix("param")
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| routes.placeholder(path, n))
            .unwrap_or_else(|| p.name.to_string());
        field_error(
            StatusCode::BAD_REQUEST,
            "invalid_path_parameter",
            &name,
            &format!("路径参数 {name} 无效：{}", reason(&p.reason)),
        )
    } else if let Some(p) = e.downcast_ref::<ParseParamError>() {
        field_error(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            p.name,
            &format!("参数 {} 无效：{}", p.name, reason(&p.reason)),
        )
    } else if let Some(p) = e.downcast_ref::<ParseRequestPayloadError>() {
        let field = named_field(&p.reason).unwrap_or("body");
        field_error(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            field,
            &format!("请求内容不符合接口要求：{}", reason(&p.reason)),
        )
    } else if let Some(p) = e.downcast_ref::<ParseMultipartError>() {
        ApiError::bad_request(
            "invalid_multipart",
            format!("表单内容无法解析：{}", p.reason),
        )
    } else if let Some(c) = e.downcast_ref::<ContentTypeError>() {
        let message = match c {
            ContentTypeError::NotSupported { content_type } => {
                format!("不支持的请求内容类型 {content_type}：请按接口说明发送（通常为 application/json）")
            }
            ContentTypeError::ExpectContentType => {
                "请求缺少 Content-Type：请按接口说明发送（通常为 application/json）".to_string()
            }
        };
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    } else {
        by_status(routes, e.status(), method, path)
    };
    let mut resp = err.into_response();
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
        allow(routes, &mut resp, path);
    }
    resp
}

/// A response that is an error but not in the shape (a plain-text one from the framework):
/// replaced by the shape for its status; others (JSON, HTML) are returned as they are.
pub fn reshape(routes: &Routes, resp: Response, method: &Method, path: &str) -> Response {
    let status = resp.status();
    // Plain text (the framework's) or nothing; a JSON or HTML answer is a handler's own.
    let plain = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("text/plain"));
    if status.as_u16() < 400 || !plain {
        return resp;
    }
    let mut out = by_status(routes, status, method, path).into_response();
    for name in [header::RETRY_AFTER, header::ALLOW] {
        if let Some(v) = resp.headers().get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    if status == StatusCode::METHOD_NOT_ALLOWED {
        allow(routes, &mut out, path);
    }
    out
}

fn by_status(routes: &Routes, status: StatusCode, method: &Method, path: &str) -> ApiError {
    let (code, message) = match status {
        StatusCode::NOT_FOUND => ("not_found", format!("接口不存在：{method} {path}")),
        StatusCode::METHOD_NOT_ALLOWED => {
            let allowed = routes.allowed_methods(path);
            (
                "method_not_allowed",
                format!(
                    "此接口不支持 {method} 方法{}",
                    if allowed.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "（支持：{}）",
                            allowed.into_iter().collect::<Vec<_>>().join("、")
                        )
                    }
                ),
            )
        }
        StatusCode::UNAUTHORIZED => return ApiError::unauthorized(),
        StatusCode::PAYLOAD_TOO_LARGE => ("body_too_large", "请求内容过大".to_string()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "不支持的请求内容类型：请按接口说明发送".to_string(),
        ),
        StatusCode::TOO_MANY_REQUESTS => {
            ("too_many_requests", "请求过于频繁，请稍后再试".to_string())
        }
        StatusCode::SERVICE_UNAVAILABLE => ("unavailable", "服务暂不可用，请稍后再试".to_string()),
        s if s.is_server_error() => ("internal", "服务器内部错误，请稍后再试".to_string()),
        s => ("bad_request", format!("请求无效（HTTP {}）", s.as_u16())),
    };
    ApiError::new(status, code, message)
}

fn field_error(status: StatusCode, code: &str, field: &str, message: &str) -> ApiError {
    let mut e = ApiError::new(status, code, message);
    e.body.errors.push(FieldError {
        field: field.to_string(),
        label: field.to_string(),
        code: code.to_string(),
        message: message.to_string(),
    });
    e
}

/// The framework's English reason with its most common phrasings in Chinese.
fn reason(r: &str) -> String {
    let r = r.trim();
    if let Some(f) = r
        .strip_prefix("missing field `")
        .and_then(|x| x.split('`').next())
    {
        return format!("缺少字段 {f}");
    }
    if let Some(f) = r
        .strip_prefix("unknown field `")
        .and_then(|x| x.split('`').next())
    {
        return format!("不认识的字段 {f}");
    }
    if r.contains("invalid digit")
        || r.contains("invalid integer")
        || r.contains("number too large")
    {
        return "应为整数".to_string();
    }
    if r.starts_with("expected value")
        || r.contains("EOF while parsing")
        || r.contains("key must be a string")
    {
        return format!("不是有效的 JSON（{r}）");
    }
    if r.contains("missing") || r.contains("required") {
        return format!("缺少必填项（{r}）");
    }
    format!("格式不对（{r}）")
}

/// The field a JSON error names (`missing field `x``, `failed to parse "x"`), if any.
fn named_field(r: &str) -> Option<&str> {
    let start = r.find('`')? + 1;
    let len = r[start..].find('`')?;
    let f = &r[start..start + len];
    (!f.is_empty() && f.len() <= 64 && f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then_some(f)
}

/// The served spec's path templates with their methods (`/api/v1/instances/{id}` → GET),
/// for `Allow` and for naming path parameters.
#[derive(Debug, Default)]
pub struct Routes(Vec<(Vec<String>, Methods)>, Bodies);

/// A path template's methods, each with the query parameters it takes.
type Methods = std::collections::BTreeMap<String, BTreeSet<String>>;

/// The JSON request body schemas by (method, template), and the spec's component schemas
/// they refer to.
#[derive(Debug, Default)]
struct Bodies {
    by_op: std::collections::BTreeMap<(String, String), serde_json::Value>,
    components: serde_json::Value,
}

impl Routes {
    /// From the OpenAPI document (JSON) the app serves.
    pub fn from_spec(spec: &str) -> Routes {
        let spec: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
        let mut out = Vec::new();
        let mut bodies = Bodies::default();
        if let Some(paths) = spec["paths"].as_object() {
            for (template, ops) in paths {
                let methods: Methods = ops
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .filter(|(m, _)| {
                                matches!(m.as_str(), "get" | "post" | "put" | "patch" | "delete")
                            })
                            .map(|(m, op)| {
                                let query = op["parameters"]
                                    .as_array()
                                    .into_iter()
                                    .flatten()
                                    .filter(|p| p["in"] == "query")
                                    .filter_map(|p| p["name"].as_str().map(str::to_string))
                                    .collect();
                                (m.to_ascii_uppercase(), query)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push((template.split('/').map(str::to_string).collect(), methods));
                for (m, op) in ops.as_object().into_iter().flatten() {
                    let json = op["requestBody"]["content"]
                        .as_object()
                        .and_then(|c| c.iter().find(|(t, _)| t.starts_with("application/json")))
                        .map(|(_, c)| c["schema"].clone());
                    if let Some(schema) = json {
                        bodies
                            .by_op
                            .insert((m.to_ascii_uppercase(), template.clone()), schema);
                    }
                }
            }
        }
        bodies.components = spec["components"]["schemas"].clone();
        Routes(out, bodies)
    }

    /// The templates `path` matches.
    fn templates<'a>(
        &'a self,
        path: &str,
    ) -> impl Iterator<Item = &'a (Vec<String>, Methods)> + 'a {
        let segs: Vec<String> = path
            .trim_end_matches('/')
            .split('/')
            .map(str::to_string)
            .collect();
        self.0.iter().filter(move |(t, _)| {
            t.len() == segs.len()
                && t.iter()
                    .zip(&segs)
                    .all(|(t, s)| t == s || (t.starts_with('{') && t.ends_with('}')))
        })
    }

    /// The name of the `n`th parameter (from 0) in the template `path` matches.
    fn placeholder(&self, path: &str, n: usize) -> Option<String> {
        let (t, _) = self
            .templates(path)
            .min_by_key(|(t, _)| t.iter().filter(|s| s.starts_with('{')).count())?;
        t.iter()
            .filter(|s| s.starts_with('{'))
            .nth(n)
            .map(|s| s.trim_matches(|c| c == '{' || c == '}').to_string())
    }

    /// The template `path` matches (`/api/v1/instances/{id}`), if any.
    /// The most literal one wins: `/lists/{list}/export` over `/lists/{list}/{id}`.
    pub fn template(&self, path: &str) -> Option<String> {
        self.templates(path)
            .min_by_key(|(t, _)| t.iter().filter(|s| s.starts_with('{')).count())
            .map(|(t, _)| t.join("/"))
    }

    /// The methods served on `path` (every template it matches).
    fn allowed_methods(&self, path: &str) -> BTreeSet<String> {
        self.templates(path)
            .flat_map(|(_, m)| m.keys().cloned())
            .collect()
    }

    /// The query parameters the operation at `method path` takes; `None` when the spec has
    /// no such operation (the framework answers 404 or 405 then).
    fn query_params(&self, method: &Method, path: &str) -> Option<&BTreeSet<String>> {
        self.templates(path)
            .filter_map(|(t, m)| Some((t, m.get(method.as_str())?)))
            .min_by_key(|(t, _)| t.iter().filter(|s| s.starts_with('{')).count())
            .map(|(_, q)| q)
    }

    /// Refuses a JSON body whose text field holds a number or a boolean: poem-openapi would
    /// turn `{"name": false}` into the text "false"; the schema says text, so the value must be
    /// a string. 422 `invalid_type` naming the field.
    pub fn check_body_types(
        &self,
        method: &Method,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(), ApiError> {
        let Some(template) = self.template(path) else {
            return Ok(());
        };
        let Some(schema) = self.1.by_op.get(&(method.as_str().to_string(), template)) else {
            return Ok(());
        };
        let mut at = String::new();
        match self.mistyped(schema, body, &mut at, 0) {
            Some(found) => {
                let field = if at.is_empty() {
                    "body".to_string()
                } else {
                    at
                };
                let message = format!("{field}：应为文本（用引号括起的字符串），不能是{found}");
                Err(field_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_type",
                    &field,
                    &message,
                ))
            }
            None => Ok(()),
        }
    }

    /// The first place where `value` is a number or boolean and `schema` says string.
    fn mistyped(
        &self,
        schema: &serde_json::Value,
        value: &serde_json::Value,
        at: &mut String,
        depth: usize,
    ) -> Option<&'static str> {
        use serde_json::Value as V;
        if depth > 32 {
            return None;
        }
        if let Some(r) = schema["$ref"].as_str() {
            let name = r.strip_prefix("#/components/schemas/")?;
            return self.mistyped(&self.1.components[name], value, at, depth + 1);
        }
        match (schema["type"].as_str(), value) {
            (Some("string"), V::Bool(_)) => Some("true/false"),
            (Some("string"), V::Number(_)) => Some("数字"),
            (_, V::Object(map)) => {
                let props = schema["properties"].as_object()?;
                for (k, v) in map {
                    let Some(s) = props.get(k) else { continue };
                    let len = at.len();
                    if !at.is_empty() {
                        at.push('.');
                    }
                    at.push_str(k);
                    if let Some(f) = self.mistyped(s, v, at, depth + 1) {
                        return Some(f);
                    }
                    at.truncate(len);
                }
                None
            }
            (_, V::Array(items)) => {
                let s = &schema["items"];
                for (i, v) in items.iter().enumerate() {
                    let len = at.len();
                    at.push_str(&format!("[{i}]"));
                    if let Some(f) = self.mistyped(s, v, at, depth + 1) {
                        return Some(f);
                    }
                    at.truncate(len);
                }
                None
            }
            _ => None,
        }
    }

    /// Refuses a query parameter the operation does not take (a misspelt `page_size` or a
    /// `sort` it does not have would otherwise be ignored without a word): 400
    /// `unknown_parameter` naming it and what the operation takes.
    pub fn check_query(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
    ) -> Result<(), ApiError> {
        let (Some(query), Some(known)) = (query, self.query_params(method, path)) else {
            return Ok(());
        };
        for (k, _) in form_urlencoded::parse(query.as_bytes()) {
            if !known.contains(k.as_ref()) {
                let takes = if known.is_empty() {
                    "此接口不接受查询参数".to_string()
                } else {
                    format!(
                        "此接口接受：{}",
                        known.iter().cloned().collect::<Vec<_>>().join("、")
                    )
                };
                let message = format!("不认识的参数 {k}（{takes}）");
                return Err(field_error(
                    StatusCode::BAD_REQUEST,
                    "unknown_parameter",
                    &k,
                    &message,
                ));
            }
        }
        Ok(())
    }
}

fn allow(routes: &Routes, resp: &mut Response, path: &str) {
    let methods = routes.allowed_methods(path);
    if methods.is_empty() {
        return;
    }
    let list = methods.into_iter().collect::<Vec<_>>().join(", ");
    if let Ok(v) = HeaderValue::from_str(&list) {
        resp.headers_mut().insert(header::ALLOW, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_methods_come_from_the_spec() {
        let routes = Routes::from_spec(
            r#"{"paths": {"/api/v1/instances/{id}": {"get": {}, "parameters": []},
                          "/api/v1/instances/{id}/actions/{action}": {"post": {}}}}"#,
        );
        let m = routes.allowed_methods("/api/v1/instances/42");
        assert!(m.contains("GET"), "{m:?}");
        assert!(!m.contains("PUT"), "{m:?}");
        assert!(routes.allowed_methods("/nowhere").is_empty());
        assert_eq!(
            routes
                .placeholder("/api/v1/instances/abc/actions/approve", 1)
                .as_deref(),
            Some("action")
        );
    }

    #[test]
    fn unknown_query_parameters_are_named() {
        let routes = Routes::from_spec(
            r#"{"paths": {"/api/v1/tasks": {"get": {"parameters": [
                {"name": "page", "in": "query"}, {"name": "page_size", "in": "query"}]}}}}"#,
        );
        let get = Method::GET;
        assert!(routes
            .check_query(&get, "/api/v1/tasks", Some("page=2&page_size=5"))
            .is_ok());
        let e = routes
            .check_query(&get, "/api/v1/tasks", Some("page=2&per_page=5"))
            .unwrap_err();
        assert_eq!(e.body.code, "unknown_parameter");
        assert_eq!(e.body.errors[0].field, "per_page");
        assert!(
            e.body.message.contains("page、page_size"),
            "{}",
            e.body.message
        );
        // Not an operation of the spec: left to the framework.
        assert!(routes
            .check_query(&Method::POST, "/api/v1/tasks", Some("x=1"))
            .is_ok());
    }

    #[test]
    fn text_fields_take_only_strings() {
        let routes = Routes::from_spec(
            r##"{"paths": {"/api/v1/api-keys": {"post": {"requestBody": {"content": {
                "application/json; charset=utf-8": {"schema": {"$ref": "#/components/schemas/K"}}}}}}},
               "components": {"schemas": {"K": {"type": "object", "properties": {
                "name": {"type": "string"}, "school_id": {"type": "integer"},
                "tags": {"type": "array", "items": {"type": "string"}}}}}}}"##,
        );
        let post = Method::POST;
        let check = |v: serde_json::Value| routes.check_body_types(&post, "/api/v1/api-keys", &v);
        assert!(check(serde_json::json!({"name": "x", "school_id": 3})).is_ok());
        let e = check(serde_json::json!({"name": false})).unwrap_err();
        assert_eq!(
            (e.body.code.as_str(), e.body.errors[0].field.as_str()),
            ("invalid_type", "name")
        );
        let e = check(serde_json::json!({"name": "x", "tags": ["a", 7]})).unwrap_err();
        assert_eq!(e.body.errors[0].field, "tags[1]");
    }

    #[test]
    fn reasons_read_in_chinese() {
        assert_eq!(
            reason("missing field `graduate_id`"),
            "缺少字段 graduate_id"
        );
        assert_eq!(
            named_field("missing field `graduate_id`"),
            Some("graduate_id")
        );
        assert!(reason("expected value at line 1 column 1").starts_with("不是有效的 JSON"));
    }
}
