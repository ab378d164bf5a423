//! 去向登记信息表 and the public lookup (SPEC.md 4.10; seed 000 6): the archive and hukou
//! registration sheets — number, QR code to the lookup, basic info, destination, the archive
//! transfer or hukou migration data (left out where not registered), notes — rendered from the
//! template `documents/registration_sheet`; and the lookup a receiving office makes without an
//! account, by name + verification or transfer number.
//!
//! The lookup answers the sheet while the number is valid (an authorization 生效中, a transfer
//! number not stale) and inside the service period; otherwise one plain answer whose body and
//! status are the same for a wrong name, an unknown, expired, closed or stale number, and
//! whose work is the same too (the same reads in every refused case). Rate-limited per client
//! address and audited (outcome only: no name, no number).

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use gradflow_engine::apply::china_offset;
use poem_openapi::Object;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use serde_json::json;

use crate::entity::{graduate, school, transfer_number, verification};
use crate::error::{ApiError, ApiResult};
use crate::service::{self, AppState};
use crate::services::{confirmation, verification as auth};

/// The one answer of a lookup that found nothing.
pub const NOT_FOUND: &str = "未查询到相关信息或已过期";

/// Public lookups per client address (`--lookups-per-minute`, 10 by default).
pub struct LookupLimiter(Arc<DefaultKeyedRateLimiter<String>>);

impl LookupLimiter {
    pub fn new(per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        LookupLimiter(Arc::new(RateLimiter::keyed(Quota::per_minute(n))))
    }

    /// `Err(seconds to wait)` when `addr` is over the limit.
    pub fn check(&self, addr: &str) -> Result<(), u64> {
        use governor::clock::{Clock, DefaultClock};
        self.0.check_key(&addr.to_string()).map_err(|not_until| {
            not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs()
                .max(1)
        })?;
        // Forget addresses that are back to a full quota (memory stays bounded).
        if self.0.len() > 100_000 {
            self.0.retain_recent();
        }
        Ok(())
    }
}

/// One line of a sheet.
#[derive(Object, Serialize, Debug, Clone)]
pub struct SheetLine {
    pub label: String,
    pub text: String,
}

/// A registration sheet (去向登记信息表).
#[derive(Object, Serialize, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct SheetView {
    /// `archive` or `hukou`.
    pub kind: String,
    /// 档案登记信息表 / 户口登记信息表.
    pub title: String,
    /// 核验编号 or 转递编号.
    pub number_label: String,
    pub number: String,
    /// Where the QR code leads (the public lookup with the number).
    pub link: String,
    /// 基本信息.
    pub basic: Vec<SheetLine>,
    /// 毕业去向信息.
    pub destination: Vec<SheetLine>,
    /// 档案转递信息 / 户口迁移信息.
    pub data_title: String,
    /// That data, absent where it is not registered.
    pub data: Option<Vec<SheetLine>>,
    /// 说明: the source, how to verify, when the service ends.
    pub notes: Vec<String>,
    /// When the sheet was made (China time).
    pub generated_at: String,
}

fn kind_titles(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "hukou" => ("户口登记信息表", "户口迁移信息"),
        _ => ("档案登记信息表", "档案转递信息"),
    }
}

fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The sheet of `g`'s `kind` data carrying `number` (a 核验编号 or 转递编号).
pub async fn sheet(
    state: &AppState,
    g: &graduate::Model,
    kind: &str,
    number_label: &str,
    number: &str,
) -> ApiResult<SheetView> {
    let snap = state.registry.snapshot();
    let s = school::Entity::find_by_id(g.school_id)
        .one(&state.db.conn)
        .await?;
    let codes = snap.code_lookup();
    let line = |label: &str, t: String| SheetLine {
        label: label.into(),
        text: t,
    };
    let basic = vec![
        line("姓名", g.name.clone()),
        line("性别", g.gender.clone().unwrap_or_default()),
        line(
            "毕业院校",
            s.as_ref().map(|s| s.name.clone()).unwrap_or_default(),
        ),
        line(
            "毕业时间",
            auth::graduation_day(g).format("%Y-%m-%d").to_string(),
        ),
        line("学制", g.schooling_length.clone().unwrap_or_default()),
        line("专业", g.major.clone()),
        line(
            "学历层次",
            codes
                .label("education_level", &g.education_level)
                .unwrap_or_else(|| g.education_level.clone()),
        ),
        line(
            "生源地",
            g.origin_region
                .as_deref()
                .map(|r| snap.region_label(r).unwrap_or_else(|| r.to_string()))
                .unwrap_or_default(),
        ),
    ];
    let dest = match service::slot_holder(state, "agreement", g.id).await? {
        Some(h) if h.is_final => confirmation::held_data(state, &snap, h).await?,
        _ => None,
    };
    let field = |name: &str| {
        dest.as_ref()
            .and_then(|d| d.fields.iter().find(|f| f.name == name))
            .map(|f| text(&f.text))
            .filter(|t| !t.is_empty())
    };
    let unit = ["employer_name", "school_name", "serving_unit", "occupation"]
        .iter()
        .find_map(|n| field(n))
        .unwrap_or_default();
    let place = [
        "employer_region",
        "work_place",
        "work_region",
        "serving_region",
        "country_region",
        "enlist_region",
    ]
    .iter()
    .find_map(|n| field(n))
    .unwrap_or_default();
    let destination = vec![
        line(
            "毕业去向",
            dest.as_ref()
                .map(|d| d.type_label.clone().unwrap_or_else(|| d.title.clone()))
                .unwrap_or_default(),
        ),
        line("单位或学校名称", unit),
        line("单位所在地", place),
    ];
    let (title, data_title) = kind_titles(kind);
    let data = match service::slot_holder(state, kind, g.id).await? {
        Some(h) => confirmation::registered_data(state, &snap, h)
            .await?
            .map(|d| {
                d.fields
                    .iter()
                    .map(|f| line(&f.label, text(&f.text)))
                    .collect()
            }),
        None => None,
    };
    let source = dest
        .as_ref()
        .map(|d| d.data_source.clone())
        .unwrap_or_else(|| "登记系统".into());
    let ends = auth::service_end(g)
        .with_timezone(&china_offset())
        .format("%Y-%m-%d")
        .to_string();
    let link = lookup_link(state, number);
    Ok(SheetView {
        kind: kind.into(),
        title: title.into(),
        number_label: number_label.into(),
        number: number.into(),
        basic,
        destination,
        data_title: data_title.into(),
        data,
        notes: vec![
            format!("数据来源：全国高校毕业生毕业去向登记系统（{source}）。"),
            format!(
                "核验方式：户档接收管理部门登录去向登记信息在线核验页面，输入毕业生姓名和{number_label}在线核验，或扫描本表二维码后输入毕业生姓名核验。"
            ),
            format!("在线核验服务截止时间：{ends}（毕业时间加六个月），逾期或编号失效后将无法查询。"),
        ],
        generated_at: state
            .clock
            .now()
            .with_timezone(&china_offset())
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        link,
    })
}

/// The public lookup's address with `number` filled in (what the QR code encodes).
pub fn lookup_link(state: &AppState, number: &str) -> String {
    format!(
        "{}/verify?number={number}",
        state.config.public_url.trim_end_matches('/')
    )
}

/// The QR code of `link` as an inline SVG.
pub fn qr_svg(link: &str) -> ApiResult<String> {
    let code = qrcode::QrCode::new(link.as_bytes()).map_err(ApiError::internal)?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(160, 160)
        .quiet_zone(true)
        .build())
}

/// The sheet as a printable HTML page (the lookup page's template with the sheet).
pub fn sheet_html(state: &AppState, s: &SheetView) -> ApiResult<String> {
    let snap = state.registry.snapshot();
    let mut data = serde_json::to_value(s).map_err(ApiError::internal)?;
    data["qr_svg"] = json!(qr_svg(&s.link)?);
    snap.render("pages/verification", &json!({"sheet": data}))
        .map_err(ApiError::internal)
}

/// The lookup page: the form (prefilled), and after a refused lookup the plain answer.
pub fn form_html(state: &AppState, name: &str, number: &str, searched: bool) -> ApiResult<String> {
    let snap = state.registry.snapshot();
    snap.render(
        "pages/verification",
        &json!({"action": "/verify", "name": name, "number": number, "searched": searched, "message": NOT_FOUND}),
    )
    .map_err(ApiError::internal)
}

/// Byte-wise equality in time independent of where the inputs differ.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// What a lookup found.
pub struct Found {
    pub sheet: SheetView,
}

