//! The facts a transition's guards see, loaded for one graduate (and employer): the graduate,
//! the school and its settings, the province, whether an agreement is held, and the optional
//! facts a flow declares (`facts: [termination_count]`); and the graduate as an instance shows
//! them (the `_student` snapshot).

use gradflow_engine::definition::Module;
use gradflow_engine::registry::Snapshot;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use serde_json::Value;

use crate::contract::{
    EmployerFacts, GraduateFacts, GuardFacts, ProvinceFacts, SchoolFacts, StudentSnapshot,
};
use crate::entity::{employer, graduate, instance, province, school};
use crate::error::{ApiError, ApiResult};

/// The management list of destination registrations (both destination flows): they hold the
/// graduate's `agreement` slot like a signing does (one destination at a time), but are not
/// agreements.
pub const DESTINATION_LIST: &str = "destination";

/// The rows a transition needs, and the facts the guards see.
#[derive(Clone)]
pub struct Facts {
    pub value: Value,
    pub graduate: graduate::Model,
    pub school: school::Model,
    pub province: province::Model,
}

fn review_mode(s: &school::Model, module: Module) -> &str {
    match module {
        Module::Employment => &s.review_mode_employment,
        Module::Archive => &s.review_mode_archive,
        Module::Hukou => &s.review_mode_hukou,
    }
}

/// A graduate's row, kept in process ([`crate::db::cache`]: dropped on every write to the
/// table).
pub async fn graduate_row(db: &crate::db::Db, id: i64) -> ApiResult<Option<graduate::Model>> {
    Ok(db
        .rows
        .graduates
        .get_or_load(db, id, || graduate::Entity::find_by_id(id).one(&db.conn))
        .await?)
}

