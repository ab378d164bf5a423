//! Typed forms: field declarations from workflow YAML, input validation and normalisation,
//! static checks of the declaration, and a JSON Schema for clients.
//!
//! A form is declared as a YAML sequence of fields:
//!
//! ```yaml
//! - {name: position, label: 岗位名称, type: text, max: 50, required: true}
//! - {name: job_category, label: 职位类别, type: code, table: job_category, required: true}
//! - {name: mobile, label: 单位联系人手机, type: mobile, required_unless: landline}
//! - {name: proof, label: 证明材料, type: file, accept: [png, jpg], required_if: {field: reason, in: [单位原因]}}
//! ```
//!
//! Unknown keys, unknown types and attributes that do not belong to the field's type are
//! deserialisation errors, so typos in YAML are caught at load time. [`Form::check`] then finds
//! problems that need context (code tables, references between fields).
//!
//! [`Form::validate`] checks an input object against the form, collecting *all* field errors,
//! and returns normalised values (see [`Validated`]). Identifier types use [`crate::ident`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::ident::{
    CandidateNo, CreditCode, Email, IdNumber, IdentError, Landline, Mobile, PostalCode, RegionCode,
};

// ---------------------------------------------------------------------------------------------
// Declarations.

/// The type of a field, with its type-specific attributes; tagged by `type` in YAML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum FieldKind {
    /// Free text; `max` counts Unicode characters; `multiline` is a rendering hint.
    Text {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<usize>,
        #[serde(default)]
        multiline: bool,
    },
    /// A code from the named code table (`workflows/codes/<table>.yaml`).
    Code { table: String },
    /// A calendar date `YYYY-MM-DD`.
    Date,
    /// A non-negative amount with at most two decimals; normalised to a string like `"3000.00"`.
    Money,
    /// A GB/T 2260 region code, checked against the region list when one is loaded.
    Region,
    /// A unified social credit code; a bad check character only warns.
    CreditCode,
    /// A resident ID number.
    IdNumber,
    /// A 14-digit candidate number.
    CandidateNo,
    /// A mobile number.
    Mobile,
    /// A landline number.
    Landline,
    /// A mobile or landline number.
    Phone,
    /// A 6-digit postal code.
    PostalCode,
    /// An e-mail address.
    Email,
    /// An integer within optional bounds.
    Int {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<i64>,
    },
    /// `true` or `false`.
    Bool,
    /// One of a fixed list of options.
    Choice { options: Vec<String> },
    /// An upload id (the server checks the upload itself against `accept` and `max_kb`).
    File {
        #[serde(default)]
        accept: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_kb: Option<u64>,
    },
}

const KIND_NAMES: &[&str] = &[
    "text",
    "code",
    "date",
    "money",
    "region",
    "credit_code",
    "id_number",
    "candidate_no",
    "mobile",
    "landline",
    "phone",
    "postal_code",
    "email",
    "int",
    "bool",
    "choice",
    "file",
];

impl FieldKind {
    /// The YAML `type` name of this kind.
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldKind::Text { .. } => "text",
            FieldKind::Code { .. } => "code",
            FieldKind::Date => "date",
            FieldKind::Money => "money",
            FieldKind::Region => "region",
            FieldKind::CreditCode => "credit_code",
            FieldKind::IdNumber => "id_number",
            FieldKind::CandidateNo => "candidate_no",
            FieldKind::Mobile => "mobile",
            FieldKind::Landline => "landline",
            FieldKind::Phone => "phone",
            FieldKind::PostalCode => "postal_code",
            FieldKind::Email => "email",
            FieldKind::Int { .. } => "int",
            FieldKind::Bool => "bool",
            FieldKind::Choice { .. } => "choice",
            FieldKind::File { .. } => "file",
        }
    }
}

/// `required_if`: the field is required when field `field`'s value is one of `values`
/// (YAML key `in`). Values are compared after normalising them like the other field's input,
/// so `in: [3000]` matches a money field normalised to `"3000.00"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The other field.
    pub field: String,
    /// Its values that make this field required.
    #[serde(rename = "in")]
    pub values: Vec<Value>,
}

/// One form field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "RawField")]
pub struct Field {
    pub name: String,
    pub label: String,
    #[serde(flatten)]
    pub kind: FieldKind,
    /// Required unconditionally.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// Required when the named other field is absent ("fill at least one of the two").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_unless: Option<String>,
    /// Required when another field's value is in a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_if: Option<Condition>,
    /// Help text shown under the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// The value the field takes from a fact when the input leaves it empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<FieldDefault>,
}

/// A field's default from the facts: when `when` holds (or always) and the input leaves the
/// field empty, it takes the fact's value (e.g. the origin region of 转回生源地). A client shows
/// it prefilled; the server fills it when it is left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldDefault {
    /// The fact path (`graduate.origin_region`).
    pub fact: String,
    /// Only when another field's value is in a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
}

/// The YAML shape of a field: every possible key, unknown keys rejected. Converted into
/// [`Field`] with per-type checks of which attributes are allowed.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawField {
    /// The field's name: the key in the input and in `vars`.
    name: String,
    /// The field's Chinese label, as the guides write it; error messages name it.
    label: String,
    /// The field type (see the field types below).
    #[serde(rename = "type")]
    kind: String,
    /// The field must be filled.
    #[serde(default)]
    required: bool,
    /// Required unless the named other field is filled ("fill at least one of the two").
    #[serde(default)]
    required_unless: Option<String>,
    /// Required when another field's value is in a list.
    #[serde(default)]
    required_if: Option<Condition>,
    /// Help text shown under the field.
    #[serde(default)]
    help: Option<String>,
    /// The value taken from a fact when the input leaves the field empty (`fact`, optionally
    /// `when` another field's value is in a list).
    #[serde(default)]
    default: Option<FieldDefault>,
    /// `text`: at most this many characters; `int`: the largest value.
    #[serde(default)]
    max: Option<i64>,
    /// `int`: the smallest value.
    #[serde(default)]
    min: Option<i64>,
    /// `text`: shown as a text area.
    #[serde(default)]
    multiline: Option<bool>,
    /// `code`: the code table or catalogue the code comes from.
    #[serde(default)]
    table: Option<String>,
    /// `choice`: the options, as users read them.
    #[serde(default)]
    options: Option<Vec<String>>,
    /// `file`: the accepted kinds (`png`, `jpg`, `pdf`, `zip`…), checked by content.
    #[serde(default)]
    accept: Option<Vec<String>>,
    /// `file`: the largest upload in KB.
    #[serde(default)]
    max_kb: Option<u64>,
}

impl TryFrom<RawField> for Field {
    type Error = String;

    fn try_from(r: RawField) -> Result<Field, String> {
        let name = r.name.clone();
        let t = r.kind.as_str();
        if !KIND_NAMES.contains(&t) {
            return Err(format!(
                "字段 {name}：未知类型 {t}（可用类型：{}）",
                KIND_NAMES.join("、")
            ));
        }
        let allowed: &[&str] = match t {
            "text" => &["max", "multiline"],
            "code" => &["table"],
            "int" => &["min", "max"],
            "choice" => &["options"],
            "file" => &["accept", "max_kb"],
            _ => &[],
        };
        let present = [
            ("max", r.max.is_some()),
            ("min", r.min.is_some()),
            ("multiline", r.multiline.is_some()),
            ("table", r.table.is_some()),
            ("options", r.options.is_some()),
            ("accept", r.accept.is_some()),
            ("max_kb", r.max_kb.is_some()),
        ];
        for (key, is_present) in present {
            if is_present && !allowed.contains(&key) {
                return Err(format!("字段 {name}：类型 {t} 不支持属性 {key}"));
            }
        }
        let missing = |key: &str| format!("字段 {name}：类型 {t} 必须指定 {key}");
        let kind = match t {
            "text" => FieldKind::Text {
                max: match r.max {
                    None => None,
                    Some(m) => Some(
                        usize::try_from(m).map_err(|_| format!("字段 {name}：max 不能为负数"))?,
                    ),
                },
                multiline: r.multiline.unwrap_or(false),
            },
            "code" => FieldKind::Code {
                table: r.table.ok_or_else(|| missing("table"))?,
            },
            "date" => FieldKind::Date,
            "money" => FieldKind::Money,
            "region" => FieldKind::Region,
            "credit_code" => FieldKind::CreditCode,
            "id_number" => FieldKind::IdNumber,
            "candidate_no" => FieldKind::CandidateNo,
            "mobile" => FieldKind::Mobile,
            "landline" => FieldKind::Landline,
            "phone" => FieldKind::Phone,
            "postal_code" => FieldKind::PostalCode,
            "email" => FieldKind::Email,
            "int" => FieldKind::Int {
                min: r.min,
                max: r.max,
            },
            "bool" => FieldKind::Bool,
            "choice" => FieldKind::Choice {
                options: r.options.ok_or_else(|| missing("options"))?,
            },
            _ => FieldKind::File {
                accept: r.accept.unwrap_or_default(),
                max_kb: r.max_kb,
            },
        };
        Ok(Field {
            name: r.name,
            label: r.label,
            kind,
            required: r.required,
            required_unless: r.required_unless,
            required_if: r.required_if,
            help: r.help,
            default: r.default,
        })
    }
}

