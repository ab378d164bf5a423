//! Reference data (SPEC.md 6): the code tables and the region list, as loaded from
//! `workflows/codes/` (reloadable, never compiled in). Public: no token needed.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;
use serde_json::{json, Value};

use super::Tag;
use crate::error::ApiError;
use crate::service::State;

pub struct CodesApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Codes")]
impl CodesApi {
    /// The names of every code table with their number of codes.
    #[oai(path = "/codes", method = "get", operation_id = "codes_tables")]
    async fn tables(&self, state: Data<&State>) -> Json<Value> {
        let snap = state.registry.snapshot();
        let items: Vec<Value> = snap
            .codes
            .tables
            .iter()
            .map(|(name, codes)| json!({"table": name, "count": codes.len()}))
            .collect();
        Json(json!({ "items": items }))
    }

    /// The codes of one table (code → label), in code order.
    #[oai(path = "/codes/:table", method = "get", operation_id = "codes_table")]
    async fn table(&self, state: Data<&State>, table: Path<String>) -> poem::Result<Json<Value>> {
        let snap = state.registry.snapshot();
        let codes = snap
            .codes
            .tables
            .get(table.as_str())
            .ok_or_else(|| ApiError::not_found(format!("代码表 {} 不存在", table.0)))?;
        let items: Vec<Value> = codes
            .iter()
            .map(|(code, label)| json!({"code": code, "label": label}))
            .collect();
        Ok(Json(json!({"table": table.0, "items": items})))
    }

    /// Region codes.
    ///
    /// Region codes (GB/T 2260): without `parent` the provinces; with a 2-digit province prefix its
    /// prefectures; with a 4-digit prefecture prefix its counties.
    #[oai(path = "/regions", method = "get", operation_id = "codes_regions")]
    async fn regions(
        &self,
        state: Data<&State>,
        parent: Query<Option<String>>,
    ) -> poem::Result<Json<Value>> {
        let snap = state.registry.snapshot();
        let Some(regions) = snap.codes.regions.as_ref() else {
            return Ok(Json(json!({"items": []})));
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
        let items: Vec<Value> = regions
            .iter()
            .filter(|(code, _)| match parent.len() {
                0 => code.ends_with("0000"),
                2 => code.starts_with(&parent) && code.ends_with("00") && !code.ends_with("0000"),
                _ => code.starts_with(&parent) && !code.ends_with("00"),
            })
            .map(|(code, name)| json!({"code": code, "name": name}))
            .collect();
        Ok(Json(json!({"parent": parent, "items": items})))
    }
}
