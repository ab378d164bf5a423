//! 数据统计: real-time counts for signing, destination, archive, hukou and confirmation, by
//! school, department, major or education level, read from the counters the transitions keep
//! (`stat_counts`, `store::counters`) — a few thousand rows for a province, never its
//! instances. What a column counts is read from the definitions (a state's label, whether it
//! is final and holds the flow's slot, its registration status) and from the destination-type
//! catalogue (category, employed), so a flow or type added as data is counted without code.

use std::collections::{BTreeMap, HashMap};

use gradflow_engine::definition::{Module, StateKind};
use gradflow_engine::registry::Snapshot;
use poem_openapi::Object;
use sea_orm::{ConnectionTrait, Value};

use crate::auth::{AccountRole, Caller};
use crate::error::{ApiError, ApiResult};
use crate::service::AppState;
use crate::store::counters::ROSTER;

/// What is counted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Subject {
    /// 签约: the signing lists (在线签约、线下签约、补登), per status.
    Signing,
    /// 毕业去向: each graduate's destination — reported by category, under review, not
    /// reported — with the employment rate.
    Destination,
    /// 档案信息: registered, under review, not registered.
    Archive,
    /// 户口信息: the same for hukou.
    Hukou,
    /// 去向登记确认: unconfirmed, correct, incorrect, not reported.
    Confirmation,
}

impl Subject {
    pub const ALL: [&'static str; 5] =
        ["signing", "destination", "archive", "hukou", "confirmation"];

    pub fn parse(s: &str) -> ApiResult<Subject> {
        Ok(match s {
            "signing" => Subject::Signing,
            "destination" => Subject::Destination,
            "archive" => Subject::Archive,
            "hukou" => Subject::Hukou,
            "confirmation" => Subject::Confirmation,
            _ => {
                return Err(ApiError::not_found(format!(
                    "没有名为 {s} 的统计（可选：{}）",
                    Subject::ALL.join("、")
                )))
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        Subject::ALL[self as usize]
    }

    pub fn title(self) -> &'static str {
        match self {
            Subject::Signing => "签约情况统计",
            Subject::Destination => "毕业去向统计",
            Subject::Archive => "档案信息登记统计",
            Subject::Hukou => "户口信息登记统计",
            Subject::Confirmation => "去向登记确认统计",
        }
    }

    pub fn module(self) -> Module {
        match self {
            Subject::Archive => Module::Archive,
            Subject::Hukou => Module::Hukou,
            _ => Module::Employment,
        }
    }

    /// The management lists whose flows are counted.
    fn lists(self) -> &'static [&'static str] {
        match self {
            Subject::Signing => &["signing", "supplement"],
            Subject::Destination => &["signing", "supplement", "destination"],
            Subject::Archive => &["archive"],
            Subject::Hukou => &["hukou"],
            Subject::Confirmation => &["confirmation"],
        }
    }

    /// The slot a graduate's status in this subject is held by (one holder per graduate).
    fn slot(self) -> Option<&'static str> {
        match self {
            Subject::Signing => None,
            Subject::Destination => Some("agreement"),
            Subject::Archive => Some("archive"),
            Subject::Hukou => Some("hukou"),
            Subject::Confirmation => Some("confirmation"),
        }
    }
}

/// What the rows are per.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum By {
    School,
    Department,
    Major,
    EducationLevel,
}

impl By {
    pub const ALL: [&'static str; 4] = ["school", "department", "major", "education_level"];

    fn parse(s: &str) -> ApiResult<By> {
        Ok(match s {
            "school" => By::School,
            "department" => By::Department,
            "major" => By::Major,
            "education_level" => By::EducationLevel,
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_filter",
                    format!("by：分组只能是 {}", By::ALL.join("、")),
                ))
            }
        })
    }

    fn label(self) -> &'static str {
        match self {
            By::School => "学校",
            By::Department => "院系",
            By::Major => "专业",
            By::EducationLevel => "学历层次",
        }
    }

    fn column(self) -> &'static str {
        match self {
            By::School => "school_id",
            By::Department => "department",
            By::Major => "major",
            By::EducationLevel => "education_level",
        }
    }
}

/// The request: what, per what, which cohort, and an optional narrowing.
#[derive(Default)]
pub struct StatsQuery {
    pub by: Option<String>,
    pub cohort: Option<i32>,
    /// A province's narrowing to one of its schools.
    pub school_id: Option<i64>,
    /// A school's narrowing to one department.
    pub department: Option<String>,
}

