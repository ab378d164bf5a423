//! Checks of the plain fields an endpoint stores (names, codes, usernames) before the
//! database sees them, every problem at once: both backends answer the same 422 (PostgreSQL
//! would refuse an over-long code that SQLite stores) and nothing malformed is stored. Form
//! fields of flows are checked by the engine's forms; control characters anywhere are
//! refused at the edge (`edge.rs`) too.

use gradflow_engine::form::FieldError;
use gradflow_engine::ident::{forbidden_char, forbidden_char_message};

use crate::error::{ApiError, ApiResult};

/// Collects the problems of one request's fields.
#[derive(Default)]
pub struct Fields {
    errors: Vec<FieldError>,
}

impl Fields {
    pub fn new() -> Fields {
        Fields::default()
    }

    fn push(&mut self, field: &str, label: &str, code: &str, problem: impl std::fmt::Display) {
        self.errors.push(FieldError {
            field: field.to_string(),
            label: label.to_string(),
            code: code.to_string(),
            message: format!("{label}（{field}）：{problem}"),
        });
    }

    /// A required one-line text of 1 to `max` characters, trimmed.
    pub fn text(&mut self, field: &str, label: &str, value: &str, max: usize) -> String {
        let v = value.trim();
        if v.is_empty() {
            self.push(field, label, "required", "不能为空");
        } else {
            self.check_text(field, label, v, max);
        }
        v.to_string()
    }

    /// An optional one-line text of at most `max` characters, trimmed; blank is absent.
    pub fn opt_text(
        &mut self,
        field: &str,
        label: &str,
        value: Option<&str>,
        max: usize,
    ) -> Option<String> {
        let v = value.map(str::trim).filter(|v| !v.is_empty())?;
        self.check_text(field, label, v, max);
        Some(v.to_string())
    }

    fn check_text(&mut self, field: &str, label: &str, v: &str, max: usize) {
        if let Some((at, c)) = forbidden_char(v) {
            self.push(
                field,
                label,
                "control_character",
                forbidden_char_message(at, c),
            );
        } else if v.contains(['\n', '\r']) {
            self.push(field, label, "line_break", "不能换行");
        } else if v.chars().count() > max {
            self.push(field, label, "too_long", format!("不能超过{max}个字符"));
        }
    }

    /// A required code of exactly `len` ASCII digits.
    pub fn digits(&mut self, field: &str, label: &str, value: &str, len: usize) -> String {
        let v = value.trim();
        if v.len() != len || !v.bytes().all(|b| b.is_ascii_digit()) {
            self.push(field, label, "invalid_format", format!("应为{len}位数字"));
        }
        v.to_string()
    }

    /// An optional code of exactly `len` ASCII digits; blank is absent.
    pub fn opt_digits(
        &mut self,
        field: &str,
        label: &str,
        value: Option<&str>,
        len: usize,
    ) -> Option<String> {
        let v = value.map(str::trim).filter(|v| !v.is_empty())?;
        Some(self.digits(field, label, v, len))
    }

    /// A value that must be one of `allowed` (machine values; the message lists them).
    pub fn one_of(&mut self, field: &str, label: &str, value: &str, allowed: &[&str]) {
        if !allowed.contains(&value) {
            self.push(
                field,
                label,
                "invalid_choice",
                format!("只能是 {}", allowed.join("、")),
            );
        }
    }

    /// A problem found by the caller.
    pub fn problem(
        &mut self,
        field: &str,
        label: &str,
        code: &str,
        problem: impl std::fmt::Display,
    ) {
        self.push(field, label, code, problem);
    }

    /// `Ok` when every field passed, else one 422 listing every problem.
    pub fn finish(self) -> ApiResult<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut f = Fields::new();
        assert_eq!(f.text("name", "名称", "  江苏省 ", 10), "江苏省");
        f.text("empty", "空", "   ", 10);
        f.text("long", "长", &"字".repeat(11), 10);
        f.text("nul", "零", "a\0b", 10);
        f.text("lines", "行", "a\nb", 10);
        f.digits("code", "代码", "123", 2);
        assert_eq!(f.opt_digits("region", "地区", Some(" "), 6), None);
        f.one_of("mode", "方式", "x", &["school", "department_then_school"]);
        let e = f.finish().unwrap_err();
        let codes: Vec<&str> = e.body.errors.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(
            codes,
            [
                "required",
                "too_long",
                "control_character",
                "line_break",
                "invalid_format",
                "invalid_choice"
            ]
        );
        assert_eq!(
            e.body.errors[5].message,
            "方式（mode）：只能是 school、department_then_school"
        );
        assert!(Fields::new().finish().is_ok());
    }
}
