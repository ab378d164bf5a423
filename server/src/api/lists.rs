//! The management lists of the guides (在线签约管理 `signing`, 补登管理 `supplement`, 解约管理
//! `termination`, and any list a definition names) with their default status filters, the
//! initiator filter and the graduate filters of SPEC.md 5, and their two exports: 下载当前查询数据
//! (the current query as XLSX) and 导出退回修改学生名单 (the items waiting after a 退回修改).

use std::collections::HashMap;

use gradflow_engine::definition::Module;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json, Response};
use poem_openapi::OpenApi;
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Select,
};
use serde_json::{json, Map, Value};

use super::flows::instance_views;
use super::{caller, Tag, Token};
use crate::auth::{AccountRole, Caller};
use crate::entity::{employer, graduate, instance};
use crate::error::{ApiError, ApiResult};
use crate::service::State;

/// At most this many rows go into one export.
const MAX_EXPORT: u64 = 100_000;

/// The filters of a management list, as query parameters.
#[derive(Default)]
struct Filter {
    initiator: Option<String>,
    department: Option<String>,
    /// major, education level, candidate number, name, ID number (see [`GRADUATE_FILTERS`]).
    graduate: [Option<String>; 5],
}

impl Filter {
    fn new(
        initiator: Option<String>,
        department: Option<String>,
        major: Option<String>,
        education_level: Option<String>,
        candidate_no: Option<String>,
        name: Option<String>,
        id_number: Option<String>,
    ) -> Filter {
        Filter {
            initiator,
            department,
            graduate: [major, education_level, candidate_no, name, id_number],
        }
    }
}

/// The graduate columns the list filters by, in the order of [`Filter::graduate`].
const GRADUATE_FILTERS: [graduate::Column; 5] = [
    graduate::Column::Major,
    graduate::Column::EducationLevel,
    graduate::Column::CandidateNo,
    graduate::Column::Name,
    graduate::Column::IdNumber,
];

/// What a list offers: its flows, every status label, the default ones, the labels of the
/// states a 退回修改 leads to.
struct ListMeta {
    flows: Vec<String>,
    labels: Vec<String>,
    defaults: Vec<String>,
    returned: Vec<String>,
}

/// Lists, exports and review details are for province, school and department users.
pub(crate) fn reviewer(c: &Caller) -> ApiResult<()> {
    match c.role {
        AccountRole::Admin
        | AccountRole::Province
        | AccountRole::School
        | AccountRole::Department => Ok(()),
        _ => Err(ApiError::forbidden(
            "只有省级、学校和院系用户可以查看管理列表和审核详情",
        )),
    }
}

