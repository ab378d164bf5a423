//! What reviewers and parties need around the signing and termination flows: rendered
//! documents (the e-agreement), uploaded files of an instance, the reviewer's detail view,
//! "get latest student info" and the employer's single-use upload link (SPEC.md 4.1–4.5, 4.7).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use gradflow_engine::apply::{actor_matches, Actor};
use gradflow_engine::definition::Module;
use gradflow_engine::form::FieldKind;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::{Binary, Html, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::{json, Map, Value};

use super::flows::{instance_views, InstanceView};
use super::{answers, caller, Problem, Tag, Token};
use crate::entity::{graduate, instance};
use crate::error::{ApiError, ApiResult};
use crate::facts::{student_snapshot, KEY_FIELDS, REFRESHABLE};
use crate::service::{self, pinned, State};
use crate::services::agreements;
use crate::store::{self, STUDENT_PENDING_VAR, STUDENT_VAR};
use crate::warnings::WarningView;

fn vars_of(row: &instance::Model) -> ApiResult<Map<String, Value>> {
    serde_json::from_str(&row.vars).map_err(ApiError::internal)
}

/// The file fields of an instance's definition that hold an upload, with their labels.
fn files_of(state: &State, row: &instance::Model) -> ApiResult<Vec<(String, String, String)>> {
    let snap = state.registry.snapshot();
    let def = pinned(&snap, row)?;
    let vars = vars_of(row)?;
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for form in def.def.forms.values() {
        for f in form.all_fields() {
            if !matches!(f.kind, FieldKind::File { .. }) || !seen.insert(f.name.clone()) {
                continue;
            }
            if let Some(id) = vars.get(&f.name).and_then(Value::as_str) {
                out.push((f.name.clone(), f.label.clone(), id.to_string()));
            }
        }
    }
    Ok(out)
}

/// A field of an item's type, with its value and the text a reviewer reads.
#[derive(Object)]
pub struct TypeFieldView {
    /// The field's name.
    pub name: String,
    /// The field as users see it.
    pub label: String,
    /// The stored value.
    pub value: Value,
    /// The value as read: a code's or region's name, else the value.
    pub text: Value,
}

/// The item's type in a typed list (去向登记管理).
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TypeView {
    /// The type's code.
    pub code: String,
    /// The type as users see it.
    pub label: Option<String>,
    /// The catalogue entry's attributes (its category and the rest).
    pub attributes: Option<Value>,
    /// The fields that type asks for.
    pub fields: Vec<TypeFieldView>,
}

/// The item's type in a typed list (去向登记管理): the catalogue entry (label, category and
/// the rest of its attributes) and the fields that type asks for, each with its value and,
/// for codes and regions, the text a reviewer reads. `None` for untyped flows.
fn type_view(
    snap: &gradflow_engine::registry::Snapshot,
    def: &gradflow_engine::definition::Definition,
    row: &instance::Model,
    vars: &Map<String, Value>,
) -> Option<TypeView> {
    let (Some(code), Some(by), Some(table), Some(form)) = (
        row.type_code.as_deref(),
        def.list_type.as_deref(),
        def.list_type_table(),
        def.start.form.as_ref().and_then(|f| def.forms.get(f)),
    ) else {
        return None;
    };
    let tables = snap.code_lookup();
    let entry = snap.catalogue(table).and_then(|c| c.entry(code));
    let fields = form
        .for_value(Some(code))
        .fields
        .iter()
        .filter(|f| f.name != by && !matches!(f.kind, FieldKind::File { .. }))
        .map(|f| {
            let value = vars.get(&f.name).cloned().unwrap_or(Value::Null);
            TypeFieldView {
                name: f.name.clone(),
                label: f.label.clone(),
                text: crate::services::confirmation::shown(snap, f, &value),
                value,
            }
        })
        .collect();
    Some(TypeView {
        code: code.to_string(),
        label: entry
            .map(|e| e.label.clone())
            .or_else(|| tables.label(table, code)),
        attributes: entry.map(|e| Value::Object(e.attributes.clone())),
        fields,
    })
}

/// One field of the graduate: the item's snapshot against the roster.
#[derive(Object)]
pub struct ComparisonRow {
    /// The field's key.
    pub field: String,
    /// The field as users see it.
    pub label: String,
    /// The value in the item's snapshot.
    pub snapshot: Value,
    /// The value on the roster now.
    pub roster: Value,
    /// Whether they differ.
    pub differs: bool,
    /// Whether 获取最新学生信息 can take the roster's value (key fields cannot).
    pub refreshable: bool,
}

/// Compares the instance's snapshot of the graduate with the roster as it stands.
fn comparison(snapshot: &Value, g: &graduate::Model) -> Vec<ComparisonRow> {
    let roster = student_snapshot(g, &Value::Null);
    let mut out = Vec::new();
    for (fields, refreshable) in [(&KEY_FIELDS[..], false), (&REFRESHABLE[..], true)] {
        for (name, label) in fields {
            let a = snapshot.get(*name).cloned().unwrap_or(Value::Null);
            let b = roster.get(*name).cloned().unwrap_or(Value::Null);
            out.push(ComparisonRow {
                field: name.to_string(),
                label: label.to_string(),
                differs: a != b,
                snapshot: a,
                roster: b,
                refreshable,
            });
        }
    }
    out
}

/// The graduate of an item under review, as the roster has them.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReviewGraduate {
    /// The graduate's id.
    pub id: i64,
    /// 姓名.
    pub name: String,
    /// 考生号.
    pub candidate_no: String,
    /// 身份证号.
    pub id_number: String,
    /// 学历层次 (code).
    pub education_level: String,
    /// 院系.
    pub department: String,
    /// 专业.
    pub major: String,
    /// 手机号码.
    pub mobile: Option<String>,
    /// Whether the graduate was deleted from the roster (the invalid list).
    pub removed: bool,
}

