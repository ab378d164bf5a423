//! The employer name search index (SPEC.md 5: search by name or code). A "contains" search over
//! every employer of the country cannot scan the table, so each name's distinct character
//! bigrams are posted in `employer_name_grams`. A query reads how many employers carry each of
//! its bigrams (each count stops at [`BROAD_LIMIT`]), drives the search from the rarest one and
//! confirms the whole text with `LIKE` on those candidates only.

use sea_orm::sea_query::{Expr, Func, LikeExpr, OnConflict, Query, UnionType};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, Select, Statement,
};

pub use gradflow_migrations::name_grams;

use crate::entity::{employer, employer_name_gram};
use crate::error::{ApiError, ApiResult};

/// A name query whose rarest bigram is carried by more employers than this is refused as too
/// broad (it would list a good part of the country's employers).
pub const BROAD_LIMIT: u64 = 20_000;

/// Posts `name`'s bigrams for employer `id`, replacing its old ones unless it is `new`.
/// Called by the employer entity whenever one is saved (see `entity::employer`).
pub async fn index<C: ConnectionTrait>(
    db: &C,
    id: i64,
    name: &str,
    new: bool,
) -> Result<(), DbErr> {
    if !new {
        employer_name_gram::Entity::delete_many()
            .filter(employer_name_gram::Column::EmployerId.eq(id))
            .exec(db)
            .await?;
    }
    let grams = name_grams(name);
    if grams.is_empty() {
        return Ok(());
    }
    employer_name_gram::Entity::insert_many(grams.into_iter().map(|gram| {
        employer_name_gram::ActiveModel {
            gram: sea_orm::Set(gram),
            employer_id: sea_orm::Set(id),
        }
    }))
    .on_conflict(
        OnConflict::columns([
            employer_name_gram::Column::Gram,
            employer_name_gram::Column::EmployerId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// How the name part of a query is answered.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// Some bigram of the query is carried by no employer: no name matches.
    NoMatch,
    /// Candidates are the employers carrying this bigram.
    Drive(String),
}

/// Chooses the rarest bigram from `(gram, capped count)` pairs (one per bigram of the query,
/// up to the first absent one), or refuses a query that is too short (it has no bigram) or
/// too broad (field `q`, Chinese message, stable code).
pub fn plan(counts: &[(String, u64)]) -> ApiResult<Plan> {
    let Some((gram, n)) = counts.iter().min_by_key(|(_, n)| *n) else {
        return Err(ApiError::unprocessable(
            "query_too_short",
            "q：单位名称至少输入两个字，或输入完整的统一社会信用代码",
        ));
    };
    if *n == 0 {
        Ok(Plan::NoMatch)
    } else if *n > BROAD_LIMIT {
        Err(ApiError::unprocessable(
            "query_too_broad",
            format!(
                "q：查询条件过于宽泛（超过 {BROAD_LIMIT} 家单位），请输入更完整的单位名称或统一社会信用代码"
            ),
        ))
    } else {
        Ok(Plan::Drive(gram.clone()))
    }
}

#[derive(FromQueryResult)]
struct Count {
    n: i64,
}

/// How many employers carry `gram`, counting at most `cap`.
async fn capped_count<C: ConnectionTrait>(db: &C, gram: &str, cap: u64) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let inner = Query::select()
        .expr(Expr::val(1))
        .from(employer_name_gram::Entity)
        .and_where(employer_name_gram::Column::Gram.eq(gram))
        .limit(cap)
        .to_owned();
    let built = backend.build(&inner);
    let stmt = Statement {
        sql: format!("SELECT COUNT(*) AS n FROM ({}) capped", built.sql),
        values: built.values,
        db_backend: backend,
    };
    let row = Count::find_by_statement(stmt).one(db).await?;
    Ok(row.map_or(0, |r| r.n.max(0) as u64))
}

/// The employers whose name contains `q` (case-insensitive) or whose credit code is `q`,
/// ordered by name. A query that is a complete credit code skips the name rules.
pub async fn search<C: ConnectionTrait>(db: &C, q: &str) -> ApiResult<Select<employer::Entity>> {
    let q = q.trim();
    let code = q.to_uppercase();
    let by_code = gradflow_engine::ident::CreditCode::parse(&code).is_ok();
    // Each count stops where it can no longer be the rarest (or past the broad limit), so a
    // long name costs a few short index range reads.
    let mut counts = Vec::new();
    let mut cap = BROAD_LIMIT + 1;
    for gram in name_grams(q) {
        let n = capped_count(db, &gram, cap).await?;
        cap = cap.min(n.max(1));
        counts.push((gram, n));
        if n == 0 {
            break;
        }
    }
    let plan = match plan(&counts) {
        Ok(p) => p,
        // A credit code is never too short or too broad.
        Err(_) if by_code => Plan::NoMatch,
        Err(e) => return Err(e),
    };
    let by_code_cond = employer::Column::CreditCode.eq(code.clone());
    let cond = match plan {
        Plan::NoMatch => Condition::all().add(by_code_cond),
        // Candidates come from two indexes (the rarest bigram's postings and the credit code),
        // so neither backend falls back to scanning every employer for the `OR`.
        Plan::Drive(gram) => {
            let escaped = q
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            let candidates = Query::select()
                .column(employer_name_gram::Column::EmployerId)
                .from(employer_name_gram::Entity)
                .and_where(employer_name_gram::Column::Gram.eq(gram))
                .union(
                    UnionType::All,
                    Query::select()
                        .column(employer::Column::Id)
                        .from(employer::Entity)
                        .and_where(employer::Column::CreditCode.eq(code))
                        .to_owned(),
                )
                .to_owned();
            Condition::all()
                .add(employer::Column::Id.in_subquery(candidates))
                .add(
                    Condition::any().add(by_code_cond).add(
                        Expr::expr(Func::lower(Expr::col(employer::Column::Name)))
                            .like(LikeExpr::new(format!("%{escaped}%")).escape('\\')),
                    ),
                )
        }
    };
    Ok(employer::Entity::find()
        .filter(cond)
        .order_by_asc(employer::Column::Name)
        .order_by_asc(employer::Column::Id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(v: &[(&str, u64)]) -> Vec<(String, u64)> {
        v.iter().map(|(g, n)| (g.to_string(), *n)).collect()
    }

    #[test]
    fn the_rarest_bigram_drives() {
        let c = counts(&[("华为", 12), ("为技", 3), ("技术", 40_000)]);
        assert_eq!(plan(&c).unwrap(), Plan::Drive("为技".into()));
    }

    #[test]
    fn an_unknown_bigram_means_no_match() {
        let c = counts(&[("华为", 12), ("为x", 0)]);
        assert_eq!(plan(&c).unwrap(), Plan::NoMatch);
    }

    #[test]
    fn too_short_and_too_broad_are_refused_naming_q() {
        let e = plan(&[]).unwrap_err();
        assert_eq!(e.body.code, "query_too_short");
        assert!(e.body.message.starts_with("q："), "{}", e.body.message);
        let c = counts(&[("有限", BROAD_LIMIT + 1), ("公司", BROAD_LIMIT + 1)]);
        let e = plan(&c).unwrap_err();
        assert_eq!(e.body.code, "query_too_broad");
        let c = counts(&[("有限", BROAD_LIMIT), ("公司", BROAD_LIMIT + 1)]);
        assert_eq!(plan(&c).unwrap(), Plan::Drive("有限".into()));
    }
}