/// A form: an ordered list of fields (a YAML sequence), or — when what is asked depends on
/// one answer — common fields plus **variants keyed by a field**:
///
/// ```yaml
/// destination:
///   fields:
///     - {name: destination_type, label: 毕业去向, type: code, table: destination_type, required: true}
///   variants:
///     by: destination_type          # a code or choice field of `fields`
///     catalogue: destination_type   # variant fields from the catalogue entries' `form`…
///     forms:                        # …and/or written here, per value
///       "46": [{name: school_name, label: 升学院校, type: text, required: true}]
/// ```
///
/// Input is validated against the common fields plus the fields of the variant its `by`
/// field selects (a value without a variant asks for the common fields only); the JSON
/// Schema is a `oneOf` with a `discriminator`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Form {
    pub fields: Vec<Field>,
    pub variants: Option<Variants>,
}

/// The variants of a form (see [`Form`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Variants {
    /// The common field whose value selects the variant.
    pub by: String,
    /// A catalogue whose entries' forms are variants (by entry code); filled in at load.
    #[serde(default)]
    pub catalogue: Option<String>,
    /// Variant fields by value of `by`.
    #[serde(default)]
    pub forms: BTreeMap<String, Vec<Field>>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct KeyedForm {
    /// The fields every variant asks for, the `by` field among them.
    fields: Vec<Field>,
    /// Which further fields each value of `by` asks for.
    variants: Variants,
}

