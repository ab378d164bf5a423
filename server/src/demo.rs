//! Demo data for `gradflow serve --demo`: one province, one school with two departments,
//! graduates of several training modes (incl. 21 and 41), an employer and one account of
//! every role. Loading twice is harmless; each start issues fresh tokens and prints them.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::auth::issue_token;
use crate::entity::{account, department, employer, graduate, province, school};
use crate::service::State;

const PROVINCE: &str = "32";
const SCHOOL_CODE: &str = "10284";
const DEPARTMENTS: [&str; 2] = ["计算机科学与技术系", "外国语学院"];

/// (candidate number, ID number, name, department index, training mode, education level)
const GRADUATES: [(&str, &str, &str, usize, &str, &str); 5] = [
    (
        "26320102150001",
        "320102200005051237",
        "张三",
        0,
        "10",
        "本科",
    ),
    (
        "26320102150002",
        "320102200001011236",
        "李四",
        0,
        "22",
        "硕士研究生",
    ),
    (
        "26320102150003",
        "320102200002021235",
        "王五",
        1,
        "21",
        "本科",
    ),
    (
        "26320102150004",
        "320102200003031230",
        "赵六",
        1,
        "41",
        "本科",
    ),
    (
        "26320102150005",
        "320102200004041237",
        "陈七",
        1,
        "42",
        "本科",
    ),
];

