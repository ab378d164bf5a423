//! What the server hands to guards and templates, declared once as types: the facts of a
//! transition ([`GuardFacts`]), the data of a template ([`TemplateData`]), the variables the
//! server sets, and the scripts it runs itself. [`contract`] turns them into the engine's
//! [`Contract`] (from their JSON Schemas), against which every guard path and template is
//! checked at load, and with which a guard's facts are completed at run time.

use std::collections::BTreeMap;

use gradflow_engine::contract::{Contract, Scalar, Shape};
use gradflow_engine::definition::OPTIONAL_FACTS;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The graduate, as guards and templates read them (`facts.graduate`, `graduate`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct GraduateFacts {
    /// The graduate's record id.
    pub id: i64,
    /// 姓名.
    pub name: String,
    /// 考生号 (14 digits).
    pub candidate_no: String,
    /// 身份证件号.
    pub id_number: String,
    /// 性别.
    pub gender: Option<String>,
    /// 学历 code (`education_level` table).
    pub education_level: String,
    /// The code (`10`, `21`…); `training_mode_label` is its label.
    pub training_mode: String,
    /// The training mode's label (「定向」).
    pub training_mode_label: String,
    /// 院系.
    pub department: String,
    /// 专业.
    pub major: String,
    /// 届别 (graduation year).
    pub cohort: i32,
    /// 毕业时间 (`YYYY-MM-DD`).
    pub graduation_date: Option<String>,
    /// 生源所在地 region code.
    pub origin_region: Option<String>,
    /// 手机号.
    pub mobile: Option<String>,
    /// On the invalid list (deleted from the roster).
    pub removed: bool,
    /// 定向/委培单位 from the roster (training modes 21/41).
    pub directed_employer: Option<String>,
}

/// The school's agreement handler for the graduate's education level (`school.handler`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HandlerFacts {
    /// 经办人 name.
    pub name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Address.
    pub address: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
}

/// The graduate's school (`facts.school`, `school`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SchoolFacts {
    /// The school's id.
    pub id: i64,
    /// 院校代码.
    pub code: String,
    /// 院校名称.
    pub name: String,
    /// The school's cap on a graduate's termination applications (0–99).
    pub termination_cap: i32,
    /// Whether the school enabled online signing.
    pub signing_enabled: bool,
    /// The handler for the graduate's education level, if the school set one.
    pub handler: Option<HandlerFacts>,
}

/// The school's province (`facts.province`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ProvinceFacts {
    /// Province code (`32`).
    pub code: String,
    /// Province name.
    pub name: String,
}

/// The employer party of the instance, if any (`facts.employer`, `employer`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EmployerFacts {
    /// The employer's id.
    pub id: i64,
    /// 单位名称.
    pub name: String,
    /// 统一社会信用代码.
    pub credit_code: String,
}

/// The instance a flow acts on (`start.on`: a termination's agreement; `facts.subject`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SubjectFacts {
    /// Its instance id.
    pub id: i64,
    /// Its flow (`online_signing`…).
    pub flow: String,
    /// Its current state.
    pub state: String,
    /// Its employer, if any.
    pub employer_id: Option<i64>,
    /// Its agreement number, if any.
    pub agreement_no: Option<String>,
    /// Its employer's name, if any.
    pub employer_name: Option<String>,
}

/// The facts of a transition: what a flow's guards read as `facts`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct GuardFacts {
    /// The instance's graduate.
    pub graduate: GraduateFacts,
    /// The graduate's school.
    pub school: SchoolFacts,
    /// The school's province.
    pub province: ProvinceFacts,
    /// The instance's employer party, if any.
    pub employer: Option<EmployerFacts>,
    /// The school's review mode for the flow's module: `school` or `department_then_school`.
    pub review_mode: String,
    /// The province's agreement type: `two_party` (鉴证) or `three_party`.
    pub agreement_type: Option<String>,
    /// Whether the graduate holds a valid agreement (or one under review).
    pub graduate_has_agreement: bool,
    /// Whether the graduate has a destination registration under review or registered.
    pub graduate_has_destination: bool,
    /// Termination applications the graduate submitted (only for flows declaring
    /// `facts: [termination_count]`).
    pub termination_count: Option<u64>,
    /// The instance the flow acts on (only for flows with `start.on`).
    pub subject: Option<SubjectFacts>,
}

