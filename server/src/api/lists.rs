//! The management lists of the guides (在线签约管理 `signing`, 补登管理 `supplement`, 解约管理
//! `termination`, and any list a definition names) with their default status filters, the
//! initiator filter and the graduate filters of SPEC.md 5, and their two exports: 下载当前查询数据
//! (the current query as XLSX) and 导出退回修改学生名单 (the items waiting after a 退回修改).

use gradflow_engine::definition::Module;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::Value;

use super::flows::{instance_views, InstanceView};
use super::{answers, caller, Problem, Tag, Token};
use crate::auth::{AccountRole, Caller};
use crate::error::{ApiError, ApiResult};
use crate::paging::Sort;
use crate::service::State;
use crate::services::lists::{self, Filter, LIST_SORT};

/// What a list offers: its flows, every status label, the default ones, the labels of the
/// states a 退回修改 leads to.
pub(crate) struct ListMeta {
    pub(crate) flows: Vec<String>,
    /// The module of the list's flows (档案、户口 lists are their modules'; the others
    /// employment's): the caller needs at least 只读 in it.
    pub(crate) module: Module,
    /// The item types of the list's flows (`list_type`): code, label, category.
    types: Vec<TypeOption>,
    labels: Vec<String>,
    defaults: Vec<String>,
    returned: Vec<String>,
}

/// A type an item of the list can have, from the catalogue (or code table) of the flows'
/// `list_type` field; its category is the catalogue entry's `category` attribute.
struct TypeOption {
    code: String,
    label: String,
    category: Option<String>,
}

impl ListMeta {
    /// The types for an export's category and type columns; `None` for an untyped list.
    fn export_types(&self) -> Option<crate::export::Types> {
        (!self.types.is_empty()).then(|| {
            self.types
                .iter()
                .map(|t| (t.code.clone(), (t.label.clone(), t.category.clone())))
                .collect()
        })
    }

    fn categories(&self) -> Vec<String> {
        let mut out = Vec::new();
        for t in &self.types {
            if let Some(c) = &t.category {
                push_unique(&mut out, c);
            }
        }
        out
    }