/// A column of the table.
#[derive(Object, Clone, serde::Serialize)]
pub struct StatColumn {
    /// Stable key (`reported:其他就业`, `state:签约审核通过`, `unreported`…).
    pub key: String,
    /// As users read it.
    pub label: String,
}

/// One row of the table (a school, a department, a major or an education level), or the
/// total.
#[derive(Object, Clone, serde::Serialize)]
pub struct StatRow {
    /// The school's id, the department's or major's name, the education level's code; empty
    /// for the total.
    pub key: String,
    /// As users read it (合计 for the total).
    pub label: String,
    /// 毕业生人数: graduates on the roster.
    pub graduates: i64,
    /// One count per column, in the columns' order.
    pub counts: Vec<i64>,
    /// 就业人数 (destination only): graduates whose reported destination counts as employed.
    #[oai(skip_serializing_if_is_none)]
    pub employed: Option<i64>,
    /// 就业率 (destination only): employed ÷ graduates, 0–1 (4 decimals).
    #[oai(skip_serializing_if_is_none)]
    pub employment_rate: Option<f64>,
    /// The rate as users read it (`85.20%`).
    #[oai(skip_serializing_if_is_none)]
    pub employment_rate_label: Option<String>,
}

/// Instances of one flow in one state, over the whole scope.
#[derive(Object, Clone, serde::Serialize)]
pub struct StateTotal {
    pub flow: String,
    /// The flow's title.
    pub flow_title: String,
    pub state: String,
    pub label: String,
    pub count: i64,
}

/// Reported destinations of one type, over the whole scope (destination only).
#[derive(Object, Clone, serde::Serialize)]
pub struct TypeTotal {
    /// The type's code (the signing flows: the flow's key).
    pub code: String,
    pub label: String,
    /// Its category (签就业协议形式就业、其他就业、升学、未就业).
    pub category: String,
    /// Whether it counts as employed.
    pub employed: bool,
    pub count: i64,
}

/// Which modules a school of the province enabled (the province's statistics).
#[derive(Object, Clone, serde::Serialize)]
pub struct SchoolModules {
    pub school_id: i64,
    pub code: String,
    pub name: String,
    /// 在线签约.
    pub online_signing: bool,
    /// 补登.
    pub paper_supplement: bool,
    /// 去向登记.
    pub destination_registration: bool,
    /// 档案信息登记.
    pub archive_registration: bool,
    /// 户口信息登记.
    pub hukou_registration: bool,
}

/// A statistics table.
#[derive(Object, Clone, serde::Serialize)]
pub struct Statistics {
    /// `signing`, `destination`, `archive`, `hukou` or `confirmation`.
    pub subject: String,
    pub title: String,
    /// The graduating year counted.
    pub cohort: i32,
    /// `school`, `department`, `major` or `education_level`.
    pub by: String,
    /// What the rows are per, as users read it.
    pub by_label: String,
    pub columns: Vec<StatColumn>,
    pub rows: Vec<StatRow>,
    pub total: StatRow,
    /// Per flow and state (every instance, whatever its graduate's status).
    pub states: Vec<StateTotal>,
    /// Per destination type (destination only; empty otherwise).
    pub types: Vec<TypeTotal>,
    /// The province's schools and the modules each enabled (the province only).
    pub schools: Vec<SchoolModules>,
}

/// How a counted (flow, state, type) adds to a row: the column it falls in (`None`: only the
/// state totals), and whether it counts as employed.
struct Place {
    column: Option<String>,
    employed: bool,
    /// A reported destination's type: `(code, label, category)` (the signing flows: the
    /// flow's key and title).
    kind: Option<(String, String, String)>,
}

impl Place {
    /// A count in `column` (none: only the state totals), not employed, no type.
    fn at(column: Option<String>) -> Place {
        Place {
            column,
            employed: false,
            kind: None,
        }
    }
}