impl Serialize for Form {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.variants {
            None => self.fields.serialize(s),
            Some(v) => KeyedForm {
                fields: self.fields.clone(),
                variants: v.clone(),
            }
            .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Form {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Form;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("字段列表，或 {fields: [...], variants: {...}}")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Form, A::Error> {
                let fields =
                    Vec::<Field>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Form::plain(fields))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Form, A::Error> {
                let k = KeyedForm::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Form {
                    fields: k.fields,
                    variants: Some(k.variants),
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Form {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Form".into()
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let fields = g.subschema_for::<Vec<Field>>();
        let keyed = g.subschema_for::<KeyedForm>();
        schemars::json_schema!({
            "description": "A list of fields, or common fields plus variants keyed by one of them.",
            "anyOf": [fields, keyed],
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Code tables.

/// Read access to code tables and the region list.
pub trait CodeLookup: Sync {
    /// The label of `code` in `table`, `None` if the table or the code does not exist.
    fn label(&self, table: &str, code: &str) -> Option<String>;
    /// Whether a table of that name is loaded.
    fn has_table(&self, table: &str) -> bool;
    /// Whether a region code is known; `None` when no region list is loaded.
    fn region_known(&self, code: &str) -> Option<bool>;
    /// All `(code, label)` pairs of a table, in code order; empty if the table is unknown.
    fn table_entries(&self, table: &str) -> Vec<(String, String)>;
    /// The name of a region listed exactly, if a region list is loaded and contains it.
    fn region_name(&self, _code: &str) -> Option<String> {
        None
    }
}

/// In-memory code tables: `table → code → label`, plus an optional region list
/// `code → name`.
///
/// Region rule: a 6-digit code is known if it is in the list, or if its prefecture code
/// (first 4 digits + `00`) or its province code (first 2 digits + `0000`) is. A list that
/// only goes down to prefecture or province level therefore accepts every code below
/// those entries; a full county-level list is checked exactly for its missing parents.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CodeTables {
    pub tables: BTreeMap<String, BTreeMap<String, String>>,
    pub regions: Option<BTreeMap<String, String>>,
}

impl CodeTables {
    pub fn new(
        tables: BTreeMap<String, BTreeMap<String, String>>,
        regions: Option<BTreeMap<String, String>>,
    ) -> CodeTables {
        CodeTables { tables, regions }
    }

    /// The label of `code` in `table` (inherent, so callers need not import [`CodeLookup`]).
    pub fn label(&self, table: &str, code: &str) -> Option<String> {
        self.tables.get(table)?.get(code).cloned()
    }

    /// See the region rule on the type.
    pub fn region_known(&self, code: &str) -> Option<bool> {
        let regions = self.regions.as_ref()?;
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Some(false);
        }
        if regions.contains_key(code) {
            return Some(true);
        }
        // A county-level code under a listed prefecture is accepted (county codes change more
        // often than the list is refreshed); a province without listed prefectures (71, 81, 82)
        // accepts any code under it. An unknown prefecture of a listed province is refused.
        let prefecture = format!("{}00", &code[..4]);
        if regions.contains_key(&prefecture) && !code.ends_with("00") {
            return Some(true);
        }
        let pp = &code[..2];
        let province_listed = regions.contains_key(&format!("{pp}0000"));
        let has_prefectures = regions
            .range(format!("{pp}0001")..format!("{pp}9999"))
            .any(|(k, _)| k.ends_with("00"));
        Some(province_listed && !has_prefectures)
    }

    /// The name of a region listed exactly.
    pub fn region_name(&self, code: &str) -> Option<String> {
        self.regions.as_ref()?.get(code).cloned()
    }
}

impl CodeLookup for CodeTables {
    fn label(&self, table: &str, code: &str) -> Option<String> {
        CodeTables::label(self, table, code)
    }
    fn has_table(&self, table: &str) -> bool {
        self.tables.contains_key(table)
    }
    fn region_known(&self, code: &str) -> Option<bool> {
        CodeTables::region_known(self, code)
    }
    fn table_entries(&self, table: &str) -> Vec<(String, String)> {
        self.tables
            .get(table)
            .map(|t| t.iter().map(|(c, l)| (c.clone(), l.clone())).collect())
            .unwrap_or_default()
    }
    fn region_name(&self, code: &str) -> Option<String> {
        CodeTables::region_name(self, code)
    }
}

// ---------------------------------------------------------------------------------------------
// Validation.

/// A problem with one field (or a warning about it).
///
/// Codes: `form_not_object`, `unknown_field`, `required`, `invalid_type`, `too_long`,
/// `invalid_date`, `invalid_money`, `invalid_int`, `out_of_range`, `unknown_code`,
/// `unknown_region`, `invalid_choice`, `phone_format`, the [`IdentError`] codes
/// (`id_number_*`, `credit_code_format`, `candidate_no_format`, `mobile_format`,
/// `landline_format`, `postal_code_format`, `region_code_format`, `email_format`), and the
/// warning `credit_code_checksum`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field name (input key); empty for errors about the whole form.
    pub field: String,
    pub label: String,
    /// Stable machine code.
    pub code: String,
    /// Chinese message starting with the label, e.g. "岗位名称：不能为空".
    pub message: String,
}

/// Validated input.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    /// Normalised values in form-field order; absent fields are omitted. Strings are trimmed,
    /// identifiers upper-cased, ints are numbers, money is a string with two decimals
    /// (`"3000.00"`), bools are booleans.
    pub values: Map<String, Value>,
    /// Accepted but suspicious values (e.g. `credit_code_checksum`).
    pub warnings: Vec<FieldError>,
}

fn field_error(f: &Field, code: &str, detail: impl std::fmt::Display) -> FieldError {
    FieldError {
        field: f.name.clone(),
        label: f.label.clone(),
        code: code.to_string(),
        message: format!("{}：{detail}", f.label),
    }
}

fn ident_error(f: &Field, e: IdentError) -> FieldError {
    field_error(f, e.code, e.detail())
}

/// The state of one field after the per-field pass.
enum Slot {
    Absent,
    Valid(Value),
    Invalid(Value),
}

fn is_absent(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        _ => false,
    }
}

/// A string (trimmed) or a non-negative integer written as a number: identifier-like input.
fn token(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) if n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(|s| s.trim().to_string())
}

/// `^\d+(\.\d{1,2})?$` with at most 15 integer digits, normalised to two decimals.
fn parse_money(s: &str) -> Option<String> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || frac.len() > 2 {
        return None;
    }
    if s.contains('.') && frac.is_empty() {
        return None;
    }
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    if int.len() > 15 {
        return None;
    }
    Some(format!("{int}.{frac:0<2}"))
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    NaiveDate::from_ymd_opt(
        s[..4].parse().ok()?,
        s[5..7].parse().ok()?,
        s[8..].parse().ok()?,
    )
}

/// Checks and normalises one present value. `Ok((value, warning))`.
fn normalise(
    f: &Field,
    raw: &Value,
    tables: &dyn CodeLookup,
) -> Result<(Value, Option<FieldError>), FieldError> {
    let ok = |v: Value| Ok((v, None));
    let s = |v: String| Ok((Value::String(v), None));
    match &f.kind {
        FieldKind::Text { max, multiline } => {
            let t = text(raw).ok_or_else(|| field_error(f, "invalid_type", "应为文本"))?;
            if let Some((at, c)) = crate::ident::forbidden_char(&t) {
                return Err(field_error(
                    f,
                    "control_character",
                    crate::ident::forbidden_char_message(at, c),
                ));
            }
            if !multiline && t.contains(['\n', '\r']) {
                return Err(field_error(f, "line_break", "不能换行（只能填写一行）"));
            }
            if let Some(max) = max {
                if t.chars().count() > *max {
                    return Err(field_error(f, "too_long", format!("不能超过{max}个字符")));
                }
            }
            s(t)
        }
        FieldKind::Code { table } => {
            let c = token(raw).ok_or_else(|| field_error(f, "invalid_type", "应为代码"))?;
            if tables.label(table, &c).is_none() {
                return Err(field_error(
                    f,
                    "unknown_code",
                    format!("代码 {c} 不在代码表中"),
                ));
            }
            s(c)
        }
        FieldKind::Date => {
            let d = text(raw)
                .and_then(|t| parse_date(&t))
                .ok_or_else(|| field_error(f, "invalid_date", "应为有效日期，格式为 YYYY-MM-DD"))?;
            s(d.format("%Y-%m-%d").to_string())
        }
        FieldKind::Money => {
            let m = match raw {
                Value::Number(n) => parse_money(&n.to_string()),
                Value::String(t) => parse_money(t.trim()),
                _ => None,
            }
            .ok_or_else(|| {
                field_error(
                    f,
                    "invalid_money",
                    "应为不小于0、最多两位小数的金额，如 3000.00",
                )
            })?;
            s(m)
        }
        FieldKind::Region => {
            let t = token(raw).unwrap_or_default();
            let r = RegionCode::parse(&t).map_err(|e| ident_error(f, e))?;
            if tables.region_known(r.as_str()) == Some(false) {
                return Err(field_error(
                    f,
                    "unknown_region",
                    format!("行政区划代码 {r} 不存在"),
                ));
            }
            s(r.to_string())
        }
        FieldKind::CreditCode => {
            let t = token(raw).unwrap_or_default();
            let c = CreditCode::parse(&t).map_err(|e| ident_error(f, e))?;
            let warning = (!c.checksum_ok()).then(|| FieldError {
                field: f.name.clone(),
                label: f.label.clone(),
                code: "credit_code_checksum".to_string(),
                message: "统一社会信用代码校验位不符，请核实单位信息".to_string(),
            });
            Ok((Value::String(c.to_string()), warning))
        }
        FieldKind::IdNumber => {
            let t = token(raw).unwrap_or_default();
            s(IdNumber::parse(&t)
                .map_err(|e| ident_error(f, e))?
                .to_string())
        }
        FieldKind::CandidateNo => {
            let t = token(raw).unwrap_or_default();
            s(CandidateNo::parse(&t)
                .map_err(|e| ident_error(f, e))?
                .to_string())
        }
        FieldKind::Mobile => {
            let t = token(raw).unwrap_or_default();
            s(Mobile::parse(&t)
                .map_err(|e| ident_error(f, e))?
                .to_string())
        }
        FieldKind::Landline => {
            let t = token(raw).unwrap_or_default();
            s(Landline::parse(&t)
                .map_err(|e| ident_error(f, e))?
                .to_string())
        }
        FieldKind::Phone => {
            let t = token(raw).unwrap_or_default();
            match Mobile::parse(&t) {
                Ok(m) => s(m.to_string()),
                Err(_) => match Landline::parse(&t) {
                    Ok(l) => s(l.to_string()),
                    Err(_) => Err(field_error(
                        f,
                        "phone_format",
                        "应为11位手机号码或带区号的固定电话，如 025-83591234",
                    )),
                },
            }
        }
        FieldKind::PostalCode => {
            let t = token(raw).unwrap_or_default();
            s(PostalCode::parse(&t)
                .map_err(|e| ident_error(f, e))?
                .to_string())
        }
        FieldKind::Email => {
            let t = text(raw).unwrap_or_default();
            s(Email::parse(&t).map_err(|e| ident_error(f, e))?.to_string())
        }
        FieldKind::Int { min, max } => {
            let n = match raw {
                Value::Number(n) => n.as_i64(),
                Value::String(t) => t.trim().parse::<i64>().ok(),
                _ => None,
            }
            .ok_or_else(|| field_error(f, "invalid_int", "应为整数"))?;
            if let Some(min) = min {
                if n < *min {
                    return Err(field_error(f, "out_of_range", format!("不能小于{min}")));
                }
            }
            if let Some(max) = max {
                if n > *max {
                    return Err(field_error(f, "out_of_range", format!("不能大于{max}")));
                }
            }
            ok(json!(n))
        }
        FieldKind::Bool => match raw {
            Value::Bool(b) => ok(Value::Bool(*b)),
            Value::String(t) if t.trim() == "true" => ok(Value::Bool(true)),
            Value::String(t) if t.trim() == "false" => ok(Value::Bool(false)),
            _ => Err(field_error(f, "invalid_type", "应为是或否（true/false）")),
        },
        FieldKind::Choice { options } => match text(raw) {
            Some(t) if options.contains(&t) => s(t),
            _ => Err(field_error(
                f,
                "invalid_choice",
                format!("应为以下选项之一：{}", options.join("、")),
            )),
        },
        FieldKind::File { .. } => {
            let t =
                text(raw).ok_or_else(|| field_error(f, "invalid_type", "应为上传文件的标识"))?;
            s(t)
        }
    }
}

/// Whether a `required_if` condition holds for the other field's slot.
fn condition_holds(other: &Field, slot: &Slot, values: &[Value], tables: &dyn CodeLookup) -> bool {
    match slot {
        Slot::Absent => false,
        Slot::Valid(v) => values.iter().any(|e| {
            e == v
                || (!is_absent(Some(e)) && normalise(other, e, tables).is_ok_and(|(n, _)| n == *v))
        }),
        Slot::Invalid(raw) => values
            .iter()
            .any(|e| e == raw || matches!((token(e), token(raw)), (Some(a), Some(b)) if a == b)),
    }
}

fn display_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "是".to_string(),
        Value::Bool(false) => "否".to_string(),
        other => other.to_string(),
    }
}

impl Form {
    /// The field of that name.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// A form of these fields, without variants.
    pub fn plain(fields: Vec<Field>) -> Form {
        Form {
            fields,
            variants: None,
        }
    }

    /// The form without its file fields (data from another system carries no upload of this
    /// one); every other field and rule as they are.
    pub fn without_files(&self) -> Form {
        let keep = |fields: &Vec<Field>| -> Vec<Field> {
            fields
                .iter()
                .filter(|f| !matches!(f.kind, FieldKind::File { .. }))
                .cloned()
                .collect()
        };
        Form {
            fields: keep(&self.fields),
            variants: self.variants.as_ref().map(|v| Variants {
                forms: v.forms.iter().map(|(k, f)| (k.clone(), keep(f))).collect(),
                ..v.clone()
            }),
        }
    }

    /// Every field the form may ask for: the common ones, then each variant's (a name shared
    /// by several variants once).
    pub fn all_fields(&self) -> Vec<&Field> {
        let mut out: Vec<&Field> = self.fields.iter().collect();
        if let Some(v) = &self.variants {
            for f in v.forms.values().flatten() {
                if !out.iter().any(|o| o.name == f.name) {
                    out.push(f);
                }
            }
        }
        out
    }