/// A public lookup by name and number: the sheet, or `None` (every refusal alike). Audited by
/// outcome and the kind of number, with nothing of the query itself.
pub async fn lookup(state: &AppState, name: &str, number: &str) -> ApiResult<Option<Found>> {
    let number = number.trim().to_ascii_uppercase();
    let name = name.trim();
    let now = state.clock.now();
    // The same reads whatever is wrong: both numbers, the graduate, the confirmation.
    let v = verification::Entity::find()
        .filter(verification::Column::Number.eq(number.clone()))
        .one(&state.db.conn)
        .await?;
    let t = transfer_number::Entity::find()
        .filter(transfer_number::Column::Number.eq(number.clone()))
        .one(&state.db.conn)
        .await?;
    let gid = v
        .as_ref()
        .map(|v| v.graduate_id)
        .or(t.as_ref().map(|t| t.graduate_id))
        .unwrap_or(-1);
    let g = graduate::Entity::find_by_id(gid)
        .one(&state.db.conn)
        .await?;
    let conf = service::slot_holder(state, confirmation::SLOT, gid).await?;
    let name_ok = g.as_ref().is_some_and(|g| same(&g.name, name)) & !name.is_empty();
    let in_service = g.as_ref().is_some_and(|g| now <= auth::service_end(g));
    let by_verification = v
        .as_ref()
        .filter(|v| auth::effective(v, conf.as_ref(), now) == Some("active"))
        .map(|v| (v.kind.clone(), "核验编号"));
    let by_transfer = t
        .as_ref()
        .filter(|t| !t.stale)
        .map(|t| (t.kind.clone(), "转递编号"));
    let hit = by_verification.or(by_transfer);
    let found = match (hit, g) {
        (Some((kind, label)), Some(g)) if name_ok && in_service && !g.removed => Some(Found {
            sheet: sheet(state, &g, &kind, label, &number).await?,
        }),
        _ => None,
    };
    let outcome = if found.is_some() {
        "found"
    } else {
        "not_found"
    };
    let txn = state.db.begin_write().await?;
    crate::audit::record_as(
        &txn,
        &gradflow_engine::apply::Actor::system(),
        now,
        "lookup.public",
        ("lookup", String::new()),
        json!({"outcome": outcome}),
    )
    .await?;
    txn.commit().await?;
    Ok(found)
}

/// The graduate's own sheet of `kind`: only with an authorization 生效中 (it carries the
/// verification number).
pub async fn graduate_sheet(
    state: &AppState,
    c: &crate::auth::Caller,
    kind: &str,
) -> ApiResult<SheetView> {
    let mine = auth::mine(state, c).await?;
    let item = mine
        .items
        .iter()
        .find(|i| i.kind == kind)
        .ok_or_else(|| ApiError::not_found("核验类型只能是 archive（档案）或 hukou（户口）"))?;
    let number = item
        .number
        .clone()
        .filter(|_| item.status_code == "active")
        .ok_or_else(|| {
            ApiError::conflict("not_active", "请先设置核验有效期，生成核验编号后再查看报告")
        })?;
    let g = crate::services::roster::own_graduate(state, c.actor.graduate_id.unwrap_or(-1)).await?;
    sheet(state, &g, kind, "核验编号", &number).await
}

/// The school's preview of a graduate's sheet of `kind`: with the transfer number (never the
/// verification number); school and department users of the kind's module in scope.
pub async fn school_sheet(
    state: &AppState,
    c: &crate::auth::Caller,
    kind: &str,
    graduate_id: i64,
) -> ApiResult<SheetView> {
    use crate::auth::AccountRole;
    let module = match kind {
        "archive" => gradflow_engine::definition::Module::Archive,
        "hukou" => gradflow_engine::definition::Module::Hukou,
        _ => {
            return Err(ApiError::not_found(
                "转递类型只能是 archive（档案）或 hukou（户口）",
            ))
        }
    };
    if !matches!(c.role, AccountRole::School | AccountRole::Department) {
        return Err(ApiError::forbidden(
            "只有学校和院系用户可以预览去向登记信息表",
        ));
    }
    c.require_view(module)?;
    let g = graduate::Entity::find_by_id(graduate_id)
        .one(&state.db.conn)
        .await?
        .filter(|g| crate::scope::sees_graduate(c, g))
        .ok_or_else(|| ApiError::not_found("未找到该毕业生"))?;
    let t = transfer_number::Entity::find()
        .filter(transfer_number::Column::GraduateId.eq(g.id))
        .filter(transfer_number::Column::Kind.eq(kind))
        .one(&state.db.conn)
        .await?
        .filter(|t| !t.stale)
        .ok_or_else(|| {
            ApiError::conflict(
                "no_transfer_number",
                "该毕业生尚未生成转递编号或编号已失效，请先批量生成/重新生成转递编号",
            )
        })?;
    sheet(state, &g, kind, "转递编号", &t.number).await
}
