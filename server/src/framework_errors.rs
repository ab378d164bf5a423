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
pub fn shape(
    routes: &Routes,
    id: Option<RouteId>,
    e: poem::Error,
    method: &Method,
    path: &str,
) -> Response {
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
            .and_then(|n| routes.placeholder(id, n))
            .unwrap_or_else(|| p.name.to_string());
        field_error(
            StatusCode::BAD_REQUEST,
            "invalid_path_parameter",
            &name,
            &format!("路径参数 {name} 无效：{}", reason(&p.reason)),
        )
    } else if let Some(p) = e.downcast_ref::<ParseParamError>() {
        if let Some(mut e) = rule_broken(&format!("field `{}` {}", p.name, p.reason)) {
            // A parameter breaking its schema rule is `invalid_<name>` — the codes the
            // handlers' own checks answer (`invalid_page`, `invalid_page_size`,
            // `invalid_initiator`).
            e.body.code = format!("invalid_{}", p.name);
            return e.into_response();
        }
        field_error(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            p.name,
            &format!("参数 {} 无效：{}", p.name, reason(&p.reason)),
        )
    } else if let Some(p) = e.downcast_ref::<ParseRequestPayloadError>() {
        if let Some(e) = rule_broken(&p.reason) {
            return e.into_response();
        }
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
    if let Some(v) = resp.headers().get(header::RETRY_AFTER) {
        out.headers_mut().insert(header::RETRY_AFTER, v.clone());
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

/// A body field that breaks a constraint its schema declares (`field `x` verification failed.
/// maxLength(64)`): 422 `invalid_input` with the field and the rule's code — the same codes
/// the handlers' own checks use (`too_long`, `too_short`, `invalid_format`, `out_of_range`).
fn rule_broken(r: &str) -> Option<ApiError> {
    let (head, rule) = r.split_once("verification failed. ")?;
    let field = named_field(head).unwrap_or("body");
    let number = |prefix: &str| {
        rule.strip_prefix(prefix)
            .and_then(|x| x.split([')', ',']).next())
            .map(str::trim)
    };
    let (code, problem) = if let Some(n) = number("maxLength(") {
        ("too_long", format!("不能超过{n}个字符"))
    } else if let Some(n) = number("minLength(") {
        if n == "1" {
            ("required", "不能为空".to_string())
        } else {
            ("too_short", format!("不能少于{n}个字符"))
        }
    } else if let Some(n) = number("maxItems(") {
        ("too_many", format!("最多{n}项"))
    } else if let Some(n) = number("minItems(") {
        ("too_few", format!("至少{n}项"))
    } else if let Some(n) = number("maximum(") {
        ("out_of_range", format!("不能大于{n}"))
    } else if let Some(n) = number("minimum(") {
        ("out_of_range", format!("不能小于{n}"))
    } else if rule.starts_with("pattern(") {
        ("invalid_format", "格式不对".to_string())
    } else {
        ("invalid_format", format!("不符合要求（{rule}）"))
    };
    Some(ApiError::invalid(vec![FieldError {
        field: field.to_string(),
        label: field.to_string(),
        code: code.to_string(),
        message: format!("{field}：{problem}"),
    }]))
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

/// The served spec's operations by path template (`/api/v1/instances/{id}` → GET, with the
/// query parameters and the JSON body schema it takes), for `Allow`, for naming path
/// parameters, for the route a request's metrics count under and for refusing what an
/// operation does not take. [`Routes::find`] matches a path once per request ([`Access`]
/// keeps the [`RouteId`] in the request for the layers inside).
///
/// [`Access`]: crate::access::Access
#[derive(Debug, Default)]
pub struct Routes {
    routes: Vec<Template>,
    /// The spec's component schemas the body schemas refer to.
    components: serde_json::Value,
}

#[derive(Debug)]
struct Template {
    /// `/api/v1/instances/{id}`.
    name: String,
    segments: Vec<String>,
    /// Placeholders among the segments: the fewer, the more literal the template.
    placeholders: usize,
    /// By method (`GET`).
    ops: std::collections::BTreeMap<String, Operation>,
}

#[derive(Debug, Default)]
struct Operation {
    query: BTreeSet<String>,
    /// The `application/json` request body's schema, if it takes one.
    body: Option<serde_json::Value>,
}

/// One step down a JSON body, for naming where a value is.
enum Step<'a> {
    Field(&'a str),
    Item(usize),
}

/// The template a request's path matched ([`Routes::find`]), kept in the request's
/// extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteId(usize);

impl Routes {
    /// From the OpenAPI document (JSON) the app serves.
    pub fn from_spec(spec: &str) -> Routes {
        let spec: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
        let mut routes = Vec::new();
        for (name, ops) in spec["paths"].as_object().into_iter().flatten() {
            let ops = ops
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(m, _)| matches!(m.as_str(), "get" | "post" | "put" | "patch" | "delete"))
                .map(|(m, op)| {
                    let query = op["parameters"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|p| p["in"] == "query")
                        .filter_map(|p| p["name"].as_str().map(str::to_string))
                        .collect();
                    let body = op["requestBody"]["content"]
                        .as_object()
                        .and_then(|c| c.iter().find(|(t, _)| t.starts_with("application/json")))
                        .map(|(_, c)| c["schema"].clone());
                    (m.to_ascii_uppercase(), Operation { query, body })
                })
                .collect();
            let segments: Vec<String> = name.split('/').map(str::to_string).collect();
            let placeholders = segments.iter().filter(|s| s.starts_with('{')).count();
            routes.push(Template {
                name: name.clone(),
                segments,
                placeholders,
                ops,
            });
        }
        Routes {
            routes,
            components: spec["components"]["schemas"].clone(),
        }
    }

    /// The templates `path` matches.
    fn matching<'a>(&'a self, path: &'a str) -> impl Iterator<Item = (usize, &'a Template)> + 'a {
        let count = path.trim_end_matches('/').split('/').count();
        self.routes.iter().enumerate().filter(move |(_, t)| {
            t.segments.len() == count
                && t.segments
                    .iter()
                    .zip(path.trim_end_matches('/').split('/'))
                    .all(|(t, s)| t == s || t.starts_with('{'))
        })
    }

    /// The template `path` matches, the most literal one when several do
    /// (`/lists/{list}/export` over `/lists/{list}/{id}`).
    pub fn find(&self, path: &str) -> Option<RouteId> {
        self.matching(path)
            .min_by_key(|(_, t)| t.placeholders)
            .map(|(i, _)| RouteId(i))
    }

    /// The template's name (`/api/v1/instances/{id}`).
    pub fn name(&self, id: RouteId) -> &str {
        &self.routes[id.0].name
    }

    fn operation(&self, id: Option<RouteId>, method: &Method) -> Option<&Operation> {
        self.routes[id?.0].ops.get(method.as_str())
    }

    /// The name of the `n`th parameter (from 0) of the template.
    fn placeholder(&self, id: Option<RouteId>, n: usize) -> Option<String> {
        self.routes[id?.0]
            .segments
            .iter()
            .filter(|s| s.starts_with('{'))
            .nth(n)
            .map(|s| s.trim_matches(|c| c == '{' || c == '}').to_string())
    }

    /// The methods served on `path`: those of the template the router takes for it — the
    /// most literal one ([`Routes::find`]), as `POST /employers/register` is not the `GET` of
    /// `/employers/{id}`.
    fn allowed_methods(&self, path: &str) -> BTreeSet<String> {
        self.find(path)
            .map(|id| self.routes[id.0].ops.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Refuses a JSON body whose text field holds a number or a boolean: poem-openapi would
    /// turn `{"name": false}` into the text "false"; the schema says text, so the value must be
    /// a string. 422 `invalid_type` naming the field.
    pub fn check_body_types(
        &self,
        id: Option<RouteId>,
        method: &Method,
        body: &serde_json::Value,
    ) -> Result<(), ApiError> {
        let Some(schema) = self.operation(id, method).and_then(|o| o.body.as_ref()) else {
            return Ok(());
        };
        let mut at = String::new();
        let Some(found) = self.mistyped(schema, body, &mut at, 0) else {
            return Ok(());
        };
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
            return self.mistyped(&self.components[name], value, at, depth + 1);
        }
        // An object's fields (`a.b`) or an array's items (`a[1]`): each child's schema and
        // value, and how it extends the place `at`.
        let children: Box<dyn Iterator<Item = (Step<'_>, &serde_json::Value, &serde_json::Value)>> =
            match (schema["type"].as_str(), value) {
                (Some("string"), V::Bool(_)) => return Some("true/false"),
                (Some("string"), V::Number(_)) => return Some("数字"),
                (_, V::Object(map)) => {
                    let props = schema["properties"].as_object()?;
                    Box::new(
                        map.iter()
                            .filter_map(|(k, v)| Some((Step::Field(k), props.get(k)?, v))),
                    )
                }
                (_, V::Array(items)) => Box::new(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (Step::Item(i), &schema["items"], v)),
                ),
                _ => return None,
            };
        for (step, s, v) in children {
            let len = at.len();
            match step {
                Step::Field(k) if at.is_empty() => at.push_str(k),
                Step::Field(k) => {
                    at.push('.');
                    at.push_str(k);
                }
                Step::Item(i) => at.push_str(&format!("[{i}]")),
            }
            if let Some(f) = self.mistyped(s, v, at, depth + 1) {
                return Some(f);
            }
            at.truncate(len);
        }
        None
    }

    /// Refuses a query parameter the operation does not take (a misspelt `page_size` or a
    /// `sort` it does not have would otherwise be ignored without a word): 400
    /// `unknown_parameter` naming it and what the operation takes. Paths and methods the
    /// spec does not have are left to the framework (404, 405).
    pub fn check_query(
        &self,
        id: Option<RouteId>,
        method: &Method,
        query: Option<&str>,
    ) -> Result<(), ApiError> {
        let (Some(query), Some(op)) = (query, self.operation(id, method)) else {
            return Ok(());
        };
        let known = &op.query;
        let Some((k, _)) =
            form_urlencoded::parse(query.as_bytes()).find(|(k, _)| !known.contains(k.as_ref()))
        else {
            return Ok(());
        };
        let takes = if known.is_empty() {
            "此接口不接受查询参数".to_string()
        } else {
            format!(
                "此接口接受：{}",
                known.iter().cloned().collect::<Vec<_>>().join("、")
            )
        };
        let message = format!("不认识的参数 {k}（{takes}）");
        Err(field_error(
            StatusCode::BAD_REQUEST,
            "unknown_parameter",
            &k,
            &message,
        ))
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
                          "/api/v1/instances/{id}/actions/{action}": {"post": {}},
                          "/api/v1/lists/{list}/{id}": {"get": {}},
                          "/api/v1/lists/{list}/export": {"get": {}},
                          "/api/v1/employers/{id}": {"get": {}, "put": {}},
                          "/api/v1/employers/register": {"post": {}}}}"#,
        );
        // The literal path's methods only, not those of the template it also matches.
        let m = routes.allowed_methods("/api/v1/employers/register");
        assert_eq!(m.into_iter().collect::<Vec<_>>(), ["POST"]);
        let m = routes.allowed_methods("/api/v1/instances/42");
        assert!(m.contains("GET"), "{m:?}");
        assert!(!m.contains("PUT"), "{m:?}");
        assert!(routes.allowed_methods("/nowhere").is_empty());
        let action = routes.find("/api/v1/instances/abc/actions/approve");
        assert_eq!(routes.placeholder(action, 1).as_deref(), Some("action"));
        let export = routes.find("/api/v1/lists/signing/export").unwrap();
        assert_eq!(routes.name(export), "/api/v1/lists/{list}/export");
    }

    #[test]
    fn unknown_query_parameters_are_named() {
        let routes = Routes::from_spec(
            r#"{"paths": {"/api/v1/tasks": {"get": {"parameters": [
                {"name": "page", "in": "query"}, {"name": "page_size", "in": "query"}]}}}}"#,
        );
        let get = Method::GET;
        let tasks = routes.find("/api/v1/tasks");
        assert!(routes
            .check_query(tasks, &get, Some("page=2&page_size=5"))
            .is_ok());
        let e = routes
            .check_query(tasks, &get, Some("page=2&per_page=5"))
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
            .check_query(tasks, &Method::POST, Some("x=1"))
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
        let keys = routes.find("/api/v1/api-keys");
        let check = |v: serde_json::Value| routes.check_body_types(keys, &post, &v);
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
    fn broken_schema_rules_answer_the_handlers_codes() {
        let e = rule_broken(
            "failed to parse \"Login\": field `username` verification failed. maxLength(64)",
        )
        .unwrap();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            (
                e.body.errors[0].field.as_str(),
                e.body.errors[0].code.as_str()
            ),
            ("username", "too_long")
        );
        assert!(
            e.body.message.contains("不能超过64个字符"),
            "{}",
            e.body.message
        );
        let e =
            rule_broken("field `page` verification failed. minimum(1, exclusive: false)").unwrap();
        assert_eq!(e.body.errors[0].code, "out_of_range");
        assert!(e.body.message.contains("不能小于1"), "{}", e.body.message);
        assert!(rule_broken("missing field `x`").is_none());
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