    /// The fields asked for when the selecting field has `value`: the common fields plus
    /// the variant's (only the common ones without variants or without a value).
    pub fn for_value(&self, value: Option<&str>) -> Form {
        let mut fields = self.fields.clone();
        if let (Some(v), Some(value)) = (&self.variants, value) {
            if let Some(extra) = v.forms.get(value) {
                fields.extend(extra.iter().cloned());
            }
        }
        Form::plain(fields)
    }

    /// The value of the selecting field in `input`, as that field normalises it.
    fn selected(&self, input: &Value, tables: &dyn CodeLookup) -> Option<String> {
        let v = self.variants.as_ref()?;
        let f = self.field(&v.by)?;
        let raw = input.get(&v.by);
        if is_absent(raw) {
            return None;
        }
        let (value, _) = normalise(f, raw?, tables).ok()?;
        Some(match value {
            Value::String(s) => s,
            other => other.to_string(),
        })
    }

    /// Static problems of the declaration (Chinese, one per problem), for the loader:
    /// bad or duplicate field names, empty labels, unknown code tables, `required_unless` /
    /// `required_if` referencing unknown fields or the field itself, `required_if` values
    /// that are not options of a choice field, min > max, max of 0, empty or duplicate choice
    /// options, and `required` combined with a conditional rule.
    pub fn check(&self, tables: &dyn CodeLookup) -> Vec<String> {
        let Some(v) = &self.variants else {
            return self.check_fields(tables);
        };
        let mut problems = self.check_fields(tables);
        match self.field(&v.by).map(|f| &f.kind) {
            None => problems.push(format!("variants.by：字段 {} 不在 fields 中", v.by)),
            Some(FieldKind::Code { table }) => {
                for value in v.forms.keys() {
                    if tables.has_table(table) && tables.label(table, value).is_none() {
                        problems.push(format!("variants：{value} 不是代码表 {table} 中的代码"));
                    }
                }
            }
            Some(FieldKind::Choice { options }) => {
                for value in v.forms.keys() {
                    if !options.contains(value) {
                        problems.push(format!("variants：{value} 不是字段 {} 的选项", v.by));
                    }
                }
            }
            Some(_) => problems.push(format!(
                "variants.by：字段 {} 应为 code 或 choice 类型",
                v.by
            )),
        }
        for value in v.forms.keys() {
            for p in self.for_value(Some(value)).check_fields(tables) {
                if !problems.contains(&p) {
                    problems.push(format!("变体 {value}：{p}"));
                }
            }
        }
        problems
    }