/// The subject's columns, in order.
fn columns(snap: &Snapshot, subject: Subject) -> Vec<StatColumn> {
    let col = |key: &str, label: &str| StatColumn {
        key: key.into(),
        label: label.into(),
    };
    match subject {
        Subject::Signing => {
            let mut out: Vec<StatColumn> = Vec::new();
            for d in flows(snap, subject) {
                for st in d.def.states.values() {
                    let key = format!("state:{}", st.label);
                    if !out.iter().any(|c| c.key == key) {
                        out.push(col(&key, &st.label));
                    }
                }
            }
            out
        }
        Subject::Destination => {
            let mut out = vec![col(
                &format!("reported:{AGREEMENT_CATEGORY}"),
                &format!("已上报：{AGREEMENT_CATEGORY}"),
            )];
            if let Some(cat) = snap.catalogue("destination_type") {
                for e in &cat.entries {
                    if let Some(c) = e.attributes.get("category").and_then(|v| v.as_str()) {
                        let key = format!("reported:{c}");
                        if !out.iter().any(|x| x.key == key) {
                            out.push(col(&key, &format!("已上报：{c}")));
                        }
                    }
                }
            }
            out.push(col("reviewing", "审核中"));
            out.push(col("unreported", "未上报"));
            out
        }
        Subject::Archive | Subject::Hukou => vec![
            col("registered", "已登记"),
            col("reviewing", "审核中"),
            col("unregistered", "未登记"),
        ],
        Subject::Confirmation => vec![
            col("state:未确认", "未确认"),
            col("state:确认无误", "确认无误"),
            col("state:确认有误", "确认有误"),
            col("unreported", "未上报"),
        ],
    }
}

/// The category of agreement employment (national code 10): what the signing flows register
/// (SPEC.md 6.1); the destination catalogue holds the other categories.
const AGREEMENT_CATEGORY: &str = "签就业协议形式就业";

/// The column a graduate falls in when no holder counts them.
fn remainder(subject: Subject) -> Option<&'static str> {
    match subject {
        Subject::Signing => None,
        Subject::Destination | Subject::Confirmation => Some("unreported"),
        Subject::Archive | Subject::Hukou => Some("unregistered"),
    }
}

/// Every loaded definition of the subject's lists, one per key (the newest version first).
fn flows(snap: &Snapshot, subject: Subject) -> Vec<&gradflow_engine::registry::LoadedDefinition> {
    let mut out: Vec<&gradflow_engine::registry::LoadedDefinition> = Vec::new();
    for d in snap.definitions() {
        if d.def
            .list
            .as_deref()
            .is_some_and(|l| subject.lists().contains(&l))
            && !out.iter().any(|o| o.def.key == d.def.key)
        {
            out.push(d);
        }
    }
    out
}

/// Where instances of `def_key` in `state` of type `type_code` are counted.
fn place(snap: &Snapshot, subject: Subject, def_key: &str, state: &str, type_code: &str) -> Place {
    let none = Place::at(None);
    let Some((def, st)) = snap
        .definitions()
        .filter(|d| d.def.key == def_key)
        .find_map(|d| d.def.states.get(state).map(|st| (d, st)))
    else {
        return none;
    };
    let holds = subject
        .slot()
        .is_some_and(|s| st.holds.iter().any(|h| h == s));
    match subject {
        Subject::Signing => Place::at(Some(format!("state:{}", st.label))),
        Subject::Destination if holds => {
            if st.kind != StateKind::Final {
                return Place::at(Some("reviewing".into()));
            }
            let list_type = def.def.list_type.as_deref();
            let (category, employed) = category_of(snap, list_type, type_code);
            let (code, label) = match list_type.filter(|_| !type_code.is_empty()) {
                Some(lt) => (
                    type_code.to_string(),
                    snap.catalogue(lt)
                        .and_then(|c| c.entry(type_code))
                        .map(|e| e.label.clone())
                        .unwrap_or_else(|| type_code.to_string()),
                ),
                None => (def.def.key.clone(), def.def.title.clone()),
            };
            Place {
                column: Some(format!("reported:{category}")),
                employed,
                kind: Some((code, label, category)),
            }
        }
        Subject::Archive | Subject::Hukou if holds => {
            Place::at(st.registration.map(|r| r.as_str().to_string()))
        }
        Subject::Confirmation if holds => {
            let key = format!("state:{}", st.label);
            Place::at((st.label != "未上报" && st.label != "已失效").then_some(key))
        }
        _ => none,
    }
}