/// The graduate as an instance shows them (`_student`, taken at start; `student` in
/// templates).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StudentSnapshot {
    /// 姓名.
    pub name: String,
    /// 性别.
    pub gender: Option<String>,
    /// 民族.
    pub ethnicity: Option<String>,
    /// 政治面貌.
    pub political_status: Option<String>,
    /// 身份证件号.
    pub id_number: String,
    /// 学历.
    pub education_level: String,
    /// 院系.
    pub department: String,
    /// 专业.
    pub major: String,
    /// 学制.
    pub schooling_length: Option<String>,
    /// 学号.
    pub student_no: Option<String>,
    /// 毕业时间.
    pub graduation_date: Option<String>,
    /// 培养方式 code.
    pub training_mode: String,
    /// 培养方式 label.
    pub training_mode_label: String,
    /// 定向/委培单位 from the roster (training modes 21/41).
    pub directed_employer: Option<String>,
}

/// A review decision as templates read it (`decision`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DecisionData {
    /// `department`, `school` or `province`.
    pub level: String,
    /// `approve`, `return` or `reject`.
    pub decision: String,
    /// The reason category chosen (rejection, return).
    pub reason_category: Option<String>,
    /// The reviewer's reason.
    pub reason: Option<String>,
}

/// What a notification or document template reads (besides `vars`, the instance's
/// variables, which every definition declares itself).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TemplateData {
    /// The instance's id.
    pub instance_id: i64,
    /// The flow's title.
    pub flow_title: String,
    /// The action taken (`approve`, `accept`…).
    pub action: String,
    /// The new state's name.
    pub state: String,
    /// The new state's label (the status users see).
    pub label: String,
    /// What the status waits for (「等待学校审核」), if anything.
    pub status_detail: Option<String>,
    /// The review decision of this transition, if it was one.
    pub decision: Option<DecisionData>,
    #[schemars(skip)]
    pub vars: Map<String, Value>,
    /// The graduate as the instance shows them.
    pub student: StudentSnapshot,
    /// The graduate as the roster has them now.
    pub graduate: GraduateFacts,
    /// The employer party, if any.
    pub employer: Option<EmployerFacts>,
    /// The graduate's school.
    pub school: SchoolFacts,
    /// The province's agreement type (`two_party`, `three_party`).
    pub agreement_type: Option<String>,
    /// `graduate` or `employer`: who started the instance.
    pub initiator: String,
    /// The state's first deadline, as users read it (China time).
    pub deadline: Option<String>,
    /// The time of the transition, as users read it (China time).
    pub now: String,
    /// A single-use link the same transition issued (employer upload).
    pub link: Option<String>,
    /// Until when the link is valid (China time).
    pub link_expires: Option<String>,
}

/// What `scripts/warnings/nationwide.rhai` reads.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NationwideFacts {
    /// How many schools mark the employer (active marks).
    pub schools_marking: i64,
}

fn shape_of<T: JsonSchema>() -> Shape {
    Shape::from_json_schema(schemars::schema_for!(T).as_value())
}

/// The contract every data file is checked against.
pub fn contract() -> Contract {
    let text = Shape::text;
    let student = shape_of::<StudentSnapshot>();
    let actor = Shape::object([
        ("role", text()),
        ("account_id", Shape::Scalar(Scalar::Int)),
        ("province", text()),
        ("school_id", Shape::Scalar(Scalar::Int)),
        ("department", text()),
        ("graduate_id", Shape::Scalar(Scalar::Int)),
        ("employer_id", Shape::Scalar(Scalar::Int)),
    ]);
    let server_vars: BTreeMap<String, Shape> = [
        (crate::store::STUDENT_VAR.to_string(), student.clone()),
        (crate::store::STUDENT_PENDING_VAR.to_string(), student),
        ("subject_flow".to_string(), text()),
        ("employer_name".to_string(), text()),
        ("agreement_no".to_string(), text()),
    ]
    .into_iter()
    .collect();
    Contract {
        checked: true,
        facts: shape_of::<GuardFacts>(),
        optional_facts: OPTIONAL_FACTS.iter().map(|s| s.to_string()).collect(),
        actor,
        template: shape_of::<TemplateData>(),
        server_vars,
        scripts: [(
            crate::warnings::NATIONWIDE_SCRIPT.to_string(),
            shape_of::<NationwideFacts>(),
        )]
        .into_iter()
        .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_declares_what_the_server_hands_out() {
        let c = contract();
        assert!(c
            .facts
            .lookup("facts", &["graduate".into(), "training_mode".into()])
            .is_ok());
        let e = c
            .facts
            .lookup("facts", &["graduate".into(), "trainng_mode".into()])
            .unwrap_err();
        assert!(
            e.message.contains("是否想写 training_mode"),
            "{}",
            e.message
        );
        assert!(c
            .facts
            .lookup("facts", &["school".into(), "handler".into(), "name".into()])
            .is_ok());
        assert!(
            c.template.lookup("", &["vars".into()]).is_err(),
            "vars is the definition's"
        );
        assert!(c.template.lookup("", &["link".into()]).is_ok());
        assert_eq!(c.optional_facts, vec!["termination_count".to_string()]);
    }
}
