//! Facts about organisations that settings and accounts rules need: the roster's departments,
//! which of them have a department account, and what is still in flight in a module.

use gradflow_engine::definition::Module;
use sea_orm::{ConnectionTrait, Value as DbValue};
use serde::Serialize;

use crate::db::Db;
use crate::error::ApiResult;

/// The stored name of a module (as in `instances.module`).
pub fn module_key(m: Module) -> &'static str {
    match m {
        Module::Employment => "employment",
        Module::Archive => "archive",
        Module::Hukou => "hukou",
    }
}

/// The permission column of accounts for a module.
fn perm_column(m: Module) -> &'static str {
    match m {
        Module::Employment => "perm_employment",
        Module::Archive => "perm_archive",
        Module::Hukou => "perm_hukou",
    }
}

/// Parses a module name from a path or body.
pub fn parse_module(s: &str) -> Option<Module> {
    Some(match s {
        "employment" => Module::Employment,
        "archive" => Module::Archive,
        "hukou" => Module::Hukou,
        _ => return None,
    })
}

/// The distinct department names of a school's current roster (graduates not removed).
pub async fn roster_departments(db: &Db, school_id: i64) -> ApiResult<Vec<String>> {
    let rows = db
        .conn
        .query_all(db.stmt(
            "SELECT DISTINCT department FROM graduates WHERE school_id = ? AND removed = ? \
             ORDER BY department",
            vec![school_id.into(), false.into()],
        ))
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| r.try_get::<String>("", "department").ok())
        .collect())
}

/// One roster department and its department accounts for a module.
#[derive(Debug, Clone, Serialize, poem_openapi::Object)]
pub struct DepartmentCoverage {
    /// The roster department (院系).
    pub department: String,
    /// Active department accounts whose department name equals this one exactly.
    pub accounts: i64,
    /// Of those, the ones with read-write level in the module.
    pub read_write: i64,
}

/// For every roster department: how many department accounts carry exactly its name, and how
/// many of them may review (read-write) in `module`. Two queries, whatever the size.
pub async fn department_coverage(
    db: &Db,
    school_id: i64,
    module: Module,
) -> ApiResult<Vec<DepartmentCoverage>> {
    let departments = roster_departments(db, school_id).await?;
    let sql = format!(
        "SELECT department, COUNT(*) AS n, \
         SUM(CASE WHEN {} = 'rw' THEN 1 ELSE 0 END) AS rw \
         FROM accounts WHERE school_id = ? AND role = 'department' AND active = ? \
         GROUP BY department",
        perm_column(module)
    );
    let rows = db
        .conn
        .query_all(db.stmt(&sql, vec![school_id.into(), true.into()]))
        .await?;
    let mut counts = std::collections::HashMap::new();
    for r in rows {
        let d: Option<String> = r.try_get("", "department")?;
        let n: i64 = r.try_get("", "n")?;
        let rw: i64 = r.try_get::<Option<i64>>("", "rw")?.unwrap_or(0);
        if let Some(d) = d {
            counts.insert(d, (n, rw));
        }
    }
    Ok(departments
        .into_iter()
        .map(|d| {
            let (accounts, read_write) = counts.get(&d).copied().unwrap_or((0, 0));
            DepartmentCoverage {
                department: d,
                accounts,
                read_write,
            }
        })
        .collect())
}

/// What is still in flight in a module at a school: unfinished instances, and of them the
/// ones waiting for a school or department review.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct InFlight {
    pub unfinished: i64,
    pub pending_review: i64,
}

pub async fn in_flight(db: &Db, school_id: i64, module: Module) -> ApiResult<InFlight> {
    let one = |sql: &str, values: Vec<DbValue>| {
        let stmt = db.stmt(sql, values);
        async move {
            let row = db.conn.query_one(stmt).await?;
            Ok::<i64, sea_orm::DbErr>(match row {
                Some(r) => r.try_get::<i64>("", "n")?,
                None => 0,
            })
        }
    };
    let m = module_key(module);
    let unfinished = one(
        "SELECT COUNT(*) AS n FROM instances WHERE school_id = ? AND module = ? AND is_final = ?",
        vec![school_id.into(), m.into(), false.into()],
    )
    .await?;
    let pending_review = one(
        "SELECT COUNT(DISTINCT t.instance_id) AS n FROM tasks t JOIN instances i ON i.id = t.instance_id \
         WHERE t.school_id = ? AND i.module = ? AND t.role IN ('school', 'department')",
        vec![school_id.into(), m.into()],
    )
    .await?;
    Ok(InFlight {
        unfinished,
        pending_review,
    })
}

/// Whether anyone acted in a module at a school: any instance at all, finished or not.
pub async fn any_activity(db: &Db, school_id: i64, module: Module) -> ApiResult<bool> {
    let row = db
        .conn
        .query_one(db.stmt(
            "SELECT id FROM instances WHERE school_id = ? AND module = ? LIMIT 1",
            vec![school_id.into(), module_key(module).into()],
        ))
        .await?;
    Ok(row.is_some())
}

/// Whether any instance of a management list exists at the school (someone acted there).
pub async fn any_activity_in_list(db: &Db, school_id: i64, list: &str) -> ApiResult<bool> {
    let row = db
        .conn
        .query_one(db.stmt(
            "SELECT id FROM instances WHERE school_id = ? AND list = ? LIMIT 1",
            vec![school_id.into(), list.into()],
        ))
        .await?;
    Ok(row.is_some())
}

/// The province with this code, or the 422 that names it: every record naming a province
/// (a school, an account, an API key) is refused when the province does not exist.
pub async fn known_province(db: &Db, code: &str) -> ApiResult<crate::entity::province::Model> {
    use sea_orm::EntityTrait;
    crate::entity::province::Entity::find_by_id(code.trim().to_string())
        .one(&db.conn)
        .await?
        .ok_or_else(|| {
            crate::error::ApiError::unprocessable(
                "unknown_province",
                format!("province_code：省份 {} 不存在，请先创建省份", code.trim()),
            )
        })
}