    /// The types the `type` (codes, comma-separated) and `category` (a category's label)
    /// parameters select, each value checked; `None` when neither is given (every type).
    fn types_selected(
        &self,
        codes: Option<&str>,
        category: Option<&str>,
    ) -> ApiResult<Option<Vec<String>>> {
        let codes = codes.map(str::trim).filter(|s| !s.is_empty());
        let category = category.map(str::trim).filter(|s| !s.is_empty());
        if (codes.is_some() || category.is_some()) && self.types.is_empty() {
            return Err(ApiError::unprocessable(
                "invalid_filter",
                "type、category：该列表的事项没有类型，不能按类型或类别筛选",
            ));
        }
        let in_category: Option<Vec<String>> = match category {
            None => None,
            Some(c) => {
                let cats = self.categories();
                if !cats.iter().any(|x| x == c) {
                    return Err(ApiError::unprocessable(
                        "invalid_filter",
                        format!("category：没有去向类别“{c}”，可选：{}", cats.join("；")),
                    ));
                }
                Some(
                    self.types
                        .iter()
                        .filter(|t| t.category.as_deref() == Some(c))
                        .map(|t| t.code.clone())
                        .collect(),
                )
            }
        };
        let Some(codes) = codes else {
            return Ok(in_category);
        };
        let chosen: Vec<String> = codes.split(',').map(|x| x.trim().to_string()).collect();
        if let Some(bad) = chosen
            .iter()
            .find(|x| !self.types.iter().any(|t| &t.code == *x))
        {
            return Err(ApiError::unprocessable(
                "invalid_filter",
                format!("type：没有类型代码“{bad}”（类型见 type_options）"),
            ));
        }
        // Both: the chosen types of the category (possibly none, which matches nothing).
        Ok(Some(match in_category {
            Some(cat) => chosen.into_iter().filter(|c| cat.contains(c)).collect(),
            None => chosen,
        }))
    }
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

/// The caller of a list endpoint (a reviewer who may view the list's module) and the list
/// they asked for.
pub(crate) async fn open(state: &State, auth: &Token, list: &str) -> ApiResult<(Caller, ListMeta)> {
    let c = caller(state, auth).await?;
    reviewer(&c)?;
    if c.role == AccountRole::Admin {
        // A list is a reviewer's view of a province, school or department; the administrator
        // looks instances up by id or in `GET /instances`.
        return Err(ApiError::forbidden(
            "管理列表属于省级、学校和院系用户；系统管理员请按编号查看实例",
        ));
    }
    let m = meta(state, &c, list)?;
    c.require_view(m.module)?;
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
        module: Module::Employment,
        types: Vec::new(),
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
        m.module = d.def.module;
        if let Some(table) = d.def.list_type_table() {
            // A catalogue's entries in its order, with their category; a code table's codes.
            let options: Vec<TypeOption> = match snap.catalogue(table) {
                Some(c) => c
                    .entries
                    .iter()
                    .map(|e| TypeOption {
                        code: e.code.clone(),
                        label: e.label.clone(),
                        category: e
                            .attributes
                            .get("category")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    })
                    .collect(),
                None => snap
                    .code_lookup()
                    .table_entries(table)
                    .into_iter()
                    .map(|(code, label)| TypeOption {
                        code,
                        label,
                        category: None,
                    })
                    .collect(),
            };
            for o in options {
                if !m.types.iter().any(|t| t.code == o.code) {
                    m.types.push(o);
                }
            }
        }
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

/// An item type a list offers as a filter.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TypeOptionView {
    /// The type's code (the `type` filter takes it).
    pub code: String,
    /// The type as users see it.
    pub label: String,
    /// Its category (the `category` filter takes it).
    pub category: Option<String>,
}

/// A page of a management list, with what the list offers as filters.
#[derive(Object)]
pub struct ListPage {
    /// The list (`signing`, `supplement`, `termination`, `destination`, …).
    pub list: String,
    /// The flows whose instances the list shows.
    pub flows: Vec<String>,
    /// Every status label the list has (the `status` filter takes them).
    pub status_options: Vec<String>,
    /// The statuses selected when `status` is left out.
    pub default_status: Vec<String>,
    /// The statuses this page is filtered by (empty: every status).
    pub status: Vec<String>,
    /// The item types (去向登记管理), empty for an untyped list.
    pub type_options: Vec<TypeOptionView>,
    /// The types' categories.
    pub category_options: Vec<String>,
    /// How many items the whole query has.
    pub total: u64,
    /// This page (from 1).
    pub page: u64,
    /// The page size asked for.
    pub page_size: u64,
    /// The items of this page.
    pub items: Vec<InstanceView>,
}

answers! {
    /// The answers of `GET /lists/{list}`.
    pub enum ListAnswer {
        /// A page of the list.
        200 Ok(Json<ListPage>),
        errors:
        /// A parameter does not parse or is not one the list takes (`invalid_parameter`,
        /// `unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not a province, school or department user, or no access to the employment module
        /// (`forbidden`).
        403 Forbidden,
        /// No such list (`not_found`).
        404 NotFound,
        /// A filter, the paging or the order is not one the list has (`invalid_status`,
        /// `invalid_initiator`, `invalid_filter`, `invalid_page`, `invalid_page_size`,
        /// `invalid_sort`).
        422 Invalid,
    }
}

/// The answers of the list exports.
#[derive(ApiResponse)]
#[allow(dead_code)]
pub enum ExportAnswer {
    /// The workbook.
    #[oai(
        status = 200,
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )]
    Ok(
        Binary<poem::Body>,
        /// `attachment` with the Chinese file name in `filename*` (RFC 6266).
        #[oai(header = "content-disposition")]
        String,
    ),
    /// A parameter does not parse or is not one the export takes (`invalid_parameter`,
    /// `unknown_parameter`).
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    /// No or an unknown token (`unauthorized`).
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    /// Not a province, school or department user, or no access to the employment module
    /// (`forbidden`).
    #[oai(status = 403)]
    Forbidden(Json<Problem>),
    /// No such list (`not_found`).
    #[oai(status = 404)]
    NotFound(Json<Problem>),
    /// A filter or the order is not one the list has, or the list has no 退回修改
    /// (`invalid_status`, `invalid_initiator`, `invalid_filter`, `invalid_sort`, `no_return`,
    /// `export_too_large`).
    #[oai(status = 422)]
    Invalid(Json<Problem>),
}

