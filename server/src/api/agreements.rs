//! What reviewers and parties need around the signing and termination flows: rendered
//! documents (the e-agreement), uploaded files of an instance, the reviewer's detail view,
//! "get latest student info" and the employer's single-use upload link (SPEC.md 4.1–4.5, 4.7).

use std::collections::BTreeSet;

use gradflow_engine::apply::{actor_matches, Actor};
use gradflow_engine::definition::Module;
use gradflow_engine::form::FieldKind;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::{Binary, Html, Json, Response};
use poem_openapi::OpenApi;
use serde_json::{json, Map, Value};

use super::flows::instance_views;
use super::{caller, Tag, Token};
use crate::entity::{graduate, instance};
use crate::error::{ApiError, ApiResult};
use crate::facts::{student_snapshot, KEY_FIELDS, REFRESHABLE};
use crate::service::{self, pinned, State};
use crate::services::agreements;
use crate::store::{self, STUDENT_PENDING_VAR, STUDENT_VAR};

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

/// The item's type in a typed list (去向登记管理): the catalogue entry (label, category and
/// the rest of its attributes) and the fields that type asks for, each with its value and,
/// for codes and regions, the text a reviewer reads. Null for untyped flows.
fn type_view(
    snap: &gradflow_engine::registry::Snapshot,
    def: &gradflow_engine::definition::Definition,
    row: &instance::Model,
    vars: &Map<String, Value>,
) -> Value {
    let (Some(code), Some(by), Some(table), Some(form)) = (
        row.type_code.as_deref(),
        def.list_type.as_deref(),
        def.list_type_table(),
        def.start.form.as_ref().and_then(|f| def.forms.get(f)),
    ) else {
        return Value::Null;
    };
    let tables = snap.code_lookup();
    let entry = snap.catalogue(table).and_then(|c| c.entry(code));
    let fields: Vec<Value> = form
        .for_value(Some(code))
        .fields
        .iter()
        .filter(|f| f.name != by && !matches!(f.kind, FieldKind::File { .. }))
        .map(|f| {
            let value = vars.get(&f.name).cloned().unwrap_or(Value::Null);
            let text = match (&f.kind, value.as_str()) {
                (FieldKind::Code { table }, Some(c)) => tables.label(table, c),
                (FieldKind::Region, Some(c)) => snap.region_label(c),
                _ => None,
            };
            json!({"name": f.name, "label": f.label, "value": value,
                   "text": text.map(Value::from).unwrap_or_else(|| value.clone())})
        })
        .collect();
    json!({
        "code": code,
        "label": entry.map(|e| e.label.clone()).or_else(|| tables.label(table, code)),
        "attributes": entry.map(|e| Value::Object(e.attributes.clone())),
        "fields": fields,
    })
}

