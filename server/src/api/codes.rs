//! Reference data (SPEC.md 6): the code tables and the region list, as loaded from
//! `workflows/codes/` (reloadable, never compiled in). Public: no token needed.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::{answers, Tag};
use crate::error::ApiError;
use crate::service::State;

/// A code table and its size.
#[derive(Object)]
pub struct CodeTableSummary {
    /// The table's name (`education_level`, `employer_nature`, `industry`, …).
    pub table: String,
    /// How many codes it has.
    pub count: u64,
}

/// The code tables.
#[derive(Object)]
pub struct CodeTableList {
    /// Every table, by name.
    pub items: Vec<CodeTableSummary>,
}

/// One code of a table.
#[derive(Object)]
pub struct CodeEntry {
    /// The code (`31`).
    pub code: String,
    /// Its label (`国有企业`).
    pub label: String,
}

/// One code table.
#[derive(Object)]
pub struct CodeTable {
    /// The table's name.
    pub table: String,
    /// Its codes, in code order.
    pub items: Vec<CodeEntry>,
}

/// One region (GB/T 2260).
#[derive(Object)]
pub struct Region {
    /// The 6-digit region code (`320100`).
    pub code: String,
    /// Its name (`南京市`).
    pub name: String,
}

/// The regions under a parent.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RegionList {
    /// The parent asked for (empty: the provinces); absent when no region list is loaded.
    pub parent: Option<String>,
    /// The regions, in code order.
    pub items: Vec<Region>,
}

answers! {
    /// The answers of `GET /codes`.
    pub enum CodeTablesAnswer {
        /// The code tables.
        200 Ok(Json<CodeTableList>),
        errors:
        /// A query parameter was sent (`unknown_parameter`).
        400 BadRequest,
    }
}

answers! {
    /// The answers of `GET /codes/{table}`.
    pub enum CodeTableAnswer {
        /// The table's codes.
        200 Ok(Json<CodeTable>),
        errors:
        /// A query parameter was sent (`unknown_parameter`).
        400 BadRequest,
        /// No such table (`not_found`).
        404 NotFound,
        /// A control character in the table's name (`invalid_input` with `control_character`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `GET /regions`.
    pub enum RegionsAnswer {
        /// The regions.
        200 Ok(Json<RegionList>),
        errors:
        /// A parameter is not one the operation takes (`unknown_parameter`).
        400 BadRequest,
        /// `parent` is not empty, 2 or 4 digits (`invalid_parent`), or holds a control character
        /// (`invalid_input` with `control_character`).
        422 Invalid,
    }
}

pub struct CodesApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Codes")]
impl CodesApi {
    /// The names of every code table with their number of codes.
    ///
    /// Public (no token): the code tables forms and exports use, as loaded from
    /// `workflows/codes/`.
    #[oai(path = "/codes", method = "get", operation_id = "codes_tables")]
    async fn tables(&self, state: Data<&State>) -> CodeTablesAnswer {
        let snap = state.registry.snapshot();
        let items = snap
            .codes
            .tables
            .iter()
            .map(|(name, codes)| CodeTableSummary {
                table: name.clone(),
                count: codes.len() as u64,
            })
            .collect();
        CodeTablesAnswer::Ok(Json(CodeTableList { items }))
    }

    /// The codes of one table (code → label), in code order.
    ///
    /// Public (no token); the table names are those of `GET /codes`.
    #[oai(path = "/codes/:table", method = "get", operation_id = "codes_table")]
    async fn table(
        &self,
        state: Data<&State>,
        /// The table's name (see `GET /codes`).
        table: Path<String>,
    ) -> poem::Result<CodeTableAnswer> {
        let snap = state.registry.snapshot();
        let codes = snap
            .codes
            .tables
            .get(table.as_str())
            .ok_or_else(|| ApiError::not_found(format!("代码表 {} 不存在", table.0)))?;
        let items = codes
            .iter()
            .map(|(code, label)| CodeEntry {
                code: code.clone(),
                label: label.clone(),
            })
            .collect();
        Ok(CodeTableAnswer::Ok(Json(CodeTable {
            table: table.0,
            items,
        })))
    }

    /// Region codes (GB/T 2260): provinces, a province's prefectures or a prefecture's counties.
    ///
    /// Public (no token): without `parent` the provinces; with a 2-digit province prefix its
    /// prefectures; with a 4-digit prefecture prefix its counties.
    #[oai(path = "/regions", method = "get", operation_id = "codes_regions")]
    async fn regions(
        &self,
        state: Data<&State>,
        /// Empty or absent (the provinces), a 2-digit province prefix (`32`) or a 4-digit
        /// prefecture prefix (`3201`).
        parent: Query<Option<String>>,
    ) -> poem::Result<RegionsAnswer> {
        let snap = state.registry.snapshot();
        let Some(regions) = snap.codes.regions.as_ref() else {
            return Ok(RegionsAnswer::Ok(Json(RegionList {
                parent: None,
                items: Vec::new(),
            })));
        };
        let parent = parent.0.unwrap_or_default();
        if !(parent.is_empty() || parent.len() == 2 || parent.len() == 4)
            || !parent.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(ApiError::unprocessable(
                "invalid_parent",
                "parent：应为空、2 位省级代码或 4 位地市级代码",
            )
            .into());
        }
        let items = regions
            .iter()
            .filter(|(code, _)| match parent.len() {
                0 => code.ends_with("0000"),
                2 => code.starts_with(&parent) && code.ends_with("00") && !code.ends_with("0000"),
                _ => code.starts_with(&parent) && !code.ends_with("00"),
            })
            .map(|(code, name)| Region {
                code: code.clone(),
                name: name.clone(),
            })
            .collect();
        Ok(RegionsAnswer::Ok(Json(RegionList {
            parent: Some(parent),
            items,
        })))
    }
}
