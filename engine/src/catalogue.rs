//! Catalogues: typed data tables integrators extend without recompiling, one file each in
//! `workflows/catalogues/` (the destination types of the next issues are one).
//!
//! ```yaml
//! catalogue: destination_type        # its name: also a code table of that name
//! title: 毕业去向类别
//! attributes:                         # what every entry carries, with a type
//!   category: {type: text, required: true}
//!   employed: {type: bool, required: true}
//!   invented: {type: bool}             # optional attributes may be left out
//! entries:
//!   - code: "10"
//!     label: 签就业协议形式就业
//!     attributes: {category: 签就业协议形式就业, employed: true}
//!     form:                            # optional: the fields this entry asks for
//!       - {name: employer_name, label: 单位名称, type: text, required: true}
//! ```
//!
//! Attribute types: `text`, `int`, `bool`, `list` (of texts). Every entry is checked against
//! the declaration: unknown or missing attributes and wrong types are errors, as are
//! duplicate codes and empty labels. An entry's form can be the variant of a form keyed by a
//! field whose value is the entry's code (`variants: {by: destination_type, catalogue:
//! destination_type}`, see [`crate::form::Variants`]).

use std::collections::BTreeMap;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::form::{CodeLookup, Field, Form};

/// The type of a catalogue attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttributeKind {
    /// A text.
    Text,
    /// An integer.
    Int,
    /// `true` or `false`.
    Bool,
    /// A list of texts.
    List,
}

/// The declaration of an attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributeDef {
    /// `text`, `int`, `bool` or `list`.
    #[serde(rename = "type")]
    pub kind: AttributeKind,
    /// Every entry must give it.
    #[serde(default)]
    pub required: bool,
    /// What the attribute means (shown in the reference).
    #[serde(default)]
    pub help: Option<String>,
}

/// One entry of a catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The entry's code (unique in the catalogue), as stored and exported.
    pub code: String,
    /// Its label, exactly as the guides write it.
    pub label: String,
    /// Its attribute values, as the catalogue declares them.
    #[serde(default)]
    pub attributes: serde_json::Map<String, Value>,
    /// The fields this entry asks for, when it has a form of its own.
    #[serde(default)]
    pub form: Option<Vec<Field>>,
}

/// A catalogue as written in its file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    /// Its name (the file's stem); also the name of the code table it makes.
    pub catalogue: String,
    /// Its Chinese title.
    pub title: String,
    /// A note for integrators (where the codes come from).
    #[serde(default)]
    pub note: Option<String>,
    /// The attributes every entry carries, with their types.
    #[serde(default)]
    pub attributes: IndexMap<String, AttributeDef>,
    /// The entries, in the order users see them.
    pub entries: Vec<Entry>,
}

impl Catalogue {
    /// The entry with this code.
    pub fn entry(&self, code: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.code == code)
    }

    /// `(code, label)` of every entry, in file order.
    pub fn codes(&self) -> BTreeMap<String, String> {
        self.entries
            .iter()
            .map(|e| (e.code.clone(), e.label.clone()))
            .collect()
    }

    /// Problems of the catalogue (Chinese), each with the text to find its line by.
    pub fn check(&self, tables: &dyn CodeLookup) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let name = &self.catalogue;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            out.push((
                format!("目录名 {name:?} 只能由小写字母、数字和下划线组成"),
                "catalogue:".into(),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for e in &self.entries {
            let at = format!("条目 {}", e.code);
            let needle = format!("code: \"{}\"", e.code);
            if e.code.trim().is_empty() {
                out.push(("条目的 code 不能为空".into(), "code:".into()));
            }
            if !seen.insert(e.code.as_str()) {
                out.push((format!("{at}：code 重复"), needle.clone()));
            }
            if e.label.trim().is_empty() {
                out.push((format!("{at}：label 不能为空"), needle.clone()));
            }
            for (k, v) in &e.attributes {
                match self.attributes.get(k) {
                    None => {
                        let hint =
                            crate::suggest::nearest(k, self.attributes.keys().map(String::as_str))
                                .map(|n| format!("，是否想写 {n}？"))
                                .unwrap_or_default();
                        out.push((format!("{at}：未声明的属性 {k}{hint}"), format!("{k}:")));
                    }
                    Some(d) => {
                        let ok = match d.kind {
                            AttributeKind::Text => v.is_string(),
                            AttributeKind::Int => v.is_i64(),
                            AttributeKind::Bool => v.is_boolean(),
                            AttributeKind::List => {
                                v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
                            }
                        };
                        if !ok {
                            out.push((
                                format!("{at}：属性 {k} 应为 {}", kind_name(d.kind)),
                                format!("{k}:"),
                            ));
                        }
                    }
                }
            }
            for (k, d) in &self.attributes {
                if d.required && !e.attributes.contains_key(k) {
                    out.push((format!("{at}：缺少必填属性 {k}"), needle.clone()));
                }
            }
            if let Some(fields) = &e.form {
                let form = Form::plain(fields.clone());
                for p in form.check(tables) {
                    out.push((format!("{at} 的表单：{p}"), needle.clone()));
                }
            }
        }
        if self.entries.is_empty() {
            out.push(("entries 不能为空".into(), "entries:".into()));
        }
        out
    }
}

fn kind_name(k: AttributeKind) -> &'static str {
    match k {
        AttributeKind::Text => "文本",
        AttributeKind::Int => "整数",
        AttributeKind::Bool => "true 或 false",
        AttributeKind::List => "文本列表",
    }
}