/// A destination type's category and whether it counts as employed; agreement employment for
/// an untyped flow (the signing flows).
fn category_of(snap: &Snapshot, catalogue: Option<&str>, type_code: &str) -> (String, bool) {
    let entry = catalogue
        .filter(|_| !type_code.is_empty())
        .and_then(|c| snap.catalogue(c))
        .and_then(|c| c.entry(type_code));
    match entry {
        Some(e) => (
            e.attributes
                .get("category")
                .and_then(|v| v.as_str())
                .unwrap_or("其他")
                .to_string(),
            e.attributes
                .get("employed")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
        ),
        None => (AGREEMENT_CATEGORY.to_string(), true),
    }
}

/// The caller's scope as a WHERE clause on `stat_counts`, and the school the caller is in.
fn scope(c: &Caller, q: &StatsQuery) -> ApiResult<(String, Vec<Value>)> {
    let a = &c.actor;
    Ok(match c.role {
        AccountRole::Province => {
            let mut sql = "province_code = ?".to_string();
            let mut v: Vec<Value> = vec![a.province.clone().unwrap_or_default().into()];
            if let Some(s) = q.school_id {
                sql.push_str(" AND school_id = ?");
                v.push(s.into());
            }
            if let Some(d) = &q.department {
                sql.push_str(" AND department = ?");
                v.push(d.clone().into());
            }
            (sql, v)
        }
        AccountRole::School => {
            let mut sql = "school_id = ?".to_string();
            let mut v: Vec<Value> = vec![a.school_id.unwrap_or(-1).into()];
            if let Some(d) = &q.department {
                sql.push_str(" AND department = ?");
                v.push(d.clone().into());
            }
            (sql, v)
        }
        AccountRole::Department => (
            "school_id = ? AND department = ?".into(),
            vec![
                a.school_id.unwrap_or(-1).into(),
                a.department.clone().unwrap_or_default().into(),
            ],
        ),
        _ => return Err(ApiError::forbidden("数据统计只对省级、学校和院系用户开放")),
    })
}