    fn check_fields(&self, tables: &dyn CodeLookup) -> Vec<String> {
        let mut problems = Vec::new();
        let mut seen = BTreeSet::new();
        for f in &self.fields {
            let name = &f.name;
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                problems.push(format!("字段名 {name:?} 只能由字母、数字和下划线组成"));
            }
            if !seen.insert(name.as_str()) {
                problems.push(format!("字段名 {name} 重复"));
            }
            if f.label.trim().is_empty() {
                problems.push(format!("字段 {name}：label 不能为空"));
            }
            match &f.kind {
                FieldKind::Code { table } if !tables.has_table(table) => {
                    problems.push(format!("字段 {name}：代码表 {table} 不存在"));
                }
                FieldKind::Int {
                    min: Some(min),
                    max: Some(max),
                } if min > max => {
                    problems.push(format!("字段 {name}：min（{min}）大于 max（{max}）"));
                }
                FieldKind::Text { max: Some(0), .. } => {
                    problems.push(format!("字段 {name}：max 必须大于0"));
                }
                FieldKind::Choice { options } => {
                    if options.is_empty() {
                        problems.push(format!("字段 {name}：options 不能为空"));
                    }
                    let mut opts = BTreeSet::new();
                    for o in options {
                        if o.trim().is_empty() {
                            problems.push(format!("字段 {name}：options 中不能有空选项"));
                        } else if !opts.insert(o) {
                            problems.push(format!("字段 {name}：options 中 {o} 重复"));
                        }
                    }
                }
                _ => {}
            }
            if f.required && (f.required_unless.is_some() || f.required_if.is_some()) {
                problems.push(format!(
                    "字段 {name}：required 为 true 时不应再设置 required_unless 或 required_if"
                ));
            }
            if let Some(other) = &f.required_unless {
                if other == name {
                    problems.push(format!("字段 {name}：required_unless 不能引用自身"));
                } else if self.field(other).is_none() {
                    problems.push(format!(
                        "字段 {name}：required_unless 引用了不存在的字段 {other}"
                    ));
                }
            }
            if let Some(cond) = &f.required_if {
                let other = &cond.field;
                if other == name {
                    problems.push(format!("字段 {name}：required_if 不能引用自身"));
                } else {
                    match self.field(other) {
                        None => problems.push(format!(
                            "字段 {name}：required_if 引用了不存在的字段 {other}"
                        )),
                        Some(of) => {
                            if let FieldKind::Choice { options } = &of.kind {
                                for v in &cond.values {
                                    if !v.as_str().is_some_and(|s| options.iter().any(|o| o == s)) {
                                        problems.push(format!(
                                            "字段 {name}：required_if 的取值 {v} 不是字段 {other} 的选项"
                                        ));
                                    }
                                }
                            }
                        }
                    }
                }
                if cond.values.is_empty() {
                    problems.push(format!("字段 {name}：required_if 的 in 不能为空"));
                }
            }
            if let Some(w) = f.default.as_ref().and_then(|d| d.when.as_ref()) {
                if w.field == *name || self.field(&w.field).is_none() {
                    problems.push(format!(
                        "字段 {name}：default.when 引用了不存在的字段 {}",
                        w.field
                    ));
                }
            }
            if f.default.as_ref().is_some_and(|d| d.fact.trim().is_empty()) {
                problems.push(format!("字段 {name}：default.fact 不能为空"));
            }
        }
        problems
    }

    /// `input` with the defaults of the fields it leaves empty filled from `facts` (a fact that
    /// is absent or null fills nothing).
    pub fn with_defaults(&self, input: &Value, facts: &Value) -> Value {
        let Value::Object(given) = input else {
            return input.clone();
        };
        let mut out = given.clone();
        for f in self.all_fields() {
            let Some(d) = &f.default else { continue };
            let empty = match given.get(&f.name) {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.trim().is_empty(),
                _ => false,
            };
            let applies = d
                .when
                .as_ref()
                .is_none_or(|w| given.get(&w.field).is_some_and(|v| w.values.contains(v)));
            if !empty || !applies {
                continue;
            }
            let value = d
                .fact
                .split('.')
                .try_fold(facts, |v, k| v.get(k))
                .filter(|v| !v.is_null());
            if let Some(v) = value {
                out.insert(f.name.clone(), v.clone());
            }
        }
        Value::Object(out)
    }

    /// The same form with every presence rule dropped (a draft save checks formats only).
    pub fn without_presence_rules(&self) -> Form {
        let loose = |fields: &[Field]| -> Vec<Field> {
            fields
                .iter()
                .map(|f| Field {
                    required: false,
                    required_unless: None,
                    required_if: None,
                    ..f.clone()
                })
                .collect()
        };
        Form {
            fields: loose(&self.fields),
            variants: self.variants.as_ref().map(|v| Variants {
                forms: v.forms.iter().map(|(k, f)| (k.clone(), loose(f))).collect(),
                ..v.clone()
            }),
        }
    }

    /// Validates and normalises `input` (a JSON object). Collects all field errors; see
    /// [`FieldError`] for the codes and [`Validated`] for the normalisation.
    ///
    /// Blank strings, `null` and missing keys count as absent. `required_unless: other` makes
    /// the field required when `other` is absent; `required_if` when the other field's value
    /// is in the list (compared after normalisation). Keys not declared in the form are
    /// errors (`unknown_field`).
    pub fn validate(
        &self,
        input: &Value,
        tables: &dyn CodeLookup,
    ) -> Result<Validated, Vec<FieldError>> {
        if self.variants.is_some() {
            let selected = self.selected(input, tables);
            return self.for_value(selected.as_deref()).validate(input, tables);
        }
        let Some(obj) = input.as_object() else {
            return Err(vec![FieldError {
                field: String::new(),
                label: String::new(),
                code: "form_not_object".to_string(),
                message: "表单数据应为 JSON 对象".to_string(),
            }]);
        };
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        for key in obj.keys() {
            if self.field(key).is_none() {
                errors.push(FieldError {
                    field: key.clone(),
                    label: key.clone(),
                    code: "unknown_field".to_string(),
                    message: format!("{key}：未知字段"),
                });
            }
        }
        // Per-field pass: type checks and normalisation.
        let slots: Vec<Slot> = self
            .fields
            .iter()
            .map(|f| {
                let raw = obj.get(&f.name);
                if is_absent(raw) {
                    return Slot::Absent;
                }
                let raw = raw.unwrap_or(&Value::Null);
                match normalise(f, raw, tables) {
                    Ok((v, warning)) => {
                        warnings.extend(warning);
                        Slot::Valid(v)
                    }
                    Err(e) => {
                        errors.push(e);
                        Slot::Invalid(raw.clone())
                    }
                }
            })
            .collect();
        let slot_of = |name: &str| {
            self.fields
                .iter()
                .position(|f| f.name == name)
                .map(|i| (&self.fields[i], &slots[i]))
        };
        // Presence pass.
        for (f, slot) in self.fields.iter().zip(&slots) {
            if !matches!(slot, Slot::Absent) {
                continue;
            }
            if f.required {
                errors.push(field_error(f, "required", "不能为空"));
                continue;
            }
            if let Some(other) = &f.required_unless {
                if let Some((of, Slot::Absent)) = slot_of(other) {
                    errors.push(field_error(
                        f,
                        "required",
                        format!("不能为空（与「{}」至少填写一项）", of.label),
                    ));
                    continue;
                }
            }
            if let Some(cond) = &f.required_if {
                if let Some((of, os)) = slot_of(&cond.field) {
                    if condition_holds(of, os, &cond.values, tables) {
                        let shown = match os {
                            Slot::Valid(v) | Slot::Invalid(v) => display_value(v),
                            Slot::Absent => String::new(),
                        };
                        errors.push(field_error(
                            f,
                            "required",
                            format!("不能为空（「{}」为“{}”时必填）", of.label, shown),
                        ));
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut values = Map::new();
        for (f, slot) in self.fields.iter().zip(slots) {
            if let Slot::Valid(v) = slot {
                values.insert(f.name.clone(), v);
            }
        }
        Ok(Validated { values, warnings })
    }

    /// A JSON Schema (draft 2020-12) of the input object, for clients.
    ///
    /// Each property has `title` (the label), `description` (help, if any), `type`, and
    /// `x-kind` (the form field type). Depending on the type: `maxLength` (text),
    /// `x-multiline`, `format: "date"` / `format: "email"`, `pattern` (identifiers, phones,
    /// money as a string), `enum` + `x-labels` (code → label) + `x-table` for codes, `enum`
    /// for choices, `minimum` / `maximum` for ints, `x-accept` / `x-max-kb` for files;
    /// `x-default: {fact, when}` where the field takes a fact's value when left empty.
    ///
    /// `required` lists unconditionally required fields. Conditional rules are extension
    /// keywords on the root: `x-required-unless: {field: other}` (field required when `other`
    /// is absent) and `x-required-if: {field: {field: other, in: [values]}}`; each is present
    /// only when some field uses it. `additionalProperties` is `false`.
    ///
    /// A form with variants has its common fields as `properties`, then `oneOf` one branch
    /// per variant (the selecting field's `const` value with every field of that variant) and
    /// one for the values without fields of their own, a `discriminator` naming the selecting
    /// field, and `unevaluatedProperties: false`.
    pub fn json_schema(&self, tables: &dyn CodeLookup) -> Value {
        let Some(v) = &self.variants else {
            return self.plain_schema(tables);
        };
        let mut schema = Form::plain(self.fields.clone()).plain_schema(tables);
        let mut one_of = Vec::new();
        for value in v.forms.keys() {
            let full = self.for_value(Some(value)).plain_schema(tables);
            let mut branch = Map::new();
            let mut props = full["properties"].as_object().cloned().unwrap_or_default();
            props.insert(v.by.clone(), json!({"const": value}));
            branch.insert("properties".into(), Value::Object(props));
            branch.insert("required".into(), full["required"].clone());
            for k in ["x-required-unless", "x-required-if"] {
                if let Some(x) = full.get(k) {
                    branch.insert(k.into(), x.clone());
                }
            }
            one_of.push(Value::Object(branch));
        }
        let with_fields: Vec<&String> = v.forms.keys().collect();
        one_of.push(json!({"properties": {v.by.clone(): {"not": {"enum": with_fields}}}}));
        if let Value::Object(m) = &mut schema {
            m.remove("additionalProperties");
            m.insert("oneOf".into(), Value::Array(one_of));
            m.insert("discriminator".into(), json!({"propertyName": v.by}));
            m.insert("unevaluatedProperties".into(), json!(false));
        }
        schema
    }

    fn plain_schema(&self, tables: &dyn CodeLookup) -> Value {
        let mut properties = Map::new();
        let mut required = Vec::new();
        let mut unless = Map::new();
        let mut required_if = Map::new();
        for f in &self.fields {
            let mut p = Map::new();
            p.insert("title".into(), json!(f.label));
            if let Some(h) = &f.help {
                p.insert("description".into(), json!(h));
            }
            p.insert("x-kind".into(), json!(f.kind.type_name()));
            if let Some(d) = &f.default {
                p.insert("x-default".into(), json!(d));
            }
            let string = |p: &mut Map<String, Value>, pattern: Option<&str>| {
                p.insert("type".into(), json!("string"));
                if let Some(pat) = pattern {
                    p.insert("pattern".into(), json!(pat));
                }
            };
            match &f.kind {
                FieldKind::Text { max, multiline } => {
                    string(&mut p, None);
                    if let Some(m) = max {
                        p.insert("maxLength".into(), json!(m));
                    }
                    if *multiline {
                        p.insert("x-multiline".into(), json!(true));
                    }
                }
                FieldKind::Code { table } => {
                    string(&mut p, None);
                    let entries = tables.table_entries(table);
                    p.insert("x-table".into(), json!(table));
                    p.insert(
                        "enum".into(),
                        Value::Array(entries.iter().map(|(c, _)| json!(c)).collect()),
                    );
                    p.insert(
                        "x-labels".into(),
                        Value::Object(entries.into_iter().map(|(c, l)| (c, json!(l))).collect()),
                    );
                }
                FieldKind::Date => {
                    string(&mut p, None);
                    p.insert("format".into(), json!("date"));
                }
                FieldKind::Money => string(&mut p, Some(r"^\d+(\.\d{1,2})?$")),
                FieldKind::Region => string(&mut p, Some(r"^\d{6}$")),
                FieldKind::CreditCode => {
                    string(&mut p, Some("^[0-9A-HJ-NPQRTUWXYa-hj-npqrtuwxy]{18}$"))
                }
                FieldKind::IdNumber => string(&mut p, Some(r"^\d{17}[\dXx]$")),
                FieldKind::CandidateNo => string(&mut p, Some(r"^\d{14}$")),
                FieldKind::Mobile => string(&mut p, Some(r"^1[3-9]\d{9}$")),
                FieldKind::Landline => string(&mut p, Some(r"^0\d{2,3}-?\d{7,8}(-\d{1,6})?$")),
                FieldKind::Phone => string(
                    &mut p,
                    Some(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}(-\d{1,6})?)$"),
                ),
                FieldKind::PostalCode => string(&mut p, Some(r"^\d{6}$")),
                FieldKind::Email => {
                    string(&mut p, None);
                    p.insert("format".into(), json!("email"));
                }
                FieldKind::Int { min, max } => {
                    p.insert("type".into(), json!("integer"));
                    if let Some(m) = min {
                        p.insert("minimum".into(), json!(m));
                    }
                    if let Some(m) = max {
                        p.insert("maximum".into(), json!(m));
                    }
                }
                FieldKind::Bool => {
                    p.insert("type".into(), json!("boolean"));
                }
                FieldKind::Choice { options } => {
                    string(&mut p, None);
                    p.insert("enum".into(), json!(options));
                }
                FieldKind::File { accept, max_kb } => {
                    string(&mut p, None);
                    if !accept.is_empty() {
                        p.insert("x-accept".into(), json!(accept));
                    }
                    if let Some(kb) = max_kb {
                        p.insert("x-max-kb".into(), json!(kb));
                    }
                }
            }
            properties.insert(f.name.clone(), Value::Object(p));
            if f.required {
                required.push(json!(f.name));
            }
            if let Some(other) = &f.required_unless {
                unless.insert(f.name.clone(), json!(other));
            }
            if let Some(cond) = &f.required_if {
                required_if.insert(
                    f.name.clone(),
                    json!({"field": cond.field, "in": cond.values}),
                );
            }
        }
        let mut schema = Map::new();
        schema.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        schema.insert("type".into(), json!("object"));
        schema.insert("properties".into(), Value::Object(properties));
        schema.insert("required".into(), Value::Array(required));
        if !unless.is_empty() {
            schema.insert("x-required-unless".into(), Value::Object(unless));
        }
        if !required_if.is_empty() {
            schema.insert("x-required-if".into(), Value::Object(required_if));
        }
        schema.insert("additionalProperties".into(), json!(false));
        Value::Object(schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
- {name: position, label: 岗位名称, type: text, max: 50, required: true}
- {name: job_category, label: 职位类别, type: code, table: job_category, required: true}
- {name: salary, label: 薪酬, type: money}
- {name: report_date, label: 报到时间, type: date}
- {name: region, label: 单位所在地, type: region, required: true}
- {name: credit_code, label: 统一社会信用代码, type: credit_code, required: true}
- {name: id_number, label: 身份证号, type: id_number}
- {name: candidate_no, label: 考生号, type: candidate_no}
- {name: mobile, label: 单位联系人手机, type: mobile, required_unless: landline}
- {name: landline, label: 单位联系人固定电话, type: landline, required_unless: mobile}
- {name: phone, label: 联系电话, type: phone}          # landline or mobile
- {name: postal_code, label: 邮政编码, type: postal_code}
- {name: email, label: 邮箱, type: email}
- {name: days, label: 天数, type: int, min: 0, max: 99}
- {name: agree, label: 同意, type: bool}
- {name: reason, label: 原因, type: choice, options: [个人原因, 单位原因], required: true}
- {name: proof, label: 证明材料, type: file, accept: [png, jpg], max_kb: 20480, required_if: {field: reason, in: [单位原因]}}
- {name: note, label: 说明, type: text, max: 200, multiline: true, help: 可选}
"#;

    fn form() -> Form {
        serde_norway::from_str(YAML).unwrap()
    }

    fn tables() -> CodeTables {
        let mut t = BTreeMap::new();
        t.insert(
            "job_category".to_string(),
            BTreeMap::from([
                ("10".to_string(), "公务员".to_string()),
                ("20".to_string(), "科学研究人员".to_string()),
            ]),
        );
        let regions = BTreeMap::from([
            ("320000".to_string(), "江苏省".to_string()),
            ("110100".to_string(), "北京市市辖区".to_string()),
            ("350102".to_string(), "鼓楼区".to_string()),
        ]);
        CodeTables::new(t, Some(regions))
    }

    fn good_input() -> Value {
        json!({
            "position": "  软件工程师 ",
            "job_category": "10",
            "salary": 3000,
            "report_date": "2025-07-01",
            "region": "320102",
            "credit_code": "91350100m000100y43",
            "id_number": "11010519491231002x",
            "candidate_no": "24320102150123",
            "mobile": "13912345678",
            "landline": "",
            "phone": "025-83591234",
            "postal_code": "210008",
            "email": "hr@example.com",
            "days": "7",
            "agree": true,
            "reason": "个人原因",
            "note": null
        })
    }

    fn codes(errors: &[FieldError]) -> Vec<(&str, &str)> {
        errors
            .iter()
            .map(|e| (e.field.as_str(), e.code.as_str()))
            .collect()
    }

    fn errors_for(input: Value) -> Vec<FieldError> {
        form().validate(&input, &tables()).unwrap_err()
    }

    fn with(changes: Value) -> Value {
        let mut v = good_input();
        for (k, x) in changes.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    }

    fn single_error(changes: Value) -> FieldError {
        let errs = errors_for(with(changes.clone()));
        assert_eq!(errs.len(), 1, "{changes}: {errs:?}");
        errs.into_iter().next().unwrap()
    }

    #[test]
    fn deserialises_all_kinds() {
        let f = form();
        assert_eq!(f.fields.len(), 18);
        assert_eq!(
            f.fields[0].kind,
            FieldKind::Text {
                max: Some(50),
                multiline: false
            }
        );
        assert!(f.fields[0].required);
        assert_eq!(f.fields[8].required_unless.as_deref(), Some("landline"));
        assert_eq!(
            f.fields[16].required_if,
            Some(Condition {
                field: "reason".into(),
                values: vec![json!("单位原因")]
            })
        );
        assert_eq!(
            f.fields[16].kind,
            FieldKind::File {
                accept: vec!["png".into(), "jpg".into()],
                max_kb: Some(20480)
            }
        );
        assert_eq!(
            f.fields[13].kind,
            FieldKind::Int {
                min: Some(0),
                max: Some(99)
            }
        );
        assert_eq!(f.fields[17].help.as_deref(), Some("可选"));
        let used: BTreeSet<&str> = f.fields.iter().map(|x| x.kind.type_name()).collect();
        assert_eq!(used, KIND_NAMES.iter().copied().collect::<BTreeSet<_>>());
        // Round trip through serialisation.
        let back: Form = serde_json::from_value(serde_json::to_value(&f).unwrap()).unwrap();
        assert_eq!(back, f);
        let yaml = serde_norway::to_string(&f).unwrap();
        assert_eq!(serde_norway::from_str::<Form>(&yaml).unwrap(), f);
    }

    #[test]
    fn yaml_typos_are_errors() {
        let bad = [
            ("- {name: a, label: A, type: text, maxx: 5}", "maxx"),
            ("- {name: a, label: A, type: txt}", "未知类型 txt"),
            (
                "- {name: a, label: A, type: date, max: 5}",
                "不支持属性 max",
            ),
            ("- {name: a, label: A, type: code}", "必须指定 table"),
            ("- {name: a, label: A, type: choice}", "必须指定 options"),
            (
                "- {name: a, label: A, type: text, max: -1}",
                "max 不能为负数",
            ),
            (
                "- {name: a, label: A, type: text, required_if: {field: b, is: [1]}}",
                "is",
            ),
            ("- {name: a, type: text}", "label"),
        ];
        for (yaml, needle) in bad {
            let e = serde_norway::from_str::<Form>(yaml)
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{yaml}: {e}");
        }
    }

    #[test]
    fn good_input_is_normalised() {
        let v = form().validate(&good_input(), &tables()).unwrap();
        assert!(v.warnings.is_empty());
        assert_eq!(
            Value::Object(v.values.clone()),
            json!({
                "position": "软件工程师",
                "job_category": "10",
                "salary": "3000.00",
                "report_date": "2025-07-01",
                "region": "320102",
                "credit_code": "91350100M000100Y43",
                "id_number": "11010519491231002X",
                "candidate_no": "24320102150123",
                "mobile": "13912345678",
                "phone": "025-83591234",
                "postal_code": "210008",
                "email": "hr@example.com",
                "days": 7,
                "agree": true,
                "reason": "个人原因"
            })
        );
        // Field order is the form's order.
        let keys: Vec<&String> = v.values.keys().collect();
        assert_eq!(keys[0], "position");
        assert_eq!(keys.last().unwrap().as_str(), "reason");
    }

    #[test]
    fn normalisation_details() {
        let ok = |changes: Value| form().validate(&with(changes), &tables()).unwrap().values;
        assert_eq!(ok(json!({"salary": "0012.5"}))["salary"], "12.50");
        assert_eq!(ok(json!({"salary": 12.34}))["salary"], "12.34");
        assert_eq!(ok(json!({"salary": "0"}))["salary"], "0.00");
        assert_eq!(ok(json!({"days": 0}))["days"], 0);
        assert_eq!(ok(json!({"agree": "false"}))["agree"], false);
        assert_eq!(ok(json!({"phone": "13800000000"}))["phone"], "13800000000");
        assert_eq!(ok(json!({"region": "110105"}))["region"], "110105");
        assert_eq!(ok(json!({"region": "350102"}))["region"], "350102");
        assert_eq!(ok(json!({"job_category": 20}))["job_category"], "20");
        assert_eq!(
            ok(json!({"mobile": null, "landline": "025-83591234"}))["landline"],
            "025-83591234"
        );
        assert_eq!(
            ok(json!({"reason": "单位原因", "proof": "upload-1"}))["proof"],
            "upload-1"
        );
        // Text max counts characters, not bytes.
        let fifty = "岗".repeat(50);
        assert_eq!(
            ok(json!({"position": fifty.clone()}))["position"],
            json!(fifty)
        );
        // Without a region list any well-formed code is accepted.
        let no_regions = CodeTables::new(tables().tables, None);
        assert!(form()
            .validate(&with(json!({"region": "659999"})), &no_regions)
            .is_ok());
    }

    #[test]
    fn region_rule_exact_county_under_prefecture_or_bare_province() {
        let regions = BTreeMap::from([
            ("410000".to_string(), "河南省".to_string()),
            ("410100".to_string(), "郑州市".to_string()),
            ("410102".to_string(), "中原区".to_string()),
            ("810000".to_string(), "香港特别行政区".to_string()),
        ]);
        let t = CodeTables::new(BTreeMap::new(), Some(regions));
        assert_eq!(t.region_known("410102"), Some(true), "listed exactly");
        assert_eq!(
            t.region_known("410199"),
            Some(true),
            "county under a listed prefecture"
        );
        assert_eq!(
            t.region_known("419900"),
            Some(false),
            "unknown prefecture of 河南"
        );
        assert_eq!(
            t.region_known("419901"),
            Some(false),
            "county of an unknown prefecture"
        );
        assert_eq!(
            t.region_known("810101"),
            Some(true),
            "province listed without prefectures"
        );
        assert_eq!(t.region_known("990000"), Some(false), "unknown province");
        assert_eq!(t.region_known("41010"), Some(false), "not six digits");
    }

    #[test]
    fn every_error_code() {
        let cases = [
            (json!({"position": 5}), "position", "invalid_type"),
            (json!({"position": "岗".repeat(51)}), "position", "too_long"),
            (
                json!({"job_category": "99"}),
                "job_category",
                "unknown_code",
            ),
            (json!({"job_category": [1]}), "job_category", "invalid_type"),
            (json!({"salary": "-1"}), "salary", "invalid_money"),
            (json!({"salary": "1.234"}), "salary", "invalid_money"),
            (json!({"salary": "1."}), "salary", "invalid_money"),
            (json!({"salary": -5}), "salary", "invalid_money"),
            (json!({"salary": "1e3"}), "salary", "invalid_money"),
            (
                json!({"report_date": "2025-02-30"}),
                "report_date",
                "invalid_date",
            ),
            (
                json!({"report_date": "2025-2-3"}),
                "report_date",
                "invalid_date",
            ),
            (json!({"region": "990000"}), "region", "region_code_format"),
            (json!({"region": "330100"}), "region", "unknown_region"),
            (
                json!({"credit_code": "91350100I000100Y43"}),
                "credit_code",
                "credit_code_format",
            ),
            (
                json!({"id_number": "11010519491231002"}),
                "id_number",
                "id_number_format",
            ),
            (
                json!({"id_number": "110105194902300021"}),
                "id_number",
                "id_number_birth_date",
            ),
            (
                json!({"id_number": "110105194912310021"}),
                "id_number",
                "id_number_checksum",
            ),
            (
                json!({"candidate_no": "123"}),
                "candidate_no",
                "candidate_no_format",
            ),
            (json!({"mobile": "12345678901"}), "mobile", "mobile_format"),
            (json!({"landline": "12-345"}), "landline", "landline_format"),
            (json!({"phone": "12345"}), "phone", "phone_format"),
            (
                json!({"postal_code": "2100"}),
                "postal_code",
                "postal_code_format",
            ),
            (json!({"email": "hr@"}), "email", "email_format"),
            (json!({"days": "abc"}), "days", "invalid_int"),
            (json!({"days": 1.5}), "days", "invalid_int"),
            (json!({"days": -1}), "days", "out_of_range"),
            (json!({"days": 100}), "days", "out_of_range"),
            (json!({"agree": "yes"}), "agree", "invalid_type"),
            (json!({"reason": "其他"}), "reason", "invalid_choice"),
            (json!({"proof": 3}), "proof", "invalid_type"),
            (json!({"position": "  "}), "position", "required"),
            (json!({"reason": "单位原因"}), "proof", "required"),
            (json!({"extra": 1}), "extra", "unknown_field"),
        ];
        for (changes, field, code) in cases {
            let e = single_error(changes.clone());
            assert_eq!(
                (e.field.as_str(), e.code.as_str()),
                (field, code),
                "{changes}"
            );
            if !e.label.is_empty() {
                assert!(
                    e.message.starts_with(&format!("{}：", e.label)),
                    "{}",
                    e.message
                );
            }
        }
        let e = form().validate(&json!([1, 2]), &tables()).unwrap_err();
        assert_eq!(codes(&e), vec![("", "form_not_object")]);
        assert_eq!(e[0].message, "表单数据应为 JSON 对象");
    }

    #[test]
    fn messages() {
        assert_eq!(
            single_error(json!({"position": ""})).message,
            "岗位名称：不能为空"
        );
        assert_eq!(
            single_error(json!({"position": "a".repeat(51)})).message,
            "岗位名称：不能超过50个字符"
        );
        assert_eq!(
            single_error(json!({"id_number": "110105194912310021"})).message,
            "身份证号：校验位错误"
        );
        assert_eq!(single_error(json!({"extra": 1})).message, "extra：未知字段");
        let e = single_error(json!({"reason": "单位原因"}));
        assert_eq!(
            e.message,
            "证明材料：不能为空（「原因」为“单位原因”时必填）"
        );
        let e = errors_for(with(json!({"mobile": ""})));
        assert_eq!(e.len(), 2);
        assert_eq!(
            e[0].message,
            "单位联系人手机：不能为空（与「单位联系人固定电话」至少填写一项）"
        );
    }

    #[test]
    fn multiple_errors_at_once() {
        let errs = errors_for(json!({"days": 500, "bogus": true, "mobile": "1"}));
        let got = codes(&errs);
        for want in [
            ("bogus", "unknown_field"),
            ("days", "out_of_range"),
            ("mobile", "mobile_format"),
            ("position", "required"),
            ("job_category", "required"),
            ("region", "required"),
            ("credit_code", "required"),
            ("reason", "required"),
        ] {
            assert!(got.contains(&want), "{want:?} missing in {got:?}");
        }
        // An invalid mobile is still present: the landline is not required.
        assert!(!got.contains(&("landline", "required")));
        // Both absent: both reported.
        let got = errors_for(with(json!({"mobile": null, "landline": null})));
        assert_eq!(
            codes(&got),
            vec![("mobile", "required"), ("landline", "required")]
        );
    }

    #[test]
    fn required_if_uses_invalid_raw_values_too() {
        let yaml = r#"
- {name: n, label: 数量, type: int, max: 5}
- {name: m, label: 金额, type: money, required_if: {field: n, in: [9, 3]}}
- {name: k, label: 备注, type: text, required_if: {field: m, in: [100]}}
"#;
        let f: Form = serde_norway::from_str(yaml).unwrap();
        let t = CodeTables::default();
        let e = f.validate(&json!({"n": 9}), &t).unwrap_err();
        assert_eq!(codes(&e), vec![("n", "out_of_range"), ("m", "required")]);
        let e = f.validate(&json!({"n": "3"}), &t).unwrap_err();
        assert_eq!(codes(&e), vec![("m", "required")]);
        let e = f.validate(&json!({"n": 1, "m": "100.0"}), &t).unwrap_err();
        assert_eq!(codes(&e), vec![("k", "required")]);
        assert!(f.validate(&json!({"n": 1, "m": "100.01"}), &t).is_ok());
        assert!(f.validate(&json!({}), &t).is_ok());
    }

    #[test]
    fn credit_code_checksum_warns() {
        let v = form()
            .validate(
                &with(json!({"credit_code": "91350100M000100Y44"})),
                &tables(),
            )
            .unwrap();
        assert_eq!(v.values["credit_code"], "91350100M000100Y44");
        assert_eq!(
            v.warnings,
            vec![FieldError {
                field: "credit_code".into(),
                label: "统一社会信用代码".into(),
                code: "credit_code_checksum".into(),
                message: "统一社会信用代码校验位不符，请核实单位信息".into(),
            }]
        );
    }

    #[test]
    fn region_rule() {
        let t = tables();
        assert_eq!(t.region_known("320000"), Some(true));
        assert_eq!(t.region_known("321302"), Some(true)); // province listed
        assert_eq!(t.region_known("110105"), Some(true)); // prefecture listed
        assert_eq!(t.region_known("110200"), Some(false));
        assert_eq!(t.region_known("350102"), Some(true)); // exact
        assert_eq!(t.region_known("350103"), Some(false));
        assert_eq!(t.region_known("35010"), Some(false));
        assert_eq!(CodeTables::default().region_known("320000"), None);
        assert_eq!(t.region_name("350102").as_deref(), Some("鼓楼区"));
        assert_eq!(CodeLookup::region_name(&t, "350103"), None);
        assert_eq!(t.label("job_category", "10").as_deref(), Some("公务员"));
        assert!(t.has_table("job_category"));
        assert!(!t.has_table("nope"));
        assert_eq!(
            t.table_entries("job_category")[1],
            ("20".into(), "科学研究人员".into())
        );
        assert!(t.table_entries("nope").is_empty());
    }

    #[test]
    fn schema() {
        let s = form().json_schema(&tables());
        assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
        assert_eq!(s["type"], "object");
        assert_eq!(s["additionalProperties"], false);
        assert_eq!(
            s["required"],
            json!([
                "position",
                "job_category",
                "region",
                "credit_code",
                "reason"
            ])
        );
        let p = &s["properties"];
        assert_eq!(p.as_object().unwrap().len(), 18);
        assert_eq!(
            p["position"],
            json!({"title": "岗位名称", "x-kind": "text", "type": "string", "maxLength": 50})
        );
        assert_eq!(p["job_category"]["enum"], json!(["10", "20"]));
        assert_eq!(p["job_category"]["x-labels"]["10"], "公务员");
        assert_eq!(p["report_date"]["format"], "date");
        assert_eq!(p["mobile"]["pattern"], r"^1[3-9]\d{9}$");
        assert_eq!(p["id_number"]["pattern"], r"^\d{17}[\dXx]$");
        assert_eq!(p["days"]["type"], "integer");
        assert_eq!(p["days"]["maximum"], 99);
        assert_eq!(p["agree"]["type"], "boolean");
        assert_eq!(p["reason"]["enum"], json!(["个人原因", "单位原因"]));
        assert_eq!(p["proof"]["x-accept"], json!(["png", "jpg"]));
        assert_eq!(p["note"]["x-multiline"], true);
        assert_eq!(p["note"]["description"], "可选");
        assert_eq!(
            s["x-required-unless"],
            json!({"mobile": "landline", "landline": "mobile"})
        );
        assert_eq!(
            s["x-required-if"],
            json!({"proof": {"field": "reason", "in": ["单位原因"]}})
        );
        let empty = Form::default().json_schema(&tables());
        assert!(empty.get("x-required-if").is_none());
        assert_eq!(empty["required"], json!([]));
    }

    #[test]
    fn check_clean_form() {
        assert_eq!(form().check(&tables()), Vec::<String>::new());
    }

    #[test]
    fn check_finds_static_problems() {
        let yaml = r#"
- {name: a, label: A, type: text}
- {name: a, label: A2, type: text, max: 0}
- {name: c, label: C, type: code, table: nope}
- {name: u, label: U, type: mobile, required_unless: ghost}
- {name: s, label: S, type: mobile, required_unless: s}
- {name: r, label: R, type: text, required_if: {field: ghost, in: [x]}}
- {name: n, label: N, type: int, min: 5, max: 1}
- {name: ch, label: CH, type: choice, options: []}
- {name: ch2, label: CH2, type: choice, options: [x, x, ""]}
- {name: q, label: Q, type: text, required_if: {field: ch2, in: [y]}}
- {name: z, label: Z, type: text, required_if: {field: q, in: []}}
- {name: bad-name, label: " ", type: text, required: true, required_unless: a}
"#;
        let f: Form = serde_norway::from_str(yaml).unwrap();
        let problems = f.check(&tables());
        let expect = [
            "字段名 a 重复",
            "字段 a：max 必须大于0",
            "字段 c：代码表 nope 不存在",
            "字段 u：required_unless 引用了不存在的字段 ghost",
            "字段 s：required_unless 不能引用自身",
            "字段 r：required_if 引用了不存在的字段 ghost",
            "字段 n：min（5）大于 max（1）",
            "字段 ch：options 不能为空",
            "字段 ch2：options 中 x 重复",
            "字段 ch2：options 中不能有空选项",
            "字段 q：required_if 的取值 \"y\" 不是字段 ch2 的选项",
            "字段 z：required_if 的 in 不能为空",
            "字段名 \"bad-name\" 只能由字母、数字和下划线组成",
            "字段 bad-name：label 不能为空",
            "字段 bad-name：required 为 true 时不应再设置 required_unless 或 required_if",
        ];
        for e in expect {
            assert!(
                problems.iter().any(|p| p == e),
                "missing {e:?} in {problems:#?}"
            );
        }
        assert_eq!(problems.len(), expect.len(), "{problems:#?}");
    }

    const VARIANTS: &str = r#"
fields:
  - {name: kind, label: 去向, type: choice, options: [升学, 出国, 待就业], required: true}
variants:
  by: kind
  forms:
    升学:
      - {name: school_name, label: 升学院校, type: text, required: true}
      - {name: major, label: 专业, type: text}
    出国:
      - {name: country, label: 国家或地区, type: text, required: true}
"#;

    #[test]
    fn variants_are_validated_per_selected_value() {
        let f: Form = serde_norway::from_str(VARIANTS).unwrap();
        assert!(f.check(&tables()).is_empty(), "{:?}", f.check(&tables()));
        let ok = f
            .validate(
                &json!({"kind": "升学", "school_name": "南京大学"}),
                &tables(),
            )
            .unwrap();
        assert_eq!(ok.values["school_name"], "南京大学");
        // The variant's required field, and a field of another variant.
        let errs = f
            .validate(&json!({"kind": "升学", "country": "日本"}), &tables())
            .unwrap_err();
        let codes: Vec<(&str, &str)> = errs
            .iter()
            .map(|e| (e.field.as_str(), e.code.as_str()))
            .collect();
        assert_eq!(
            codes,
            [("country", "unknown_field"), ("school_name", "required")]
        );
        // A value without fields of its own asks for the common fields only.
        assert!(f.validate(&json!({"kind": "待就业"}), &tables()).is_ok());
        // No value: the selecting field is required, nothing else is asked.
        let errs = f.validate(&json!({}), &tables()).unwrap_err();
        assert_eq!(errs[0].field, "kind");
        // All fields of every variant, once.
        let names: Vec<&str> = f.all_fields().iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["kind", "country", "school_name", "major"]);
        // The YAML shape survives a round trip.
        let back: Form = serde_norway::from_str(&serde_norway::to_string(&f).unwrap()).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn variants_export_one_of_with_a_discriminator() {
        let f: Form = serde_norway::from_str(VARIANTS).unwrap();
        let s = f.json_schema(&tables());
        assert_eq!(s["discriminator"]["propertyName"], "kind");
        assert_eq!(s["unevaluatedProperties"], false);
        assert!(s.get("additionalProperties").is_none());
        let one_of = s["oneOf"].as_array().unwrap();
        assert_eq!(one_of.len(), 3, "two variants and the rest");
        let study = one_of
            .iter()
            .find(|b| b["properties"]["kind"]["const"] == "升学")
            .unwrap();
        assert_eq!(study["required"], json!(["kind", "school_name"]));
        assert_eq!(study["properties"]["school_name"]["title"], "升学院校");
        assert_eq!(
            one_of[2]["properties"]["kind"]["not"]["enum"],
            json!(["出国", "升学"])
        );
    }

    #[test]
    fn variant_declarations_are_checked() {
        let bad = VARIANTS
            .replace("by: kind", "by: knd")
            .replace("    出国:", "    留学:");
        let f: Form = serde_norway::from_str(&bad).unwrap();
        let problems = f.check(&tables());
        assert!(
            problems.iter().any(|p| p.contains("knd 不在 fields 中")),
            "{problems:?}"
        );
        let f: Form = serde_norway::from_str(&VARIANTS.replace("    出国:", "    留学:")).unwrap();
        let problems = f.check(&tables());
        assert!(
            problems
                .iter()
                .any(|p| p.contains("留学 不是字段 kind 的选项")),
            "{problems:?}"
        );
        // A variant may not declare a common field again.
        let dup = VARIANTS.replace("{name: country,", "{name: kind,");
        let f: Form = serde_norway::from_str(&dup).unwrap();
        let problems = f.check(&tables());
        assert!(
            problems
                .iter()
                .any(|p| p.contains("变体 出国") && p.contains("重复")),
            "{problems:?}"
        );
    }
}