/// Loads the facts of one graduate (and employer) for a transition of `def` (its module picks
/// the review mode; its declared optional facts are loaded too).
pub async fn load_facts(
    db: &crate::db::Db,
    snap: &Snapshot,
    graduate_id: i64,
    employer_id: Option<i64>,
    def: &gradflow_engine::definition::Definition,
) -> ApiResult<Facts> {
    let module = def.module;
    let conn = &db.conn;
    let g = graduate_row(db, graduate_id)
        .await?
        .ok_or_else(|| ApiError::not_found("毕业生不存在"))?;
    // School, province and employer rows change rarely: kept in process (`db::cache`).
    let s = db
        .rows
        .schools
        .get_or_load(db, g.school_id, || {
            school::Entity::find_by_id(g.school_id).one(conn)
        })
        .await?
        .ok_or_else(|| {
            ApiError::internal(format!(
                "school {} of graduate {} missing",
                g.school_id, g.id
            ))
        })?;
    let p = db
        .rows
        .provinces
        .get_or_load(db, s.province_code.clone(), || {
            province::Entity::find_by_id(s.province_code.clone()).one(conn)
        })
        .await?
        .ok_or_else(|| ApiError::internal(format!("province {} missing", s.province_code)))?;
    let e = match employer_id {
        Some(id) => {
            db.rows
                .employers
                .get_or_load(db, id, || employer::Entity::find_by_id(id).one(conn))
                .await?
        }
        None => None,
    };
    // Who holds the graduate's one destination (an agreement or a destination registration):
    // the holder's management list is `destination` for a destination registration.
    let held_by = crate::store::slot_holder(conn, &format!("agreement:g{graduate_id}"))
        .await?
        .map(|(_, list)| list);
    let has_destination = held_by
        .as_ref()
        .is_some_and(|l| l.as_deref() == Some(DESTINATION_LIST));
    let has_agreement = held_by.is_some() && !has_destination;
    let terminations = if def.facts.iter().any(|f| f == "termination_count") {
        Some(
            instance::Entity::find()
                .filter(instance::Column::GraduateId.eq(graduate_id))
                .filter(instance::Column::List.eq("termination"))
                .filter(instance::Column::InitiatorRole.eq("graduate"))
                .count(conn)
                .await?,
        )
    } else {
        None
    };
    let handler_info: Value = serde_json::from_str(&s.handler_info).unwrap_or(Value::Null);
    let group = if g.education_level.contains("研究生") {
        "postgraduate"
    } else {
        "undergraduate"
    };
    let handler = handler_info
        .get(group)
        .or_else(|| handler_info.get("all"))
        .cloned()
        .unwrap_or(Value::Null);
    let training_label = snap
        .codes
        .label("training_mode", &g.training_mode)
        .unwrap_or_else(|| g.training_mode.clone());
    let facts = GuardFacts {
        graduate: GraduateFacts {
            id: g.id,
            name: g.name.clone(),
            candidate_no: g.candidate_no.clone(),
            id_number: g.id_number.clone(),
            gender: g.gender.clone(),
            education_level: g.education_level.clone(),
            training_mode: g.training_mode.clone(),
            training_mode_label: training_label,
            department: g.department.clone(),
            major: g.major.clone(),
            cohort: g.cohort,
            graduation_date: g.graduation_date.clone(),
            origin_region: g.origin_region.clone(),
            mobile: g.mobile.clone(),
            removed: g.removed,
            directed_employer: g.directed_employer.clone(),
        },
        school: SchoolFacts {
            id: s.id,
            code: s.code.clone(),
            name: s.name.clone(),
            termination_cap: s.termination_cap,
            signing_enabled: s.signing_enabled,
            handler: serde_json::from_value(handler).ok(),
        },
        province: ProvinceFacts {
            code: p.code.clone(),
            name: p.name.clone(),
        },
        employer: e.map(|e| EmployerFacts {
            id: e.id,
            name: e.name,
            credit_code: e.credit_code,
        }),
        review_mode: review_mode(&s, module).to_string(),
        agreement_type: p.agreement_type.clone(),
        graduate_has_agreement: has_agreement,
        graduate_has_destination: has_destination,
        // Termination applications the graduate submitted (online started by them + offline).
        termination_count: terminations,
        subject: None,
    };
    let value = serde_json::to_value(&facts).map_err(ApiError::internal)?;
    Ok(Facts {
        value,
        graduate: g,
        school: s,
        province: p,
    })
}

/// Roster fields "get latest student info" may bring into a pending item (SPEC.md 3); the
/// key fields (name, education level, ID number, school, major) are only compared: a
/// mismatch there means rejecting and correcting the roster first.
pub const REFRESHABLE: [(&str, &str); 8] = [
    ("gender", "性别"),
    ("ethnicity", "民族"),
    ("political_status", "政治面貌"),
    ("department", "所在院系"),
    ("schooling_length", "学制"),
    ("student_no", "学号"),
    ("graduation_date", "毕业时间"),
    ("directed_employer", "定向/委培单位"),
];
pub const KEY_FIELDS: [(&str, &str); 4] = [
    ("name", "姓名"),
    ("education_level", "学历"),
    ("id_number", "身份证号"),
    ("major", "专业"),
];

/// The graduate as an instance shows them (e-agreement, review), taken when it starts.
pub fn student_snapshot(g: &graduate::Model, training_label: &Value) -> Value {
    let s = StudentSnapshot {
        name: g.name.clone(),
        gender: g.gender.clone(),
        ethnicity: g.ethnicity.clone(),
        political_status: g.political_status.clone(),
        id_number: g.id_number.clone(),
        education_level: g.education_level.clone(),
        department: g.department.clone(),
        major: g.major.clone(),
        schooling_length: g.schooling_length.clone(),
        student_no: g.student_no.clone(),
        graduation_date: g.graduation_date.clone(),
        training_mode: g.training_mode.clone(),
        training_mode_label: training_label.as_str().unwrap_or_default().to_string(),
        directed_employer: g.directed_employer.clone(),
    };
    serde_json::to_value(s).unwrap_or(Value::Null)
}