/// The statistics table `subject` for the caller.
pub async fn table(
    state: &AppState,
    c: &Caller,
    subject: Subject,
    q: &StatsQuery,
) -> ApiResult<Statistics> {
    c.require_view(subject.module())?;
    let by = match &q.by {
        Some(b) => By::parse(b)?,
        None if c.role == AccountRole::Province && q.school_id.is_none() => By::School,
        None => By::Department,
    };
    if c.role != AccountRole::Province && q.school_id.is_some() {
        return Err(ApiError::bad_request(
            "invalid_filter",
            "school_id：只有省级用户可以按学校筛选",
        ));
    }
    let cohort = q
        .cohort
        .unwrap_or_else(|| crate::scope::current_cohort(state.clock.now()));
    let snap = state.registry.snapshot();
    let cols = columns(&snap, subject);
    let defs = flows(&snap, subject);
    let mut keys: Vec<String> = defs.iter().map(|d| d.def.key.clone()).collect();
    keys.push(ROSTER.to_string());
    // A counter's type matters only where a type is counted (a destination in force, see
    // [`place`]); everywhere else the types are summed in SQL (a province's destination
    // statistics read a quarter of the rows). Every definition version of a key counts.
    let mut typed: Vec<String> = Vec::new();
    if subject == Subject::Destination {
        for d in snap.definitions().filter(|d| keys.contains(&d.def.key)) {
            for (name, st) in &d.def.states {
                let holds = subject
                    .slot()
                    .is_some_and(|slot| st.holds.iter().any(|h| h == slot));
                let key = format!("{}.{name}", d.def.key);
                if d.def.list_type.is_some()
                    && holds
                    && st.kind == StateKind::Final
                    && !typed.contains(&key)
                {
                    typed.push(key);
                }
            }
        }
    }
    let (scope_sql, mut values) = scope(c, q)?;
    // The school grain answers per school; a department narrowing needs the detail grain.
    let grain: i16 = if by == By::School && q.department.is_none() {
        0
    } else {
        1
    };
    let dim = by.column();
    let type_code = if typed.is_empty() {
        "''".to_string()
    } else {
        format!(
            "CASE WHEN def_key || '.' || state IN ({}) THEN type_code ELSE '' END",
            vec!["?"; typed.len()].join(", ")
        )
    };
    let sql = format!(
        "SELECT {dim} AS k, def_key, state, {type_code} AS type_code, CAST(SUM(n) AS BIGINT) AS n \
         FROM stat_counts WHERE {scope_sql} AND grain = ? AND cohort = ? AND def_key IN ({}) \
         GROUP BY 1, 2, 3, 4",
        vec!["?"; keys.len()].join(", ")
    );
    // The placeholders in order: the type's (in the select list), the scope's, the rest.
    values.splice(0..0, typed.into_iter().map(Value::from));
    values.push(grain.into());
    values.push(cohort.into());
    values.extend(keys.into_iter().map(Value::from));
    let db = &state.db;
    let rows = db.conn.query_all(db.stmt(&sql, values)).await?;

    // Fold: per row key, the roster and each column.
    let index: HashMap<&str, usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| (c.key.as_str(), i))
        .collect();
    let mut places: HashMap<(String, String, String), Place> = HashMap::new();
    let mut per: BTreeMap<String, (i64, Vec<i64>, i64)> = BTreeMap::new();
    let mut states: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut types: BTreeMap<String, (String, String, bool, i64)> = BTreeMap::new();
    for r in rows {
        let k: String = match by {
            By::School => r.try_get::<i64>("", "k")?.to_string(),
            _ => r.try_get::<String>("", "k")?,
        };
        let def_key: String = r.try_get("", "def_key")?;
        let st: String = r.try_get("", "state")?;
        let ty: String = r.try_get("", "type_code")?;
        let n: i64 = r.try_get("", "n")?;
        if n == 0 {
            continue;
        }
        let e = per.entry(k).or_insert_with(|| (0, vec![0; cols.len()], 0));
        if def_key == ROSTER {
            e.0 += n;
            continue;
        }
        *states.entry((def_key.clone(), st.clone())).or_default() += n;
        let p = places
            .entry((def_key.clone(), st.clone(), ty.clone()))
            .or_insert_with(|| place(&snap, subject, &def_key, &st, &ty));
        if let Some(i) = p.column.as_deref().and_then(|c| index.get(c)) {
            e.1[*i] += n;
            if p.employed {
                e.2 += n;
            }
            if let Some((code, label, category)) = &p.kind {
                let t = types
                    .entry(code.clone())
                    .or_insert_with(|| (label.clone(), category.clone(), p.employed, 0));
                t.3 += n;
            }
        }
    }
    let rem = remainder(subject).and_then(|r| index.get(r).copied());
    let labels = row_labels(state, c, by, per.keys()).await?;
    let make =
        |key: String, label: String, (graduates, mut counts, employed): (i64, Vec<i64>, i64)| {
            if let Some(i) = rem {
                let counted: i64 = counts
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, n)| n)
                    .sum();
                counts[i] = (graduates - counted).max(0);
            }
            let rate = (subject == Subject::Destination).then(|| {
                if graduates == 0 {
                    0.0
                } else {
                    (employed as f64 / graduates as f64 * 10000.0).round() / 10000.0
                }
            });
            StatRow {
                key,
                label,
                graduates,
                counts,
                employed: (subject == Subject::Destination).then_some(employed),
                employment_rate_label: rate.map(|r| format!("{:.2}%", r * 100.0)),
                employment_rate: rate,
            }
        };
    let mut sum = (0i64, vec![0i64; cols.len()], 0i64);
    let mut out_rows = Vec::with_capacity(per.len());
    for (k, v) in per {
        sum.0 += v.0;
        sum.2 += v.2;
        for (a, b) in sum.1.iter_mut().zip(&v.1) {
            *a += b;
        }
        let label = labels.get(&k).cloned().unwrap_or_else(|| k.clone());
        out_rows.push(make(k, label, v));
    }
    out_rows.sort_by(|a, b| a.label.cmp(&b.label));
    let total = make(String::new(), "合计".into(), sum);
    let states = states
        .into_iter()
        .map(|((flow, st), count)| {
            let def = snap.definitions().find(|d| d.def.key == flow);
            StateTotal {
                flow_title: def.map(|d| d.def.title.clone()).unwrap_or_default(),
                label: def
                    .and_then(|d| d.def.states.get(&st))
                    .map(|s| s.label.clone())
                    .unwrap_or_else(|| st.clone()),
                flow,
                state: st,
                count,
            }
        })
        .collect();
    let types = types
        .into_iter()
        .map(|(code, (label, category, employed, count))| TypeTotal {
            code,
            label,
            category,
            employed,
            count,
        })
        .collect();
    let schools = if c.role == AccountRole::Province {
        school_modules(state, c).await?
    } else {
        Vec::new()
    };
    Ok(Statistics {
        subject: subject.as_str().into(),
        title: subject.title().into(),
        cohort,
        by: By::ALL[by as usize].into(),
        by_label: by.label().into(),
        columns: cols,
        rows: out_rows,
        total,
        states,
        types,
        schools,
    })
}

