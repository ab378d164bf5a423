//! The system administrator's bootstrap of organisations and accounts, stored for the
//! handlers of `api/bootstrap.rs`: provinces and schools (upserted by code) with their
//! departments, a minimal roster (graduates upserted by candidate number), employers, and
//! accounts with their first bearer token. The handlers check every field first; these
//! functions load and write what the checked request asks for.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::auth::{issue_token, AccountRole};
use crate::entity::{account, department, employer, graduate, province, school};
use crate::error::{ApiError, ApiResult};
use crate::service::AppState;

/// A province to create or update, its fields already checked.
pub struct ProvinceFields {
    /// The two-digit province code (its key).
    pub code: String,
    pub name: String,
    /// `two_party` (鉴证) or `three_party` (审核).
    pub agreement_type: Option<String>,
    pub employment_enabled: bool,
    pub archive_enabled: bool,
    pub hukou_enabled: bool,
}

/// Creates or updates a province (by code).
pub async fn upsert_province(state: &AppState, p: ProvinceFields) -> ApiResult<province::Model> {
    let am = province::ActiveModel {
        code: Set(p.code.clone()),
        name: Set(p.name),
        agreement_type: Set(p.agreement_type),
        employment_enabled: Set(p.employment_enabled),
        archive_enabled: Set(p.archive_enabled),
        hukou_enabled: Set(p.hukou_enabled),
    };
    let exists = province::Entity::find_by_id(p.code)
        .one(&state.db.conn)
        .await
        .map_err(ApiError::from)?;
    let m = if exists.is_some() {
        am.update(&state.db.writer().await).await
    } else {
        am.insert(&state.db.writer().await).await
    }
    .map_err(ApiError::from)?;
    Ok(m)
}

/// A school to create or update, its fields already checked.
pub struct SchoolFields {
    /// The five-digit school code (its key).
    pub code: String,
    pub name: String,
    pub province_code: String,
    /// `school` or `department_then_school`.
    pub review_mode_employment: String,
    pub signing_enabled: bool,
    /// Departments to add when the school lacks them (existing ones stay).
    pub departments: Vec<String>,
}

/// Creates or updates a school (by code) in a known province, and adds the departments it
/// lacks. A new school reviews archive and hukou at school level, with both modules off.
pub async fn upsert_school(state: &AppState, s: SchoolFields) -> ApiResult<school::Model> {
    crate::org::known_province(&state.db, &s.province_code).await?;
    let db = &state.db.conn;
    let existing = school::Entity::find()
        .filter(school::Column::Code.eq(s.code.clone()))
        .one(db)
        .await
        .map_err(ApiError::from)?;
    let m = match existing {
        Some(e) => {
            let mut am: school::ActiveModel = e.into();
            am.name = Set(s.name.clone());
            am.review_mode_employment = Set(s.review_mode_employment);
            am.signing_enabled = Set(s.signing_enabled);
            am.update(&state.db.writer().await).await
        }
        None => {
            school::ActiveModel {
                code: Set(s.code.clone()),
                name: Set(s.name.clone()),
                province_code: Set(s.province_code.clone()),
                review_mode_employment: Set(s.review_mode_employment),
                review_mode_archive: Set("school".into()),
                review_mode_hukou: Set("school".into()),
                signing_enabled: Set(s.signing_enabled),
                archive_enabled: Set(false),
                hukou_enabled: Set(false),
                termination_cap: Set(3),
                handler_info: Set("{}".into()),
                settings_saved: Set(s.signing_enabled),
                ..Default::default()
            }
            .insert(&state.db.writer().await)
            .await
        }
    }
    .map_err(ApiError::from)?;
    for d in &s.departments {
        let exists = department::Entity::find()
            .filter(department::Column::SchoolId.eq(m.id))
            .filter(department::Column::Name.eq(d.clone()))
            .one(db)
            .await
            .map_err(ApiError::from)?;
        if exists.is_none() {
            department::ActiveModel {
                school_id: Set(m.id),
                name: Set(d.clone()),
                ..Default::default()
            }
            .insert(&state.db.writer().await)
            .await
            .map_err(ApiError::from)?;
        }
    }
    Ok(m)
}

/// Loads a school (404 `学校不存在`).
pub async fn find_school(state: &AppState, id: i64) -> ApiResult<school::Model> {
    school::Entity::find_by_id(id)
        .one(&state.db.conn)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found("学校不存在"))
}

