//! 首页: per module and management list, the live pending counts of the caller's inbox (with
//! the overdue ones, and for a school what waits at department level), the school's handler
//! info (就业协议经办人信息), and the guide text (the template `pages/guide`, data).

use poem_openapi::Object;
use serde_json::Value;

use gradflow_engine::definition::Module;

use crate::auth::{AccountRole, Caller, Level};
use crate::error::{ApiError, ApiResult};
use crate::service::AppState;
use crate::services::tasks;

/// Pending items of one management list.
#[derive(Object)]
pub struct HomeList {
    /// The list (`signing`, `supplement`, `termination`, `destination`, `archive`, `hukou`,
    /// `confirmation`).
    pub list: String,
    /// As the home page names it (在线签约, 补登, 解约, 去向登记, 档案信息申请, 户口信息申请…).
    pub label: String,
    /// The module (`employment`, `archive`, `hukou`).
    pub module: String,
    /// Waiting for the caller.
    pub pending: i64,
    /// Of them, past their due time.
    pub overdue: i64,
    /// For a school: its items of this list waiting at department level.
    pub at_department: i64,
}

/// The home page.
#[derive(Object)]
pub struct Home {
    /// The caller's role.
    pub role: String,
    /// Per list of a module the caller may enter, in the home page's order (each listed, 0
    /// when nothing waits).
    pub lists: Vec<HomeList>,
    /// All pending items.
    pub pending: i64,
    /// 就业协议经办人信息 of the caller's school by education level (`all`, `undergraduate`,
    /// `postgraduate`, each `{name, phone, address, postal_code}`); `{}` when not saved or for
    /// a province.
    pub handler_info: Value,
    /// The guide (操作指南) for the caller's role, one paragraph per line.
    pub guide: String,
}

/// The lists of the home page, in its order, with their labels and modules.
const LISTS: [(&str, &str, Module); 7] = [
    ("signing", "在线签约", Module::Employment),
    ("supplement", "补登", Module::Employment),
    ("termination", "解约", Module::Employment),
    ("destination", "去向登记", Module::Employment),
    ("confirmation", "去向登记确认", Module::Employment),
    ("archive", "档案信息申请", Module::Archive),
    ("hukou", "户口信息申请", Module::Hukou),
];

pub async fn home(state: &AppState, c: &Caller) -> ApiResult<Home> {
    let counted = tasks::pending(state, c).await?;
    let snap = state.registry.snapshot();
    let list_of = |key: &str| {
        snap.definitions()
            .find(|d| d.def.key == key)
            .and_then(|d| d.def.list.clone())
    };
    let mut lists: Vec<HomeList> = LISTS
        .iter()
        .filter(|(_, _, m)| c.level(*m) != Level::None)
        .map(|(list, label, module)| HomeList {
            list: list.to_string(),
            label: label.to_string(),
            module: module.as_str().to_string(),
            pending: 0,
            overdue: 0,
            at_department: 0,
        })
        .collect();
    let mut pending = 0;
    for f in counted.open {
        pending += f.n;
        if let Some(l) = list_of(&f.flow).and_then(|l| lists.iter_mut().find(|x| x.list == l)) {
            l.pending += f.n;
            l.overdue += f.overdue;
        }
    }
    for (flow, n) in counted.at_department {
        if let Some(l) = list_of(&flow).and_then(|l| lists.iter_mut().find(|x| x.list == l)) {
            l.at_department += n;
        }
    }
    let handler_info = match c.actor.school_id {
        Some(id) if c.role != AccountRole::Province => {
            let s = super::bootstrap::find_school(state, id).await?;
            serde_json::from_str(&s.handler_info)
                .unwrap_or_else(|_| Value::Object(Default::default()))
        }
        _ => Value::Object(Default::default()),
    };
    let role = c.actor.role.as_str().to_string();
    let guide = snap
        .render("pages/guide", &serde_json::json!({ "role": role }))
        .map_err(ApiError::internal)?
        .trim()
        .to_string();
    Ok(Home {
        role,
        lists,
        pending,
        handler_info,
        guide,
    })
}