/// Compares the instance's snapshot of the graduate with the roster as it stands.
fn comparison(snapshot: &Value, g: &graduate::Model) -> Vec<Value> {
    let roster = student_snapshot(g, &Value::Null);
    let mut out = Vec::new();
    for (fields, refreshable) in [(&KEY_FIELDS[..], false), (&REFRESHABLE[..], true)] {
        for (name, label) in fields {
            let a = snapshot.get(*name).cloned().unwrap_or(Value::Null);
            let b = roster.get(*name).cloned().unwrap_or(Value::Null);
            out.push(json!({
                "field": name,
                "label": label,
                "snapshot": a,
                "roster": b,
                "differs": a != b,
                "refreshable": refreshable,
            }));
        }
    }
    out
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
        id: Path<i64>,
        name: Path<String>,
    ) -> poem::Result<Html<String>> {
        let c = caller(&state, &auth).await?;
        let (row, _) = service::visible_instance(&state, &c, *id).await?;
        let doc = agreements::rendered_document(&state, row.id, &name).await?;
        Ok(Html(doc.content))
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
        id: Path<i64>,
        field: Path<String>,
    ) -> poem::Result<Response<Binary<Vec<u8>>>> {
        let c = caller(&state, &auth).await?;
        let (row, _) = service::visible_instance(&state, &c, *id).await?;
        let upload_id = files_of(&state, &row)?
            .into_iter()
            .find(|(f, _, _)| *f == field.0)
            .map(|(_, _, id)| id)
            .ok_or_else(|| ApiError::not_found("该事项没有这个文件"))?;
        let (u, bytes) = agreements::read_upload(&state, &upload_id).await?;
        Ok(Response::new(Binary(bytes)).header("content-type", u.content_type))
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
        id: Path<i64>,
    ) -> poem::Result<Json<Value>> {
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
            Some(e) => json!({
                "id": e.id, "name": e.name, "credit_code": e.credit_code,
                "registered": true, "warning": item.employer_warning,
            }),
            None => json!({
                "name": vars.get("employer_name"),
                "credit_code": vars.get("credit_code"),
                "registered": false,
                "warning": Value::Null,
            }),
        };
        // What the management system already received for this graduate (delivered syncs).
        let sent: Vec<Value> = agreements::delivered_syncs_of_graduate(&state, row.graduate_id)
            .await?
            .into_iter()
            .map(|m| {
                let p: Value = serde_json::from_str(&m.payload).unwrap_or(Value::Null);
                json!({
                    "instance_id": m.instance_id,
                    "flow": p["flow"],
                    "op": p["op"],
                    "label": p["label"],
                    "agreement_no": p["vars"]["agreement_no"],
                    "employer_name": p["vars"]["employer_name"].as_str().map(Value::from)
                        .unwrap_or_else(|| p["employer"]["name"].clone()),
                    "codes": p["codes"],
                    "delivered_at": m.delivered_at.map(|d| d.to_rfc3339()),
                })
            })
            .collect();
        let documents = agreements::document_names(&state, row.id).await?;
        let files: Vec<Value> = files_of(&state, &row)?
            .into_iter()
            .map(|(field, label, _)| {
                json!({"field": field, "label": label,
                       "url": format!("/api/v1/instances/{}/files/{field}", row.id)})
            })
            .collect();
        let history: Vec<Value> = crate::services::lists::instance_history(&state, row.id)
            .await?
            .into_iter()
            .map(|h| {
                json!({"seq": h.seq, "action": h.action, "actor_role": h.actor_role,
                       "decision": h.decision, "reason_category": h.reason_category,
                       "reason": h.reason, "at": h.at.to_rfc3339()})
            })
            .collect();
        Ok(Json(json!({
            "item": poem_openapi::types::ToJSON::to_json(&item),
            "graduate": {
                "id": g.id, "name": g.name, "candidate_no": g.candidate_no,
                "id_number": g.id_number, "education_level": g.education_level,
                "department": g.department, "major": g.major, "mobile": g.mobile,
                "removed": g.removed,
            },
            "type": kind,
            "student_snapshot": snapshot,
            "student_pending": vars.get(STUDENT_PENDING_VAR),
            "comparison": comparison(&snapshot, &g),
            "employer": employer,
            "files": files,
            "documents": documents,
            "sent_to_management_system": sent,
            "history": history,
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
        id: Path<i64>,
    ) -> poem::Result<Json<Value>> {
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
        Ok(Json(json!({
            "instance_id": row.id,
            "row_version": row.row_version,
            "changed": changed,
            "pending": pending,
            "key_fields_differ": key_differs,
            "note": if key_differs.is_empty() {
                "审核通过后将同步该毕业生的最新信息".to_string()
            } else {
                format!(
                    "{}等关键信息无法以此方法同步，请审核不通过，在就业管理系统修改信息后让毕业生重新申请",
                    key_differs.join("、")
                )
            },
        })))
    }

    /// The employer's single-use link (sent by SMS): what it is for, without an account.
    #[oai(
        path = "/links/:token",
        method = "get",
        operation_id = "agreements_link"
    )]
    async fn link(&self, state: Data<&State>, token: Path<String>) -> poem::Result<Json<Value>> {
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
        Ok(Json(json!({
            "flow_title": def.def.title,
            "action": link.action,
            "action_label": label,
            "graduate_name": g.map(|g| g.name),
            "school_name": s.map(|s| s.name),
            "employer_name": vars.get("employer_name"),
            "expires_at": link.expires_at.to_rfc3339(),
            "document_url": format!("/api/v1/links/{}/document", token.0),
            "upload_url": format!("/api/v1/links/{}/upload", token.0),
            "accept": ["png", "jpg"],
        })))
    }

    /// The e-agreement to print, through the employer's link.
    #[oai(
        path = "/links/:token/document",
        method = "get",
        operation_id = "agreements_link_document"
    )]
    async fn link_document(
        &self,
        state: Data<&State>,
        token: Path<String>,
    ) -> poem::Result<Html<String>> {
        let (_, row) = agreements::live_link(&state, &token).await?;
        let doc = agreements::rendered_document(&state, row.id, "e_agreement").await?;
        Ok(Html(doc.content))
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
        token: Path<String>,
        body: Binary<Vec<u8>>,
    ) -> poem::Result<Json<Value>> {
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
        Ok(Json(json!({
            "instance_id": done.id,
            "state": done.state,
            "label": done.label,
            "upload_id": up.id,
        })))
    }
}