/// The employer of an item under review.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReviewEmployer {
    /// The registered employer's id (absent for one only named in the form).
    pub id: Option<i64>,
    /// The employer's name.
    pub name: Option<String>,
    /// 统一社会信用代码.
    pub credit_code: Option<String>,
    /// Whether the employer is registered in gradflow.
    pub registered: bool,
    /// The employer's warning (预警单位), where one is shown to the caller.
    pub warning: Option<WarningView>,
}

/// A file an item holds.
#[derive(Object)]
pub struct FileRef {
    /// The form field holding it.
    pub field: String,
    /// The field as users see it.
    pub label: String,
    /// Where to download it.
    pub url: String,
}

/// What the employment management system already received for the graduate.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SentSync {
    /// The instance the message was about.
    pub instance_id: Option<i64>,
    /// Its flow.
    pub flow: Value,
    /// What it reported (`approved`, `voided`, …).
    pub op: Value,
    /// The status it reported.
    pub label: Value,
    /// The agreement number (协议书编号), where there is one.
    pub agreement_no: Value,
    /// The employer named.
    pub employer_name: Value,
    /// The code fields it carried.
    pub codes: Value,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A step of the item's history, as the review shows it.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReviewStep {
    /// The step's number.
    pub seq: i32,
    /// The action taken.
    pub action: String,
    /// The role that took it.
    pub actor_role: String,
    /// The decision (`approve`, `return`, `reject`).
    pub decision: Option<String>,
    /// The reason's category.
    pub reason_category: Option<String>,
    /// The reason.
    pub reason: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// The reviewer's detail view of an item.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReviewDetail {
    /// The item with the caller's actions.
    pub item: InstanceView,
    /// The graduate on the roster.
    pub graduate: ReviewGraduate,
    /// The item's type and that type's fields (去向登记), for a typed list.
    #[oai(rename = "type")]
    pub type_: Option<TypeView>,
    /// The graduate as the item recorded them when it started.
    pub student_snapshot: Value,
    /// The roster data 获取最新学生信息 pulled in, taking effect when the review approves.
    pub student_pending: Option<Value>,
    /// The snapshot against the roster, field by field.
    pub comparison: Vec<ComparisonRow>,
    /// The employer.
    pub employer: ReviewEmployer,
    /// The files the item holds.
    pub files: Vec<FileRef>,
    /// The names of the documents rendered for it (`GET /instances/{id}/documents/{name}`).
    pub documents: Vec<String>,
    /// What the employment management system already received for the graduate.
    pub sent_to_management_system: Vec<SentSync>,
    /// The item's history.
    pub history: Vec<ReviewStep>,
    /// 档案/户口信息: the data in force and the data waiting for review, and the graduate's
    /// destination for callers with the employment module.
    pub registration: Option<super::residence::RegistrationDetailView>,
}