/// The labels of the rows' keys: school names, education levels' names.
async fn row_labels<'a>(
    state: &AppState,
    c: &Caller,
    by: By,
    keys: impl Iterator<Item = &'a String>,
) -> ApiResult<HashMap<String, String>> {
    Ok(match by {
        By::School => {
            let province = c.actor.province.clone().unwrap_or_default();
            let mut out = HashMap::new();
            if c.role == AccountRole::Province {
                for s in super::settings::schools_of_province(state, &province).await? {
                    out.insert(s.id.to_string(), s.name);
                }
            } else if let Some(id) = c.actor.school_id {
                let s = super::bootstrap::find_school(state, id).await?;
                out.insert(s.id.to_string(), s.name);
            }
            out
        }
        By::EducationLevel => {
            let snap = state.registry.snapshot();
            keys.map(|k| {
                let label = snap
                    .code_lookup()
                    .label("education_level", k)
                    .unwrap_or_else(|| k.clone());
                (k.clone(), label)
            })
            .collect()
        }
        _ => HashMap::new(),
    })
}

/// The province's schools and what each enabled.
async fn school_modules(state: &AppState, c: &Caller) -> ApiResult<Vec<SchoolModules>> {
    let province = c.actor.province.clone().unwrap_or_default();
    Ok(super::settings::schools_of_province(state, &province)
        .await?
        .into_iter()
        .map(|s| SchoolModules {
            school_id: s.id,
            code: s.code,
            name: s.name,
            online_signing: s.signing_enabled,
            paper_supplement: s.supplement_enabled,
            destination_registration: s.destination_enabled,
            archive_registration: s.archive_enabled,
            hukou_registration: s.hukou_enabled,
        })
        .collect())
}