/// The caller of a list endpoint (a reviewer who may view the employment module) and the
/// list they asked for.
async fn open(state: &State, auth: &Token, list: &str) -> ApiResult<(Caller, ListMeta)> {
    let c = caller(state, auth).await?;
    reviewer(&c)?;
    c.require_view(Module::Employment)?;
    let m = meta(state, &c, list)?;
    Ok((c, m))
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

fn meta(state: &State, c: &Caller, list: &str) -> ApiResult<ListMeta> {
    let snap = state.registry.snapshot();
    let province = c.actor.province.clone();
    let mut m = ListMeta {
        flows: Vec::new(),
        labels: Vec::new(),
        defaults: Vec::new(),
        returned: Vec::new(),
    };
    for key in snap.keys() {
        let Some(d) = snap.active(&key, province.as_deref()) else {
            continue;
        };
        if d.def.list.as_deref() != Some(list) {
            continue;
        }
        m.flows.push(d.def.key.clone());
        for st in d.def.states.values() {
            push_unique(&mut m.labels, &st.label);
            if st.list_default {
                push_unique(&mut m.defaults, &st.label);
            }
            if let Some(ret) = st.review.as_ref().and_then(|r| r.return_.as_ref()) {
                if let Some(t) = d.def.state(&ret.target) {
                    push_unique(&mut m.returned, &t.label);
                }
            }
        }
    }
    if m.flows.is_empty() {
        return Err(ApiError::not_found(format!("管理列表 {list} 不存在")));
    }
    Ok(m)
}

/// The statuses selected: the given labels (each checked), the default, or none for `all`.
fn selected(m: &ListMeta, status: Option<&str>) -> ApiResult<Vec<String>> {
    Ok(match status.map(str::trim) {
        None | Some("") => m.defaults.clone(),
        Some("all") => Vec::new(),
        Some(s) => {
            let chosen: Vec<String> = s.split(',').map(|x| x.trim().to_string()).collect();
            if let Some(bad) = chosen.iter().find(|x| !m.labels.contains(x)) {
                return Err(ApiError::unprocessable(
                    "invalid_status",
                    format!(
                        "status：该列表没有状态“{bad}”，可选：{}",
                        m.labels.join("；")
                    ),
                ));
            }
            chosen
        }
    })
}

/// The list's rows in the caller's scope, filtered.
fn query(
    c: &Caller,
    list: &str,
    labels: &[String],
    f: &Filter,
) -> ApiResult<Select<instance::Entity>> {
    let a = &c.actor;
    let mut q = instance::Entity::find().filter(instance::Column::List.eq(list.to_string()));
    q = match c.role {
        AccountRole::Admin => q,
        AccountRole::Province => q.filter(instance::Column::ProvinceCode.eq(a.province.clone())),
        AccountRole::School => q.filter(instance::Column::SchoolId.eq(a.school_id)),
        _ => q
            .filter(instance::Column::SchoolId.eq(a.school_id))
            .filter(instance::Column::Department.eq(a.department.clone())),
    };
    if !labels.is_empty() {
        q = q.filter(instance::Column::Label.is_in(labels.to_vec()));
    }
    match f.initiator.as_deref() {
        None | Some("") => {}
        Some("单位") | Some("employer") => {
            q = q.filter(instance::Column::InitiatorRole.eq("employer"))
        }
        Some("学生") | Some("graduate") => {
            q = q.filter(instance::Column::InitiatorRole.eq("graduate"))
        }
        Some(other) => {
            return Err(ApiError::unprocessable(
                "invalid_initiator",
                format!("initiator：签约发起方只能是“单位”或“学生”，而不是“{other}”"),
            ))
        }
    }
    if let Some(d) = f.department.as_ref().filter(|d| !d.is_empty()) {
        q = q.filter(instance::Column::Department.eq(d.clone()));
    }
    let mut cond = Condition::all();
    let mut by_graduate = false;
    for (col, v) in GRADUATE_FILTERS.into_iter().zip(&f.graduate) {
        if let Some(v) = v.as_ref().filter(|v| !v.trim().is_empty()) {
            cond = cond.add(col.eq(v.trim().to_string()));
            by_graduate = true;
        }
    }
    if by_graduate {
        let mut sub = graduate::Entity::find()
            .select_only()
            .column(graduate::Column::Id)
            .filter(cond);
        if let Some(s) = a.school_id.filter(|_| c.role != AccountRole::Admin) {
            sub = sub.filter(graduate::Column::SchoolId.eq(s));
        }
        q = q.filter(instance::Column::GraduateId.in_subquery(sub.into_query()));
    }
    Ok(q.order_by_desc(instance::Column::UpdatedAt)
        .order_by_desc(instance::Column::Id))
}

/// The spreadsheet of `rows`: graduates and employers loaded in one query each.
async fn workbook(state: &State, title: &str, rows: &[instance::Model]) -> ApiResult<Vec<u8>> {
    let mut gids: Vec<i64> = rows.iter().map(|r| r.graduate_id).collect();
    gids.sort();
    gids.dedup();
    let mut grads: HashMap<i64, graduate::Model> = HashMap::new();
    for chunk in gids.chunks(5000) {
        for g in graduate::Entity::find()
            .filter(graduate::Column::Id.is_in(chunk.to_vec()))
            .all(&state.db.conn)
            .await?
        {
            grads.insert(g.id, g);
        }
    }
    let mut eids: Vec<i64> = rows.iter().filter_map(|r| r.employer_id).collect();
    eids.sort();
    eids.dedup();
    let emps: HashMap<i64, String> = employer::Entity::find()
        .filter(employer::Column::Id.is_in(eids))
        .all(&state.db.conn)
        .await?
        .into_iter()
        .map(|e| (e.id, e.name))
        .collect();
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name(title).map_err(ApiError::internal)?;
    let head = [
        "签约发起方",
        "姓名",
        "考生号",
        "身份证号",
        "院系",
        "专业",
        "学历",
        "当前协议编号",
        "签约单位",
        "签约状态",
        "原因",
        "更新时间",
    ];
    let bold = rust_xlsxwriter::Format::new().set_bold();
    for (col, h) in head.iter().enumerate() {
        ws.write_with_format(0, col as u16, *h, &bold)
            .map_err(ApiError::internal)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let vars: Map<String, Value> = serde_json::from_str(&r.vars).unwrap_or_default();
        let g = grads.get(&r.graduate_id);
        let text = |k: &str| {
            vars.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let employer_name = r
            .employer_id
            .and_then(|e| emps.get(&e).cloned())
            .unwrap_or_else(|| text("employer_name"));
        let number = vars
            .get("agreement_no")
            .and_then(Value::as_str)
            .unwrap_or("签约信息生效后生成")
            .to_string();
        let status = super::flows::status_text(r);
        let reason = vars
            .get("last_decision")
            .and_then(|d| d.get("reason"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let cells = [
            if r.initiator_role == "employer" {
                "单位".to_string()
            } else {
                "学生".to_string()
            },
            g.map(|g| g.name.clone()).unwrap_or_default(),
            g.map(|g| g.candidate_no.clone()).unwrap_or_default(),
            g.map(|g| g.id_number.clone()).unwrap_or_default(),
            r.department.clone(),
            g.map(|g| g.major.clone()).unwrap_or_default(),
            g.map(|g| g.education_level.clone()).unwrap_or_default(),
            number,
            employer_name,
            status,
            reason,
            crate::store::china_minute(r.updated_at),
        ];
        for (col, v) in cells.iter().enumerate() {
            ws.write_string(i as u32 + 1, col as u16, v)
                .map_err(ApiError::internal)?;
        }
    }
    ws.autofit();
    wb.save_to_buffer().map_err(ApiError::internal)
}

fn xlsx(bytes: Vec<u8>, file: &str) -> Response<Binary<Vec<u8>>> {
    Response::new(Binary(bytes))
        .header(
            "content-type",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        .header(
            "content-disposition",
            format!("attachment; filename=\"{file}.xlsx\""),
        )
}

async fn export_rows(
    state: &State,
    q: Select<instance::Entity>,
) -> ApiResult<Vec<instance::Model>> {
    let total = q.clone().count(&state.db.conn).await?;
    if total > MAX_EXPORT {
        return Err(ApiError::unprocessable(
            "export_too_large",
            format!("当前查询共 {total} 条，一次最多导出 {MAX_EXPORT} 条，请增加筛选条件"),
        ));
    }
    Ok(q.all(&state.db.conn).await?)
}

/// The list's title for file names.
fn title(list: &str) -> String {
    match list {
        "signing" => "在线签约管理".into(),
        "supplement" => "补登管理".into(),
        "termination" => "解约管理".into(),
        "destination" => "去向登记管理".into(),
        other => other.to_string(),
    }
}

pub struct ListsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Flows")]
impl ListsApi {
    /// A management list (`signing` 在线签约管理, `supplement` 补登管理, `termination`
    /// 解约管理...) in the caller's scope, newest change first. `status` takes status labels
    /// separated by commas; left out, the list's documented default is selected; `all` shows
    /// every status. `initiator` is 单位 or 学生 (签约发起方). Graduate filters: department,
    /// major, education_level, candidate_no, name, id_number.
    #[oai(path = "/lists/:list", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&State>,
        auth: Token,
        list: Path<String>,
        status: Query<Option<String>>,
        initiator: Query<Option<String>>,
        department: Query<Option<String>>,
        major: Query<Option<String>>,
        education_level: Query<Option<String>>,
        candidate_no: Query<Option<String>>,
        name: Query<Option<String>>,
        id_number: Query<Option<String>>,
        page: Query<Option<u64>>,
        page_size: Query<Option<u64>>,
    ) -> poem::Result<Json<Value>> {
        let (c, m) = open(&state, &auth, &list).await?;
        let sel = selected(&m, status.0.as_deref())?;
        let f = Filter::new(
            initiator.0,
            department.0,
            major.0,
            education_level.0,
            candidate_no.0,
            name.0,
            id_number.0,
        );
        let q = query(&c, &list, &sel, &f)?;
        let p = super::paged(&state.db.conn, q, page.0, page_size.0, 200).await?;
        let items = instance_views(&state, &c, &p.rows).await?;
        Ok(Json(json!({
            "list": list.0,
            "flows": m.flows,
            "status_options": m.labels,
            "default_status": m.defaults,
            "status": sel,
            "total": p.total,
            "page": p.page,
            "page_size": p.size,
            "items": items,
        })))
    }

    /// 下载当前查询数据: the same query as the list (same parameters, no paging) as an XLSX
    /// file, at most 100,000 rows.
    #[oai(path = "/lists/:list/export", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn export(
        &self,
        state: Data<&State>,
        auth: Token,
        list: Path<String>,
        status: Query<Option<String>>,
        initiator: Query<Option<String>>,
        department: Query<Option<String>>,
        major: Query<Option<String>>,
        education_level: Query<Option<String>>,
        candidate_no: Query<Option<String>>,
        name: Query<Option<String>>,
        id_number: Query<Option<String>>,
    ) -> poem::Result<Response<Binary<Vec<u8>>>> {
        let (c, m) = open(&state, &auth, &list).await?;
        let sel = selected(&m, status.0.as_deref())?;
        let f = Filter::new(
            initiator.0,
            department.0,
            major.0,
            education_level.0,
            candidate_no.0,
            name.0,
            id_number.0,
        );
        let rows = export_rows(&state, query(&c, &list, &sel, &f)?).await?;
        let t = title(&list);
        Ok(xlsx(workbook(&state, &t, &rows).await?, &t))
    }

    /// 导出退回修改学生名单: the items of the list now waiting after a reviewer's 退回修改, as
    /// an XLSX file with the reason.
    #[oai(path = "/lists/:list/returned-export", method = "get")]
    async fn returned(
        &self,
        state: Data<&State>,
        auth: Token,
        list: Path<String>,
        department: Query<Option<String>>,
    ) -> poem::Result<Response<Binary<Vec<u8>>>> {
        let (c, m) = open(&state, &auth, &list).await?;
        let f = Filter {
            department: department.0,
            ..Filter::default()
        };
        if m.returned.is_empty() {
            return Err(ApiError::unprocessable(
                "no_return",
                "该列表的流程没有“退回修改”，没有退回名单",
            )
            .into());
        }
        let rows = export_rows(&state, query(&c, &list, &m.returned, &f)?).await?;
        let t = format!("{}退回修改学生名单", title(&list));
        Ok(xlsx(workbook(&state, &t, &rows).await?, &t))
    }
}