/// What 获取最新学生信息 did.
#[derive(Object)]
pub struct RefreshedStudent {
    /// The item.
    pub instance_id: i64,
    /// Its version now.
    pub row_version: i32,
    /// The labels of the fields whose roster value differs from the snapshot.
    pub changed: Vec<String>,
    /// The data that takes effect when the review approves.
    pub pending: Value,
    /// The key fields (not refreshable) that differ.
    pub key_fields_differ: Vec<String>,
    /// What happens next, in Chinese.
    pub note: String,
}

/// What an employer's link is for.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LinkView {
    /// The flow's title.
    pub flow_title: String,
    /// The action the link performs.
    pub action: String,
    /// That action as users see it.
    pub action_label: Option<String>,
    /// The graduate's name.
    pub graduate_name: Option<String>,
    /// The school's name.
    pub school_name: Option<String>,
    /// The employer's name.
    pub employer_name: Option<Value>,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
    /// Where to print the e-agreement.
    pub document_url: String,
    /// Where to upload the stamped agreement.
    pub upload_url: String,
    /// The file types the upload takes.
    pub accept: Vec<String>,
}

/// What the link's upload did.
#[derive(Object)]
pub struct LinkUploaded {
    /// The item.
    pub instance_id: i64,
    /// Its state now.
    pub state: String,
    /// Its status now.
    pub label: String,
    /// The stored upload.
    pub upload_id: String,
}

answers! {
    /// The answers of `GET /instances/{id}/documents/{name}` and `GET /links/{token}/document`.
    pub enum DocumentAnswer {
        /// The document as printable HTML.
        200 Ok(Html<String>),
        errors:
        /// A path parameter does not parse (`invalid_path_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Outside the caller's module permissions (`forbidden`).
        403 Forbidden,
        /// No such instance in the caller's scope, no such document, or the link is unknown, used
        /// or expired (`not_found`).
        404 NotFound,
    }
}

/// The answers of `GET /instances/{id}/files/{field}`.
#[derive(ApiResponse)]
#[allow(dead_code)]
pub enum FileAnswer {
    /// The file, with its stored media type (`image/png`, `image/jpeg`, `application/pdf`).
    #[oai(status = 200, content_type = "application/octet-stream")]
    Ok(
        Binary<Vec<u8>>,
        /// The file's media type as it was checked on upload.
        #[oai(header = "content-type")]
        String,
    ),
    /// A path parameter does not parse (`invalid_path_parameter`).
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    /// No or an unknown token (`unauthorized`).
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    /// Outside the caller's module permissions (`forbidden`).
    #[oai(status = 403)]
    Forbidden(Json<Problem>),
    /// No such instance in the caller's scope, or it holds no such file (`not_found`).
    #[oai(status = 404)]
    NotFound(Json<Problem>),
}

answers! {
    /// The answers of `GET /instances/{id}/review`.
    pub enum ReviewAnswer {
        /// The detail view.
        200 Ok(Json<ReviewDetail>),
        errors:
        /// The id does not parse (`invalid_path_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not a province, school or department user, or outside the module permissions
        /// (`forbidden`).
        403 Forbidden,
        /// No such instance in the caller's scope (`not_found`).
        404 NotFound,
    }
}