fn xlsx(file: tokio::fs::File, name: &str) -> ExportAnswer {
    ExportAnswer::Ok(
        Binary(poem::Body::from_async_read(file)),
        crate::export::attachment(&format!("{name}.xlsx"), "export.xlsx"),
    )
}

/// The list's title for file names.
fn title(list: &str) -> String {
    match list {
        "signing" => "在线签约管理".into(),
        "supplement" => "补登管理".into(),
        "termination" => "解约管理".into(),
        "destination" => "去向登记管理".into(),
        "confirmation" => "去向登记确认".into(),
        other => other.to_string(),
    }
}

pub struct ListsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Flows")]
impl ListsApi {
    /// A management list.
    ///
    /// A management list (`signing` 在线签约管理, `supplement` 补登管理, `termination` 解约管理...) in the
    /// caller's scope, newest change first.
    ///
    /// `status` takes status labels separated by commas; left out, the list's documented default is
    /// selected; `all` shows every status. `school_id` narrows to one school (院校, a province
    /// user's filter). `initiator` is 单位 or 学生 (签约发起方). Graduate filters:
    /// department, major, education_level, candidate_no, name, id_number. Lists whose items have a
    /// type (去向登记管理) also filter by `type` and `category` (see `type_options`, `category_options`).
    /// The province sees its schools' items, read-only.
    #[oai(path = "/lists/:list", method = "get", operation_id = "lists_list")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The list (`signing` 在线签约管理, `supplement` 补登管理, `termination` 解约管理,
        /// `destination` 去向登记管理, or one a definition names).
        list: Path<String>,
        /// Status labels, separated by commas; `all` for every status; left out, the list's
        /// default (`default_status`).
        status: Query<Option<String>>,
        /// 院校: only this school's items (its id). It narrows the caller's scope: a province
        /// user picks one of its schools; another school's id gives no items.
        school_id: Query<Option<i64>>,
        /// 签约发起方: 单位 (`employer`) or 学生 (`graduate`); empty for both.
        #[oai(validator(pattern = "^(employer|graduate|单位|学生)?$"))]
        initiator: Query<Option<String>>,
        /// 院系 (exact).
        department: Query<Option<String>>,
        /// 专业 (exact).
        major: Query<Option<String>>,
        /// 学历层次 (code).
        education_level: Query<Option<String>>,
        /// 考生号 (exact).
        candidate_no: Query<Option<String>>,
        /// 姓名 (exact).
        name: Query<Option<String>>,
        /// 身份证号 (exact).
        id_number: Query<Option<String>>,
        /// Item types by code, separated by commas (去向登记管理: destination type codes).
        #[oai(name = "type")]
        type_: Query<Option<String>>,
        /// A category of types (去向登记管理: 其他就业, 升学, 未就业...).
        category: Query<Option<String>>,
        /// Order: `updated_at` (the default, `-updated_at`: newest change first),
        /// `created_at`, `department`; `-` before a key for descending.
        sort: Query<Option<String>>,
        /// The page, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "100000")))]
        page: Query<Option<u64>>,
        /// Items per page (20 by default, at most 200).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        page_size: Query<Option<u64>>,
    ) -> poem::Result<ListAnswer> {
        let (c, m) = open(&state, &auth, &list).await?;
        let sel = selected(&m, status.0.as_deref())?;
        let mut f = Filter::new(
            initiator.0,
            department.0,
            major.0,
            education_level.0,
            candidate_no.0,
            name.0,
            id_number.0,
        );
        f.school_id = school_id.0;
        f.types = m.types_selected(type_.0.as_deref(), category.0.as_deref())?;
        let sort = Sort::parse(sort.0.as_deref(), &LIST_SORT, "-updated_at")?;
        let p = lists::management_list_page(
            &state,
            &c,
            &list,
            &sel,
            &f,
            sort,
            page.0,
            page_size.0,
            &super::PAGE_SIZE,
        )
        .await?;
        let items = instance_views(&state, &c, &p.rows).await?;
        Ok(ListAnswer::Ok(Json(ListPage {
            type_options: m
                .types
                .iter()
                .map(|t| TypeOptionView {
                    code: t.code.clone(),
                    label: t.label.clone(),
                    category: t.category.clone(),
                })
                .collect(),
            category_options: m.categories(),
            list: list.0,
            flows: m.flows,
            status_options: m.labels,
            default_status: m.defaults,
            status: sel,
            total: p.total,
            page: p.page,
            page_size: p.size,
            items,
        })))
    }

    /// 下载当前查询数据: the same query as the list.
    ///
    /// 下载当前查询数据: the same query as the list (same parameters, no paging) as an XLSX file, at most
    /// 100,000 rows. A province user's has a 院校 column after 姓名.
    #[oai(
        path = "/lists/:list/export",
        method = "get",
        operation_id = "lists_export"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn export(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The list (`signing`, `supplement`, `termination`, `destination`, …).
        list: Path<String>,
        /// Status labels, separated by commas; `all` for every status; left out, the list's
        /// default.
        status: Query<Option<String>>,
        /// 院校: only this school's items (its id). It narrows the caller's scope: a province
        /// user picks one of its schools; another school's id gives no items.
        school_id: Query<Option<i64>>,
        /// 签约发起方: 单位 (`employer`) or 学生 (`graduate`); empty for both.
        #[oai(validator(pattern = "^(employer|graduate|单位|学生)?$"))]
        initiator: Query<Option<String>>,
        /// 院系 (exact).
        department: Query<Option<String>>,
        /// 专业 (exact).
        major: Query<Option<String>>,
        /// 学历层次 (code).
        education_level: Query<Option<String>>,
        /// 考生号 (exact).
        candidate_no: Query<Option<String>>,
        /// 姓名 (exact).
        name: Query<Option<String>>,
        /// 身份证号 (exact).
        id_number: Query<Option<String>>,
        /// Item types by code, separated by commas.
        #[oai(name = "type")]
        type_: Query<Option<String>>,
        /// A category of types.
        category: Query<Option<String>>,
        /// The rows' order, as the list's `sort`.
        sort: Query<Option<String>>,
    ) -> poem::Result<ExportAnswer> {
        let (c, m) = open(&state, &auth, &list).await?;
        let sel = selected(&m, status.0.as_deref())?;
        let mut f = Filter::new(
            initiator.0,
            department.0,
            major.0,
            education_level.0,
            candidate_no.0,
            name.0,
            id_number.0,
        );
        f.school_id = school_id.0;
        f.types = m.types_selected(type_.0.as_deref(), category.0.as_deref())?;
        let sort = Sort::parse(sort.0.as_deref(), &LIST_SORT, "-updated_at")?;
        let t = title(&list);
        let types = m.export_types();
        let file =
            lists::export_management_list(&state, &c, &list, &sel, &f, sort, &t, types.as_ref())
                .await?;
        Ok(xlsx(file, &t))
    }

    /// 导出退回修改学生名单: the items returned for changes, as XLSX.
    ///
    /// The items of the list now waiting after a reviewer's 退回修改, as an XLSX file with the
    /// reason (a province user's with the 院校 column).
    #[oai(
        path = "/lists/:list/returned-export",
        method = "get",
        operation_id = "lists_returned"
    )]
    async fn returned(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The list (`signing`, `supplement`, `termination`, `destination`, …).
        list: Path<String>,
        /// 院校: only this school's items (its id), within the caller's scope.
        school_id: Query<Option<i64>>,
        /// Only graduates of this department (院系).
        department: Query<Option<String>>,
    ) -> poem::Result<ExportAnswer> {
        let (c, m) = open(&state, &auth, &list).await?;
        let f = Filter {
            school_id: school_id.0,
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
        let t = format!("{}退回修改学生名单", title(&list));
        let types = m.export_types();
        let sort = Sort::parse(None, &LIST_SORT, "-updated_at")?;
        let file = lists::export_management_list(
            &state,
            &c,
            &list,
            &m.returned,
            &f,
            sort,
            &t,
            types.as_ref(),
        )
        .await?;
        Ok(xlsx(file, &t))
    }
}