/// The table as a workbook: the table, the states, the types, the schools' modules.
pub fn xlsx(t: &Statistics) -> ApiResult<Vec<u8>> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let pct = Format::new().set_num_format("0.00%");
    let err = |e: rust_xlsxwriter::XlsxError| ApiError::internal(e.to_string());
    {
        let ws = wb.add_worksheet();
        ws.set_name(t.title.as_str()).map_err(err)?;
        let mut head: Vec<String> = vec![t.by_label.clone(), "毕业生人数".into()];
        head.extend(t.columns.iter().map(|c| c.label.clone()));
        let destination = t.total.employed.is_some();
        if destination {
            head.push("就业人数".into());
            head.push("就业率".into());
        }
        for (j, h) in head.iter().enumerate() {
            ws.write_string_with_format(0, j as u16, h, &bold)
                .map_err(err)?;
            ws.set_column_width(
                j as u16,
                (crate::export::display_width(h) + 2).max(10) as f64,
            )
            .map_err(err)?;
        }
        for (i, r) in t.rows.iter().chain(std::iter::once(&t.total)).enumerate() {
            let row = (i + 1) as u32;
            ws.write_string(row, 0, &r.label).map_err(err)?;
            ws.write_number(row, 1, r.graduates as f64).map_err(err)?;
            for (j, n) in r.counts.iter().enumerate() {
                ws.write_number(row, (j + 2) as u16, *n as f64)
                    .map_err(err)?;
            }
            if destination {
                let j = (r.counts.len() + 2) as u16;
                ws.write_number(row, j, r.employed.unwrap_or(0) as f64)
                    .map_err(err)?;
                ws.write_number_with_format(row, j + 1, r.employment_rate.unwrap_or(0.0), &pct)
                    .map_err(err)?;
            }
        }
    }
    {
        let ws = wb.add_worksheet();
        ws.set_name("按流程和状态").map_err(err)?;
        for (j, h) in ["流程", "状态", "数量"].iter().enumerate() {
            ws.write_string_with_format(0, j as u16, *h, &bold)
                .map_err(err)?;
        }
        ws.set_column_width(0, 24).map_err(err)?;
        ws.set_column_width(1, 36).map_err(err)?;
        for (i, s) in t.states.iter().enumerate() {
            let row = (i + 1) as u32;
            ws.write_string(row, 0, &s.flow_title).map_err(err)?;
            ws.write_string(row, 1, &s.label).map_err(err)?;
            ws.write_number(row, 2, s.count as f64).map_err(err)?;
        }
    }
    if !t.types.is_empty() {
        let ws = wb.add_worksheet();
        ws.set_name("按毕业去向类型").map_err(err)?;
        for (j, h) in ["去向类别", "毕业去向", "是否计为就业", "人数"]
            .iter()
            .enumerate()
        {
            ws.write_string_with_format(0, j as u16, *h, &bold)
                .map_err(err)?;
        }
        ws.set_column_width(0, 20).map_err(err)?;
        ws.set_column_width(1, 30).map_err(err)?;
        for (i, s) in t.types.iter().enumerate() {
            let row = (i + 1) as u32;
            ws.write_string(row, 0, &s.category).map_err(err)?;
            ws.write_string(row, 1, &s.label).map_err(err)?;
            ws.write_string(row, 2, if s.employed { "是" } else { "否" })
                .map_err(err)?;
            ws.write_number(row, 3, s.count as f64).map_err(err)?;
        }
    }
    if !t.schools.is_empty() {
        let ws = wb.add_worksheet();
        ws.set_name("学校功能开通情况").map_err(err)?;
        let head = [
            "学校代码",
            "学校名称",
            "在线签约",
            "补登",
            "去向登记",
            "档案信息登记",
            "户口信息登记",
        ];
        for (j, h) in head.iter().enumerate() {
            ws.write_string_with_format(0, j as u16, *h, &bold)
                .map_err(err)?;
        }
        ws.set_column_width(1, 30).map_err(err)?;
        let yes = |b: bool| if b { "已开通" } else { "未开通" };
        for (i, s) in t.schools.iter().enumerate() {
            let row = (i + 1) as u32;
            ws.write_string(row, 0, &s.code).map_err(err)?;
            ws.write_string(row, 1, &s.name).map_err(err)?;
            for (j, b) in [
                s.online_signing,
                s.paper_supplement,
                s.destination_registration,
                s.archive_registration,
                s.hukou_registration,
            ]
            .into_iter()
            .enumerate()
            {
                ws.write_string(row, (j + 2) as u16, yes(b)).map_err(err)?;
            }
        }
    }
    wb.save_to_buffer().map_err(err)
}

/// The printable page: the table, and a stacked bar per row drawn as SVG on the server.
pub fn page(
    state: &AppState,
    t: &Statistics,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<String> {
    const PALETTE: [&str; 8] = [
        "#2f6fb3", "#4aa36c", "#e0a21b", "#c8553d", "#7b5ea7", "#3ba3a3", "#8c8c8c", "#b35c8a",
    ];
    const WIDTH: f64 = 460.0;
    let max = t
        .rows
        .iter()
        .map(|r| r.counts.iter().sum::<i64>().max(r.graduates))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let bars: Vec<serde_json::Value> = t
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut x = 0.0;
            let parts: Vec<serde_json::Value> = r
                .counts
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(j, n)| {
                    let w = *n as f64 / max * WIDTH;
                    let part = serde_json::json!({
                        "x": format!("{:.1}", 160.0 + x),
                        "w": format!("{:.1}", w),
                        "color": PALETTE[j % PALETTE.len()],
                        "title": format!("{}：{}", t.columns[j].label, n),
                    });
                    x += w;
                    part
                })
                .collect();
            serde_json::json!({
                "y": 24 * i + 8,
                "ty": 24 * i + 22,
                "label": r.label,
                "parts": parts,
                "total": r.counts.iter().sum::<i64>(),
                "tx": format!("{:.1}", 166.0 + x),
            })
        })
        .collect();
    let legend: Vec<serde_json::Value> = t
        .columns
        .iter()
        .enumerate()
        .map(|(j, c)| serde_json::json!({"label": c.label, "color": PALETTE[j % PALETTE.len()]}))
        .collect();
    let data = serde_json::json!({
        "stats": t,
        "chart": {
            "height": 24 * t.rows.len() + 16,
            "bars": bars,
            "legend": legend,
        },
        "generated_at": crate::store::china_minute(now),
    });
    state
        .registry
        .snapshot()
        .render("pages/statistics", &data)
        .map_err(ApiError::internal)
}