answers! {
    /// The answers of `POST /instances/{id}/refresh-student`.
    pub enum RefreshAnswer {
        /// The roster data was pulled in.
        200 Ok(Json<RefreshedStudent>),
        errors:
        /// The id does not parse (`invalid_path_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not the reviewer of the current level, or read-only in the module (`forbidden`).
        403 Forbidden,
        /// No such instance in the caller's scope (`not_found`).
        404 NotFound,
        /// Someone changed the item meanwhile (`conflict`).
        409 Conflict,
        /// The item is not in review (`not_in_review`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `GET /links/{token}`.
    pub enum LinkAnswer {
        /// What the link is for.
        200 Ok(Json<LinkView>),
        errors:
        /// The token does not parse (`invalid_path_parameter`).
        400 BadRequest,
        /// The link is unknown, used or expired (`not_found`).
        404 NotFound,
    }
}

answers! {
    /// The answers of `POST /links/{token}/upload`.
    pub enum LinkUploadAnswer {
        /// The agreement image was stored and the item moved on.
        200 Ok(Json<LinkUploaded>),
        errors:
        /// The token does not parse (`invalid_path_parameter`).
        400 BadRequest,
        /// The link is unknown, used or expired (`not_found`).
        404 NotFound,
        /// The item moved on meanwhile (`conflict`, `not_available`, `moved`).
        409 Conflict,
        /// The file is larger than uploads take (`upload_too_large`, `body_too_large`).
        413 TooLarge,
        /// Not `application/octet-stream` (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// The file is empty, not a png or jpg image by its content, broken or too large to
        /// decode, or the flow refused it (`empty_upload`, `unsupported_upload`, `broken_image`,
        /// `image_too_large`, `invalid_input`, `denied`).
        422 Invalid,
    }
}

pub struct AgreementsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Flows")]
impl AgreementsApi {
    /// A document rendered for an instance.
    ///
    /// A document rendered for an instance (`e_agreement`: the printable e-agreement HTML), for the
    /// graduate, the employer party and reviewers in scope.
    #[oai(
        path = "/instances/:id/documents/:name",
        method = "get",
        operation_id = "agreements_document"
    )]
    async fn document(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The instance's id.
        id: Path<i64>,
        /// The document's name (`e_agreement`; see `documents` of the review).
        name: Path<String>,
    ) -> poem::Result<DocumentAnswer> {
        let c = caller(&state, &auth).await?;
        let (row, _) = service::visible_instance(&state, &c, *id).await?;
        let doc = agreements::rendered_document(&state, row.id, &name).await?;
        Ok(DocumentAnswer::Ok(Html(doc.content)))
    }

    /// A file an instance's form holds.
    ///
    /// A file an instance's form holds (the stamped agreement, a termination letter...), for
    /// everyone who may see the instance.
    #[oai(
        path = "/instances/:id/files/:field",
        method = "get",
        operation_id = "agreements_file"
    )]
    async fn file(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The instance's id.
        id: Path<i64>,
        /// The form field holding the file (see `files` of the review).
        field: Path<String>,
    ) -> poem::Result<FileAnswer> {
        let c = caller(&state, &auth).await?;
        let (row, _) = service::visible_instance(&state, &c, *id).await?;
        let upload_id = files_of(&state, &row)?
            .into_iter()
            .find(|(f, _, _)| *f == field.0)
            .map(|(_, _, id)| id)
            .ok_or_else(|| ApiError::not_found("该事项没有这个文件"))?;
        let (u, bytes) = agreements::read_upload(&state, &upload_id).await?;
        Ok(FileAnswer::Ok(Binary(bytes), u.content_type))
    }

    /// The reviewer's detail view.
    ///
    /// The reviewer's detail view: the item with its actions, its type with that type's fields
    /// (去向登记), the graduate on the roster against the item's snapshot, the employer with its
    /// warning, the files and documents, what was already sent to the employment management system,
    /// and the history.
    #[oai(
        path = "/instances/:id/review",
        method = "get",
        operation_id = "agreements_review"
    )]
    async fn review(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The instance's id.
        id: Path<i64>,
    ) -> poem::Result<ReviewAnswer> {
        let c = caller(&state, &auth).await?;
        super::lists::reviewer(&c)?;
        let (row, snap) = service::visible_instance(&state, &c, *id).await?;
        let def = pinned(&snap, &row)?;
        let item = instance_views(&state, &c, std::slice::from_ref(&row))
            .await?
            .remove(0);
        let g = agreements::graduate_of(&state, &row).await?;
        let vars = vars_of(&row)?;
        let snapshot = vars.get(STUDENT_VAR).cloned().unwrap_or(Value::Null);
        let kind = type_view(&snap, &def.def, &row, &vars);
        let emp = agreements::employer_of(&state, &row).await?;
        let employer = match emp {
            Some(e) => ReviewEmployer {
                id: Some(e.id),
                name: Some(e.name),
                credit_code: Some(e.credit_code),
                registered: true,
                warning: item.employer_warning.clone(),
            },
            None => ReviewEmployer {
                id: None,
                name: vars
                    .get("employer_name")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                credit_code: vars
                    .get("credit_code")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                registered: false,
                warning: None,
            },
        };
        // What the management system already received for this graduate (delivered syncs).
        let sent = agreements::delivered_syncs_of_graduate(&state, row.graduate_id)
            .await?
            .into_iter()
            .filter_map(|m| {
                let p: Value = serde_json::from_str(&m.payload).unwrap_or(Value::Null);
                // A module the caller may not enter stays hidden (an archive reviewer without
                // the employment module learns nothing of the agreement).
                let module = snap
                    .definitions()
                    .find(|d| p["flow"] == d.def.key.as_str())
                    .map(|d| d.def.module);
                if module.is_some_and(|md| c.level(md) == crate::auth::Level::None) {
                    return None;
                }
                Some(SentSync {
                    instance_id: m.instance_id,
                    flow: p["flow"].clone(),
                    op: p["op"].clone(),
                    label: p["label"].clone(),
                    agreement_no: p["vars"]["agreement_no"].clone(),
                    employer_name: p["vars"]["employer_name"]
                        .as_str()
                        .map(Value::from)
                        .unwrap_or_else(|| p["employer"]["name"].clone()),
                    codes: p["codes"].clone(),
                    delivered_at: m.delivered_at,
                })
            })
            .collect();
        let registration =
            crate::services::residence::registration_detail(&state, &c, &def.def, &row)
                .await?
                .map(Into::into);
        let documents = agreements::document_names(&state, row.id).await?;
        let files = files_of(&state, &row)?
            .into_iter()
            .map(|(field, label, _)| FileRef {
                url: format!("/api/v1/instances/{}/files/{field}", row.id),
                field,
                label,
            })
            .collect();
        let history = crate::services::lists::instance_history(&state, row.id)
            .await?
            .into_iter()
            .map(|h| ReviewStep {
                seq: h.seq,
                action: h.action,
                actor_role: h.actor_role,
                decision: h.decision,
                reason_category: h.reason_category,
                reason: h.reason,
                at: h.at,
            })
            .collect();
        Ok(ReviewAnswer::Ok(Json(ReviewDetail {
            graduate: ReviewGraduate {
                id: g.id,
                name: g.name.clone(),
                candidate_no: g.candidate_no.clone(),
                id_number: g.id_number.clone(),
                education_level: g.education_level.clone(),
                department: g.department.clone(),
                major: g.major.clone(),
                mobile: g.mobile.clone(),
                removed: g.removed,
            },
            item,
            type_: kind,
            comparison: comparison(&snapshot, &g),
            student_snapshot: snapshot,
            student_pending: vars.get(STUDENT_PENDING_VAR).cloned(),
            employer,
            files,
            documents,
            sent_to_management_system: sent,
            history,
            registration,
        })))
    }

    /// 获取最新学生信息: pull the graduate's current roster data into an item under review.
    ///
    /// During a review, pull the roster's current gender, ethnicity, political status,
    /// department, schooling length, student number and graduation date into the item; they
    /// replace its snapshot when the review approves.
    ///
    /// Key fields (name, education level, ID number, major) cannot change this way.
    #[oai(
        path = "/instances/:id/refresh-student",
        method = "post",
        operation_id = "agreements_refresh_student"
    )]
    async fn refresh_student(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The instance's id.
        id: Path<i64>,
    ) -> poem::Result<RefreshAnswer> {
        let c = caller(&state, &auth).await?;
        let (row, _) = service::visible_instance(&state, &c, *id).await?;
        c.require_write(Module::Employment)?;
        let inst = store::to_engine(&row)?;
        let Some(pos) = inst.review.as_ref() else {
            return Err(ApiError::unprocessable(
                "not_in_review",
                "只有审核中的事项可以获取最新学生信息",
            )
            .into());
        };
        if !actor_matches(pos.level(), &c.actor, &inst.parties) {
            return Err(ApiError::forbidden("当前审核级别的审核人员才能获取最新学生信息").into());
        }
        let g = agreements::graduate_of(&state, &row).await?;
        let mut vars = inst.vars.clone();
        let snapshot = vars.get(STUDENT_VAR).cloned().unwrap_or(json!({}));
        let mut pending = snapshot.clone();
        let roster = student_snapshot(&g, &Value::Null);
        let mut changed = Vec::new();
        for (name, label) in REFRESHABLE {
            if snapshot.get(name) != roster.get(name) {
                changed.push(label);
            }
            pending[name] = roster[name].clone();
        }
        let key_differs: Vec<&str> = KEY_FIELDS
            .iter()
            .filter(|(n, _)| snapshot.get(*n) != roster.get(*n))
            .map(|(_, l)| *l)
            .collect();
        vars.insert(STUDENT_PENDING_VAR.into(), pending.clone());
        let row =
            agreements::save_refreshed_student(&state, &row, &c.actor, vars, &changed).await?;
        let note = if key_differs.is_empty() {
            "审核通过后将同步该毕业生的最新信息".to_string()
        } else {
            format!(
                "{}等关键信息无法以此方法同步，请审核不通过，在就业管理系统修改信息后让毕业生重新申请",
                key_differs.join("、")
            )
        };
        Ok(RefreshAnswer::Ok(Json(RefreshedStudent {
            instance_id: row.id,
            row_version: row.row_version,
            changed: changed.iter().map(|l| l.to_string()).collect(),
            pending,
            key_fields_differ: key_differs.iter().map(|l| l.to_string()).collect(),
            note,
        })))
    }

    /// The employer's single-use link (sent by SMS): what it is for, without an account.
    ///
    /// No token: the link itself is the credential, for one action, until it expires or is
    /// used.
    #[oai(
        path = "/links/:token",
        method = "get",
        operation_id = "agreements_link"
    )]
    async fn link(
        &self,
        state: Data<&State>,
        /// The link's token (from the SMS).
        token: Path<String>,
    ) -> poem::Result<LinkAnswer> {
        let (link, row) = agreements::live_link(&state, &token).await?;
        let snap = state.registry.snapshot();
        let def = pinned(&snap, &row)?;
        let vars = vars_of(&row)?;
        let (g, s) = agreements::graduate_and_school_of(&state, &row).await?;
        let label = def
            .def
            .state(&row.state)
            .and_then(|st| st.actions.get(&link.action))
            .map(|a| a.label.clone());
        Ok(LinkAnswer::Ok(Json(LinkView {
            flow_title: def.def.title.clone(),
            action: link.action.clone(),
            action_label: label,
            graduate_name: g.map(|g| g.name),
            school_name: s.map(|s| s.name),
            employer_name: vars.get("employer_name").cloned(),
            expires_at: link.expires_at,
            document_url: format!("/api/v1/links/{}/document", token.0),
            upload_url: format!("/api/v1/links/{}/upload", token.0),
            accept: vec!["png".into(), "jpg".into()],
        })))
    }

    /// The e-agreement to print, through the employer's link.
    ///
    /// No token: the link is the credential while it is live.
    #[oai(
        path = "/links/:token/document",
        method = "get",
        operation_id = "agreements_link_document"
    )]
    async fn link_document(
        &self,
        state: Data<&State>,
        /// The link's token (from the SMS).
        token: Path<String>,
    ) -> poem::Result<DocumentAnswer> {
        let (_, row) = agreements::live_link(&state, &token).await?;
        let doc = agreements::rendered_document(&state, row.id, "e_agreement").await?;
        Ok(DocumentAnswer::Ok(Html(doc.content)))
    }

    /// The employer uploads the stamped agreement image.
    ///
    /// The employer uploads the stamped agreement image (png/jpg, checked by content) through the
    /// link; the link works once.
    #[oai(
        path = "/links/:token/upload",
        method = "post",
        operation_id = "agreements_link_upload"
    )]
    async fn link_upload(
        &self,
        state: Data<&State>,
        /// The link's token (from the SMS).
        token: Path<String>,
        /// The stamped agreement image (png or jpg).
        body: Binary<Vec<u8>>,
    ) -> poem::Result<LinkUploadAnswer> {
        let (link, row) = agreements::live_link(&state, &token).await?;
        let up = super::uploads::save(&state, 0, "image", body.0).await?;
        let snap = state.registry.snapshot();
        let def = pinned(&snap, &row)?;
        let field = service::action_form(&def.def, Some(&row.state), &link.action)
            .and_then(|f| {
                f.all_fields()
                    .into_iter()
                    .find(|x| matches!(x.kind, FieldKind::File { .. }))
            })
            .map(|f| f.name.clone())
            .ok_or_else(|| ApiError::internal("link action has no file field"))?;
        let mut input = Map::new();
        input.insert(field, Value::String(up.id.clone()));
        let done = service::transition(
            &state,
            &snap,
            def,
            &Actor::system(),
            &row,
            &link.action,
            &Value::Object(input),
        )
        .await?;
        // Single use: only the first request marks it (a concurrent second one already lost
        // the transition on the row version).
        agreements::mark_link_used(&state, &link).await?;
        Ok(LinkUploadAnswer::Ok(Json(LinkUploaded {
            instance_id: done.id,
            state: done.state,
            label: done.label,
            upload_id: up.id,
        })))
    }
}