/// Loads the demo data and prints how to use it.
pub async fn load(state: &State) -> anyhow::Result<()> {
    let db = &state.db.conn;
    if province::Entity::find_by_id(PROVINCE.to_string())
        .one(db)
        .await?
        .is_none()
    {
        province::ActiveModel {
            code: Set(PROVINCE.into()),
            name: Set("江苏省".into()),
            agreement_type: Set(Some("two_party".into())),
            employment_enabled: Set(true),
            archive_enabled: Set(true),
            hukou_enabled: Set(true),
        }
        .insert(&state.db.writer().await)
        .await?;
    }
    let school = match school::Entity::find()
        .filter(school::Column::Code.eq(SCHOOL_CODE))
        .one(db)
        .await?
    {
        Some(s) => s,
        None => {
            let s = school::ActiveModel {
                code: Set(SCHOOL_CODE.into()),
                name: Set("南京大学".into()),
                province_code: Set(PROVINCE.into()),
                review_mode_employment: Set("department_then_school".into()),
                review_mode_archive: Set("school".into()),
                review_mode_hukou: Set("school".into()),
                signing_enabled: Set(true),
                archive_enabled: Set(false),
                hukou_enabled: Set(false),
                termination_cap: Set(3),
                // The agreement handler shown on e-agreements (就业协议经办人信息).
                handler_info: Set(
                    serde_json::json!({"all": {"name": "李老师", "phone": "025-83592233",
                    "address": "南京市鼓楼区汉口路22号", "postal_code": "210093"}})
                    .to_string(),
                ),
                settings_saved: Set(true),
                ..Default::default()
            }
            .insert(&state.db.writer().await)
            .await?;
            for d in DEPARTMENTS {
                department::ActiveModel {
                    school_id: Set(s.id),
                    name: Set(d.into()),
                    ..Default::default()
                }
                .insert(&state.db.writer().await)
                .await?;
            }
            s
        }
    };
    let mut graduate_ids = Vec::new();
    for (cand, idn, name, dept, mode, level) in GRADUATES {
        let g = match graduate::Entity::find()
            .filter(graduate::Column::CandidateNo.eq(cand))
            .one(db)
            .await?
        {
            Some(g) => g,
            None => {
                // The class graduating next: the service period (graduation + 6 months) runs.
                let cohort = crate::scope::current_cohort(state.clock.now());
                graduate::ActiveModel {
                    province_code: Set(PROVINCE.into()),
                    school_id: Set(school.id),
                    candidate_no: Set(cand.into()),
                    id_number: Set(idn.into()),
                    name: Set(name.into()),
                    gender: Set(Some(gender_of(idn).into())),
                    ethnicity: Set(Some("汉族".into())),
                    political_status: Set(Some("共青团员".into())),
                    education_level: Set(level.into()),
                    training_mode: Set(mode.into()),
                    origin_region: Set(Some("320100".into())),
                    enrolment_date: Set(Some(format!("{}-09-01", cohort - 4))),
                    graduation_date: Set(Some(format!("{cohort}-06-30"))),
                    cohort: Set(cohort),
                    student_no: Set(None),
                    department: Set(DEPARTMENTS[dept].into()),
                    major: Set(if dept == 0 {
                        "计算机科学与技术"
                    } else {
                        "英语"
                    }
                    .into()),
                    schooling_length: Set(Some("4".into())),
                    archive_in_school: Set(true),
                    hukou_in_school: Set(dept == 0),
                    email: Set(None),
                    mobile: Set(Some("13800138000".into())),
                    removed: Set(false),
                    removed_at: Set(None),
                    basic_info_confirmed: Set(false),
                    updated_at: Set(Utc::now()),
                    // Directed and commissioned graduates come with their 定向/委培单位.
                    directed_employer: Set(
                        matches!(mode, "21" | "41").then(|| "江苏省南京市教育局".to_string())
                    ),
                    ..Default::default()
                }
                .insert(&state.db.writer().await)
                .await?
            }
        };
        graduate_ids.push(g);
    }
    {
        let txn = state.db.begin_write().await?;
        crate::store::counters::recount_roster(&txn, school.id).await?;
        txn.commit().await?;
    }
    let employer = match employer::Entity::find()
        .filter(employer::Column::CreditCode.eq("91320100MA1MXXXX0P"))
        .one(db)
        .await?
    {
        Some(e) => e,
        None => {
            employer::ActiveModel {
                name: Set("南京示例科技有限公司".into()),
                credit_code: Set("91320100MA1MXXXX0P".into()),
                nature: Set(Some("39".into())),
                industry: Set(Some("34".into())),
                region: Set(Some("320100".into())),
                address: Set(Some("南京市鼓楼区示例路1号".into())),
                created_at: Set(Utc::now()),
                ..Default::default()
            }
            .insert(&state.db.writer().await)
            .await?
        }
    };
    let mut accounts: Vec<(String, account::ActiveModel)> = vec![
        ("province".into(), {
            // Province accounts start with every module (SPEC.md 1.1 defaults are for
            // school and department accounts).
            let mut a = base(
                "demo-province",
                "江苏省就业指导中心",
                "province",
                Some(PROVINCE.into()),
            );
            a.perm_archive = Set("rw".into());
            a.perm_hukou = Set("rw".into());
            a
        }),
        ("school".into(), {
            let mut a = base(
                "demo-school",
                "南京大学就业指导中心",
                "school",
                Some(PROVINCE.into()),
            );
            a.school_id = Set(Some(school.id));
            a
        }),
        ("employment management system (API key)".into(), {
            let mut a = base(
                "demo-integrator",
                "南京大学就业管理系统",
                "integrator",
                Some(PROVINCE.into()),
            );
            a.school_id = Set(Some(school.id));
            a.key_kind = Set(Some("roster".into()));
            a
        }),
        ("identity provider (API key)".into(), {
            let mut a = base("demo-identity", "学信网（身份认证）", "integrator", None);
            a.key_kind = Set(Some("identity".into()));
            a
        }),
        ("employer".into(), {
            let mut a = base("demo-employer", "南京示例科技有限公司", "employer", None);
            a.employer_id = Set(Some(employer.id));
            a
        }),
    ];
    for (i, d) in DEPARTMENTS.iter().enumerate() {
        let mut a = base(
            &format!("demo-dept-{}", i + 1),
            d,
            "department",
            Some(PROVINCE.into()),
        );
        a.school_id = Set(Some(school.id));
        a.department = Set(Some((*d).into()));
        accounts.push((format!("department {d}"), a));
    }
    for g in &graduate_ids {
        let mut a = base(
            &format!("demo-graduate-{}", g.candidate_no),
            &g.name,
            "graduate",
            Some(PROVINCE.into()),
        );
        a.school_id = Set(Some(school.id));
        a.department = Set(Some(g.department.clone()));
        a.graduate_id = Set(Some(g.id));
        accounts.push((
            format!(
                "graduate {} (id {}, training mode {})",
                g.name, g.id, g.training_mode
            ),
            a,
        ));
    }
    println!("== gradflow demo data: province 32 江苏省 (two-party agreements, 鉴证), school 10284 南京大学");
    println!(
        "   review mode: department then school; employer 南京示例科技有限公司 (id {})",
        employer.id
    );
    for (label, am) in accounts {
        let username = match &am.username {
            sea_orm::ActiveValue::Set(u) => u.clone(),
            _ => unreachable!("demo accounts always set a username"),
        };
        let acc = match account::Entity::find()
            .filter(account::Column::Username.eq(username.clone()))
            .one(db)
            .await?
        {
            Some(a) => a,
            None => am.insert(&state.db.writer().await).await?,
        };
        let kind = if acc.role == "integrator" {
            "api_key"
        } else {
            "session"
        };
        let token = issue_token(&state.db, acc.id, kind).await?;
        // Padded by display width: a Chinese character takes two columns.
        let pad = 48usize.saturating_sub(unicode_width::UnicodeWidthStr::width(label.as_str()));
        println!("   {label}{} token: {token}", " ".repeat(pad));
    }
    let base = &state.config.public_url;
    println!(
        "   Try: curl -H 'Authorization: Bearer <token>' {base}/api/v1/me ; docs at {base}/docs"
    );
    Ok(())
}

fn base(
    username: &str,
    display: &str,
    role: &str,
    province: Option<String>,
) -> account::ActiveModel {
    account::ActiveModel {
        username: Set(username.into()),
        display_name: Set(display.into()),
        role: Set(role.into()),
        password_hash: Set(None),
        province_code: Set(province),
        school_id: Set(None),
        department: Set(None),
        graduate_id: Set(None),
        employer_id: Set(None),
        perm_employment: Set("rw".into()),
        perm_archive: Set("none".into()),
        perm_hukou: Set("none".into()),
        active: Set(true),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
}

/// The gender an ID number encodes (GB 11643: its 17th digit, odd for men).
fn gender_of(id_number: &str) -> &'static str {
    match id_number
        .as_bytes()
        .get(16)
        .map(|d| d.wrapping_sub(b'0') % 2)
    {
        Some(1) => "男",
        _ => "女",
    }
}
