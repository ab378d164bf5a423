//! Who may see what: every query and every action is scoped to the caller's province, school,
//! department or own record (SPEC.md 1). One place decides, for instances, graduates, schools
//! and roster imports alike.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use gradflow_engine::apply::china_offset;

use crate::auth::{AccountRole, Caller, KeyKind};
use crate::entity::{graduate, instance, school};
use crate::error::{ApiError, ApiResult};

/// Where a record lives.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub province: &'a str,
    pub school_id: i64,
    pub department: &'a str,
    pub graduate_id: Option<i64>,
    pub employer_id: Option<i64>,
}

impl<'a> Place<'a> {
    pub fn of_instance(r: &'a instance::Model) -> Place<'a> {
        Place {
            province: &r.province_code,
            school_id: r.school_id,
            department: &r.department,
            graduate_id: Some(r.graduate_id),
            employer_id: r.employer_id,
        }
    }

    pub fn of_graduate(g: &'a graduate::Model) -> Place<'a> {
        Place {
            province: &g.province_code,
            school_id: g.school_id,
            department: &g.department,
            graduate_id: Some(g.id),
            employer_id: None,
        }
    }
}

/// Whether `caller` may see a record at `place`. Integrators see no flow data.
pub fn sees(caller: &Caller, place: Place<'_>) -> bool {
    let a = &caller.actor;
    match caller.role {
        AccountRole::Admin => true,
        AccountRole::Integrator => false,
        AccountRole::Province => a.province.as_deref() == Some(place.province),
        AccountRole::School => a.school_id == Some(place.school_id),
        AccountRole::Department => {
            a.school_id == Some(place.school_id)
                && a.department.as_deref() == Some(place.department)
        }
        AccountRole::Graduate => a.graduate_id.is_some() && a.graduate_id == place.graduate_id,
        AccountRole::Employer => a.employer_id.is_some() && a.employer_id == place.employer_id,
    }
}

/// Whether `caller` may see an instance.
pub fn sees_instance(caller: &Caller, r: &instance::Model) -> bool {
    sees(caller, Place::of_instance(r))
}

/// Whether `caller` may see a graduate (to start a flow for them, or see their data).
/// Employers invite graduates nationwide, so they may address any graduate.
pub fn sees_graduate(caller: &Caller, g: &graduate::Model) -> bool {
    caller.role == AccountRole::Employer || sees(caller, Place::of_graduate(g))
}

/// Whether `caller` may see a school's settings and lists (its province, itself, its departments).
pub fn sees_school(caller: &Caller, s: &school::Model) -> bool {
    let a = &caller.actor;
    match caller.role {
        AccountRole::Admin => true,
        AccountRole::Province => a.province.as_deref() == Some(s.province_code.as_str()),
        AccountRole::School | AccountRole::Department => a.school_id == Some(s.id),
        _ => false,
    }
}

/// Whether an integrator key (or the administrator) covers school `s`: a school key its own
/// school, a province key the province's schools, a nationwide key (only the administrator
/// makes one, for the identity provider) every school.
pub fn covers_school(caller: &Caller, s: &school::Model) -> bool {
    let a = &caller.actor;
    match caller.role {
        AccountRole::Admin => true,
        AccountRole::Integrator => match (a.school_id, a.province.as_deref()) {
            (Some(id), _) => id == s.id,
            (None, Some(p)) => p == s.province_code,
            (None, None) => true,
        },
        _ => false,
    }
}

/// Whether a roster key (or the administrator) may write the roster of school `s`.
pub fn covers_roster(caller: &Caller, s: &school::Model) -> bool {
    match caller.role {
        AccountRole::Integrator => {
            caller.key_kind == Some(KeyKind::Roster) && covers_school(caller, s)
        }
        _ => covers_school(caller, s),
    }
}

/// Refuses unless the caller is the administrator or a roster key of the employment
/// management system.
pub fn require_integrator(caller: &Caller) -> ApiResult<()> {
    match (caller.role, caller.key_kind) {
        (AccountRole::Admin, _) | (AccountRole::Integrator, Some(KeyKind::Roster)) => Ok(()),
        (AccountRole::Integrator, _) => Err(ApiError::forbidden(
            "该接口密钥不是就业管理系统的密钥，不能操作学生名单",
        )),
        _ => Err(ApiError::forbidden(
            "学生名单只能由就业管理系统（接口密钥）上传、删除和恢复",
        )),
    }
}

/// Refuses unless the caller is the administrator or the identity provider's key.
pub fn require_identity_key(caller: &Caller) -> ApiResult<()> {
    match (caller.role, caller.key_kind) {
        (AccountRole::Admin, _) | (AccountRole::Integrator, Some(KeyKind::Identity)) => Ok(()),
        _ => Err(ApiError::forbidden(
            "只有身份认证系统的接口密钥（由系统管理员签发）可以为毕业生签发登录令牌",
        )),
    }
}

/// The last moment (exclusive) at which graduates of `cohort` may still act: 1 February of the
/// following year, 00:00 China time. The current cohort acts; the previous one until 31
/// January of the next year; older cohorts only view their records (SPEC.md 3).
pub fn cohort_deadline(cohort: i32) -> DateTime<Utc> {
    let day = NaiveDate::from_ymd_opt(cohort + 1, 2, 1).unwrap_or(NaiveDate::MAX);
    china_offset()
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Whether graduates of `cohort` may still act at `now`.
pub fn cohort_can_act(cohort: i32, now: DateTime<Utc>) -> bool {
    now < cohort_deadline(cohort)
}

/// The refusal for an older cohort.
pub fn cohort_closed(cohort: i32) -> ApiError {
    ApiError::unprocessable(
        "cohort_closed",
        format!("{cohort}届毕业生只能查看过往记录，不能再办理（上一届毕业生可操作到次年1月31日）"),
    )
}

/// The cohort that is "current" at `now` in China time: graduates of next summer from
/// September on, this summer's before.
pub fn current_cohort(now: DateTime<Utc>) -> i32 {
    let d = now.with_timezone(&china_offset());
    if d.month() >= 9 {
        d.year() + 1
    } else {
        d.year()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn previous_cohort_acts_until_31_january_china_time() {
        // 2026届 in November 2026: the previous cohort, still acting.
        assert!(cohort_can_act(2026, at("2026-11-23T12:00:00+08:00")));
        // The last second of 31 January 2027 in China is still inside.
        assert!(cohort_can_act(2026, at("2027-01-31T23:59:59+08:00")));
        // 1 February 00:00 China time is 31 January 16:00 UTC: closed.
        assert!(!cohort_can_act(2026, at("2027-02-01T00:00:00+08:00")));
        assert!(!cohort_can_act(2026, at("2027-01-31T16:00:00Z")));
        assert!(cohort_can_act(2026, at("2027-01-31T15:59:59Z")));
        // Older cohorts only view.
        assert!(!cohort_can_act(2025, at("2026-11-23T12:00:00+08:00")));
        // The current and future cohorts act.
        assert!(cohort_can_act(2027, at("2026-11-23T12:00:00+08:00")));
    }

    #[test]
    fn current_cohort_turns_in_september() {
        assert_eq!(current_cohort(at("2026-08-31T23:00:00+08:00")), 2026);
        assert_eq!(current_cohort(at("2026-09-01T00:00:00+08:00")), 2027);
        assert_eq!(current_cohort(at("2026-11-23T12:00:00+08:00")), 2027);
    }
}
