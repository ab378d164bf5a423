//! Paging of lists: the page and page size a request asks for, within bounds, and one page of a
//! query with the total. Shared by the services and the HTTP handlers.

use crate::error::{ApiError, ApiResult};

/// How a list is paged: the query parameter naming its page size, the size when none is
/// asked for, and the largest size allowed.
pub struct Paging {
    pub size_param: &'static str,
    pub default: u64,
    pub max: u64,
}

/// The paging of every list: `page` (from 1) and `page_size`, 20 by default, at most 200; the
/// answer is `{total, page, page_size, items}`.
pub const PAGE_SIZE: Paging = Paging {
    size_param: "page_size",
    default: 20,
    max: 200,
};

/// The deepest page any list serves: beyond it, narrow the query (or export it).
pub const MAX_PAGE: u64 = 100_000;

/// The page (from 1) and page size a list asked for, each within its bounds; out of them, a
/// 422 naming the parameter (never an overflowing offset).
pub fn page_params(page: Option<u64>, size: Option<u64>, p: &Paging) -> ApiResult<(u64, u64)> {
    let page = page.unwrap_or(1);
    if !(1..=MAX_PAGE).contains(&page) {
        return Err(ApiError::unprocessable(
            "invalid_page",
            format!("page：页码应为 1 到 {MAX_PAGE} 之间的整数，请缩小查询范围"),
        ));
    }
    let size = size.unwrap_or(p.default);
    if !(1..=p.max).contains(&size) {
        return Err(ApiError::unprocessable(
            "invalid_page_size",
            format!("{}：每页条数应为 1 到 {} 之间的整数", p.size_param, p.max),
        ));
    }
    Ok((page, size))
}

/// One page of a list query and the number of rows the whole query has.
pub struct Paged<M> {
    pub page: u64,
    pub size: u64,
    pub total: u64,
    pub rows: Vec<M>,
}

/// Counts `q` and fetches the page asked for (see [`page_params`]).
pub async fn paged<E>(
    conn: &crate::db::Conn,
    q: sea_orm::Select<E>,
    page: Option<u64>,
    size: Option<u64>,
    paging: &Paging,
) -> ApiResult<Paged<E::Model>>
where
    E: sea_orm::EntityTrait,
    E::Model: Sync,
{
    use sea_orm::PaginatorTrait;
    let total = q.clone().count(conn).await?;
    page_of(conn, q, total, page, size, paging).await
}

/// The page of `q` asked for (see [`page_params`]), with the whole query's `total` as the
/// caller counted it.
pub async fn page_of<E>(
    conn: &crate::db::Conn,
    q: sea_orm::Select<E>,
    total: u64,
    page: Option<u64>,
    size: Option<u64>,
    paging: &Paging,
) -> ApiResult<Paged<E::Model>>
where
    E: sea_orm::EntityTrait,
    E::Model: Sync,
{
    use sea_orm::QuerySelect;
    let (page, size) = page_params(page, size, paging)?;
    let rows = q.offset((page - 1) * size).limit(size).all(conn).await?;
    Ok(Paged {
        page,
        size,
        total,
        rows,
    })
}

/// The order a list was asked for: `sort=KEY` ascending or `sort=-KEY` descending, `KEY` one
/// of the list's documented keys; absent, the list's default (`default`, which may itself
/// start with `-`). Each list breaks ties by id, so pages never overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub key: &'static str,
    pub descending: bool,
}

impl Sort {
    /// Parses `sort` against the list's keys; an unknown key is a 422 naming them.
    pub fn parse(
        sort: Option<&str>,
        keys: &[&'static str],
        default: &'static str,
    ) -> ApiResult<Sort> {
        let asked = sort
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(default);
        let (descending, name) = match asked.strip_prefix('-') {
            Some(n) => (true, n),
            None => (false, asked),
        };
        match keys.iter().find(|k| **k == name) {
            Some(key) => Ok(Sort { key, descending }),
            None => {
                let mut e = ApiError::unprocessable(
                    "invalid_sort",
                    format!("sort：只能按 {} 排序（键前加 - 为倒序）", keys.join("、")),
                );
                e.body.errors.push(gradflow_engine::form::FieldError {
                    field: "sort".into(),
                    label: "排序".into(),
                    code: "invalid_sort".into(),
                    message: e.body.message.clone(),
                });
                Err(e)
            }
        }
    }

    /// sea-orm's order for this direction.
    pub fn order(&self) -> sea_orm::Order {
        if self.descending {
            sea_orm::Order::Desc
        } else {
            sea_orm::Order::Asc
        }
    }

    /// `ASC` or `DESC`, for hand-written SQL.
    pub fn sql(&self) -> &'static str {
        if self.descending {
            "DESC"
        } else {
            "ASC"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_are_checked_and_directions_read() {
        let keys = ["opened_at", "name"];
        assert_eq!(
            Sort::parse(None, &keys, "-opened_at").unwrap(),
            Sort {
                key: "opened_at",
                descending: true
            }
        );
        assert_eq!(
            Sort::parse(Some("name"), &keys, "-opened_at").unwrap(),
            Sort {
                key: "name",
                descending: false
            }
        );
        let e = Sort::parse(Some("-salary"), &keys, "name").unwrap_err();
        assert_eq!(
            (e.body.code.as_str(), e.body.errors[0].field.as_str()),
            ("invalid_sort", "sort")
        );
        assert!(
            e.body.message.contains("opened_at、name"),
            "{}",
            e.body.message
        );
    }
}