/// Creates or updates (by candidate number) a graduate of `school` from a checked roster row
/// (its school code and 定向/委培单位 are not taken): on the roster, basic info not yet
/// confirmed.
pub async fn upsert_graduate(
    state: &AppState,
    school: &school::Model,
    g: crate::roster::RosterRow,
) -> ApiResult<graduate::Model> {
    let am = graduate::ActiveModel {
        province_code: Set(school.province_code.clone()),
        school_id: Set(school.id),
        candidate_no: Set(g.candidate_no.clone()),
        id_number: Set(g.id_number),
        name: Set(g.name),
        gender: Set(g.gender),
        ethnicity: Set(g.ethnicity),
        political_status: Set(g.political_status),
        education_level: Set(g.education_level),
        training_mode: Set(g.training_mode),
        origin_region: Set(g.origin_region),
        enrolment_date: Set(g.enrolment_date),
        graduation_date: Set(g.graduation_date),
        cohort: Set(g.cohort),
        student_no: Set(g.student_no),
        department: Set(g.department),
        major: Set(g.major),
        schooling_length: Set(g.schooling_length),
        archive_in_school: Set(g.archive_in_school),
        hukou_in_school: Set(g.hukou_in_school),
        email: Set(g.email),
        mobile: Set(g.mobile),
        removed: Set(false),
        removed_at: Set(None),
        basic_info_confirmed: Set(false),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    let existing = graduate::Entity::find()
        .filter(graduate::Column::CandidateNo.eq(g.candidate_no))
        .one(&state.db.conn)
        .await
        .map_err(ApiError::from)?;
    let txn = state.db.begin_write().await?;
    let m = match existing {
        Some(e) => {
            let mut am = am;
            am.id = Set(e.id);
            am.update(&txn).await
        }
        None => am.insert(&txn).await,
    }
    .map_err(ApiError::from)?;
    crate::store::counters::recount_roster(&txn, school.id).await?;
    txn.commit().await?;
    Ok(m)
}

/// Registers an employer; a credit code already registered is 409 `credit_code_taken`.
pub async fn register_employer(
    state: &AppState,
    name: String,
    credit_code: &str,
    region: Option<String>,
) -> ApiResult<employer::Model> {
    let txn = state.db.begin_write().await.map_err(ApiError::from)?;
    let m = employer::ActiveModel {
        name: Set(name),
        credit_code: Set(credit_code.to_string()),
        nature: Set(None),
        industry: Set(None),
        region: Set(region),
        address: Set(None),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| match crate::db::is_unique_violation(&e) {
        true => ApiError::conflict("credit_code_taken", "credit_code：该统一社会信用代码已注册"),
        _ => ApiError::from(e),
    })?;
    txn.commit().await.map_err(ApiError::from)?;
    Ok(m)
}

/// Refuses an account's province unless it is known, and its school unless it exists and
/// (with a province) lies in that province (422 `unknown_school`).
pub async fn check_account_province_and_school(
    state: &AppState,
    province_code: Option<&str>,
    school_id: Option<i64>,
) -> ApiResult<()> {
    if let Some(p) = province_code {
        crate::org::known_province(&state.db, p).await?;
    }
    if let Some(id) = school_id {
        let s = school::Entity::find_by_id(id)
            .one(&state.db.conn)
            .await
            .map_err(ApiError::from)?;
        if s.is_none_or(|s| province_code.is_some_and(|p| p != s.province_code)) {
            return Err(ApiError::unprocessable(
                "unknown_school",
                format!("school_id：学校 {id} 不存在或不属于该省份"),
            ));
        }
    }
    Ok(())
}

/// An account to create, its fields already checked.
pub struct NewAccount {
    pub username: String,
    pub display_name: String,
    /// Any role but the administrator and integrators.
    pub role: AccountRole,
    /// The argon2 hash of its password, if it may log in with one.
    pub password_hash: Option<String>,
    pub province_code: Option<String>,
    pub school_id: Option<i64>,
    pub department: Option<String>,
    pub graduate_id: Option<i64>,
    pub employer_id: Option<i64>,
    pub perm_employment: String,
    pub perm_archive: String,
    pub perm_hukou: String,
}

/// Creates an account and issues its bearer token (answered with it, to be shown once). A
/// username already taken is 409 `username_taken`.
pub async fn create_account_with_token(
    state: &AppState,
    new: NewAccount,
) -> ApiResult<(account::Model, String)> {
    let m = account::ActiveModel {
        display_name: Set(new.display_name),
        username: Set(new.username),
        role: Set(new.role.as_str().into()),
        password_hash: Set(new.password_hash),
        province_code: Set(new.province_code),
        school_id: Set(new.school_id),
        department: Set(new.department),
        graduate_id: Set(new.graduate_id),
        employer_id: Set(new.employer_id),
        perm_employment: Set(new.perm_employment),
        perm_archive: Set(new.perm_archive),
        perm_hukou: Set(new.perm_hukou),
        active: Set(true),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&state.db.writer().await)
    .await
    .map_err(|e| match crate::db::is_unique_violation(&e) {
        true => ApiError::conflict("username_taken", "用户名已存在"),
        _ => ApiError::from(e),
    })?;
    let token = issue_token(&state.db, m.id, "session").await?;
    Ok((m, token))
}
