//! A season of one province at scale, written in bulk through the store: schools with their
//! departments and majors, graduates of every training mode and education level, employers,
//! the accounts of every role, and the instances of a whole season in every reachable state
//! of every flow (with their history, tasks, timers and slots), then the statistics' counters
//! rebuilt from them. For benchmarks (`examples/season.rs`): nothing here runs in the server.
//!
//! Instances are not replayed through transitions (three million of them would take hours);
//! each is written as a transition would have left it. For every flow the generator walks the
//! definition — from each start role through actions and review decisions (every level of
//! one- and two-level review) — to every reachable state, keeping the shortest way there:
//! that way is the instance's history, and [`gradflow_engine::apply::standing`] gives the
//! tasks, timers and slots of where it stands. Each graduate gets a story: one agreement or
//! destination (at most one instance holds each of their slots, as the unique index wants),
//! invitations they declined or let expire, sometimes a termination of their agreement, an
//! archive and a hukou registration where the school has the module, a confirmation of a
//! registered destination (未上报 where a termination ended it), now and then an agreement
//! voided while its termination waits. One graduate in two hundred (`removed_per_mille`)
//! has left the roster: each of their instances stands where the removal's reaction took it
//! (已失效, with the state a restore returns it to). Timers are due after the generation (the
//! timer worker finds nothing to fire), so the season stands still for its benchmark.

use std::collections::{BTreeMap, HashSet, VecDeque};

use chrono::{DateTime, Duration, Utc};
use gradflow_engine::apply::{self, Actor, Parties, ReviewPos};
use gradflow_engine::definition::{
    Definition, EffectDef, Module, Role, StateKind, STATE_BEFORE_REACTION,
};
use gradflow_engine::form::{Field, FieldKind};
use gradflow_engine::registry::Snapshot;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait, Set};
use serde_json::{json, Map, Value};

use crate::entity::{
    account, department, employer, graduate, history, instance, province, school, slot, task, timer,
};
use crate::service::State;
use crate::store::{bulk, counters};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Graduates in the province.
    pub graduates: usize,
    /// Schools in the province; the first has `big_school` graduates, the others share the rest.
    pub schools: usize,
    /// Graduates of the first school (the benchmark's school).
    pub big_school: usize,
    pub employers: usize,
    pub province: String,
    /// Graduates per thousand who left the roster (their instances 已失效).
    pub removed_per_mille: u32,
    /// The random generator's seed: the same options give the same season.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            graduates: 900_000,
            schools: 60,
            big_school: 20_000,
            employers: 3_000,
            province: "32".into(),
            removed_per_mille: 5,
            seed: 2026,
        }
    }
}

/// What was generated, and whom a benchmark acts as.
#[derive(Debug, Default)]
pub struct Summary {
    pub graduates: u64,
    pub instances: u64,
    pub history: u64,
    pub tasks: u64,
    /// Instances per flow and state.
    pub states: BTreeMap<String, BTreeMap<String, u64>>,
    /// The states of each flow that no instance stands in (`flow.state`): at a small scale the
    /// rarest may be (a termination's `obsolete` or `invalidated`: its agreement voided or its
    /// graduate removed while it waits).
    pub missed: Vec<String>,
    /// The first school's id, its account's id and its largest department's account id.
    pub big_school_id: i64,
    pub school_account: i64,
    pub department_account: i64,
    pub department: String,
    pub province_account: i64,
}

/// Graduates written per transaction.
const BATCH: usize = 5_000;

/// The roster's removal of a graduate.
const REMOVED: &str = "graduate.removed";

/// Departments with their majors.
const DEPARTMENTS: &[(&str, &[&str])] = &[
    (
        "计算机科学与技术系",
        &["计算机科学与技术", "软件工程", "人工智能"],
    ),
    ("外国语学院", &["英语", "日语", "翻译"]),
    ("电子科学与工程学院", &["电子信息工程", "微电子科学与工程"]),
    ("数学学院", &["数学与应用数学", "统计学"]),
    ("物理学院", &["物理学", "应用物理学"]),
    ("化学化工学院", &["化学", "化学工程与工艺"]),
    ("商学院", &["工商管理", "会计学", "市场营销"]),
    ("经济学院", &["经济学", "金融学", "国际经济与贸易"]),
    ("法学院", &["法学", "知识产权"]),
    ("文学院", &["汉语言文学", "秘书学"]),
    ("新闻传播学院", &["新闻学", "广告学"]),
    ("土木工程学院", &["土木工程", "工程管理"]),
    ("建筑与城市规划学院", &["建筑学", "城乡规划"]),
    ("机械工程学院", &["机械设计制造及其自动化", "车辆工程"]),
    (
        "能源与动力工程学院",
        &["能源与动力工程", "新能源科学与工程"],
    ),
    ("医学院", &["临床医学", "护理学", "药学"]),
    ("环境学院", &["环境工程", "环境科学"]),
    ("马克思主义学院", &["思想政治教育"]),
    ("艺术学院", &["美术学", "音乐学"]),
    ("体育学院", &["体育教育", "社会体育指导与管理"]),
];

/// Real universities of the province first; the rest are named by number.
const SCHOOL_NAMES: &[&str] = &[
    "南京大学",
    "东南大学",
    "南京航空航天大学",
    "南京理工大学",
    "河海大学",
    "南京师范大学",
    "苏州大学",
    "江南大学",
    "南京农业大学",
    "中国矿业大学",
    "南京邮电大学",
    "南京信息工程大学",
    "南京工业大学",
    "江苏大学",
    "扬州大学",
    "南通大学",
    "南京医科大学",
    "南京林业大学",
    "常州大学",
    "江苏科技大学",
];

const SURNAMES: &[char] = &[
    '王', '李', '张', '刘', '陈', '杨', '黄', '赵', '吴', '周', '徐', '孙', '马', '朱', '胡', '郭',
    '何', '林', '高', '罗',
];
const GIVEN: &[char] = &[
    '伟', '芳', '娜', '敏', '静', '丽', '强', '磊', '洋', '艳', '勇', '军', '杰', '涛', '明', '超',
    '霞', '平', '刚', '桂', '子', '涵', '浩', '宇', '欣', '怡', '晨', '博', '文', '婷',
];

/// The education levels with their weights (per mille).
const LEVELS: &[(&str, u32)] = &[
    ("本科", 700),
    ("硕士研究生", 220),
    ("专科", 50),
    ("博士研究生", 30),
];
/// The training modes (培养方式) with their weights (per mille): 21 定向 and 41 委培 get
/// the directed supplement.
const MODES: &[(&str, u32)] = &[("10", 900), ("22", 50), ("21", 30), ("41", 15), ("42", 5)];

/// One step of a way into a state.
#[derive(Debug, Clone)]
struct Step {
    action: String,
    from: Option<String>,
    to: String,
    role: Role,
    /// A review decision: its level and `approve`, `return` or `reject`.
    decision: Option<(Role, &'static str)>,
    /// The events the step sends to one instance: `(event, variable naming it)`.
    emits: Vec<(String, String)>,
}

/// The events `effects` send to one instance (`emit` with `to`).
fn targeted(effects: &[EffectDef]) -> Vec<(String, String)> {
    effects
        .iter()
        .filter_map(|e| match e {
            EffectDef::Emit {
                event,
                to: Some(to),
                ..
            } => Some((event.clone(), to.clone())),
            _ => None,
        })
        .collect()
}

/// A reachable place of a flow: a state (at a review level) and the shortest way there.
#[derive(Debug, Clone)]
struct Place {
    state: String,
    review: Option<ReviewPos>,
    steps: Vec<Step>,
    /// The slots held there (shared names).
    holds: Vec<String>,
    weight: u32,
}

/// A flow as the generator uses it: its definition, parameters and places per review mode.
struct Flow {
    def: std::sync::Arc<Definition>,
    def_id: String,
    params: Map<String, Value>,
    params_text: String,
    /// Places with one-level review (`false`) and with department then school (`true`).
    places: [Vec<Place>; 2],
    /// The number the flow draws on approval (`agreement_no`) and its channel digit.
    number: Option<(String, String)>,
}

fn level_name(level: Role) -> &'static str {
    match level {
        Role::Department => "学院",
        Role::Province => "省级",
        _ => "学校",
    }
}

/// The slots (shared names) an instance in `st` holds.
fn holds_of(def: &Definition, st: &gradflow_engine::definition::StateDef) -> Vec<String> {
    st.holds
        .iter()
        .map(|h| gradflow_engine::definition::slot_name(def, h).to_string())
        .collect()
}

/// Every place of `def` reachable from a start, with the shortest way there.
fn places(def: &Definition, two_level: bool) -> Vec<Place> {
    let facts = json!({
        "review_mode": if two_level { "department_then_school" } else { "school" }
    });
    let entry = |target: &str| -> Option<(String, Option<ReviewPos>)> {
        let st = def.state(target)?;
        let review = st.review.as_ref().map(|r| ReviewPos {
            levels: apply::review_levels(r, &facts),
            index: 0,
            touched: false,
        });
        Some((target.to_string(), review))
    };
    let mut seen: HashSet<(String, usize)> = HashSet::new();
    let mut queue: VecDeque<(String, Option<ReviewPos>, Vec<Step>)> = VecDeque::new();
    let starts: Vec<Role> = if def.start.roles.is_empty() {
        vec![Role::System]
    } else {
        def.start.roles.clone()
    };
    for role in starts {
        let target = def.start.target_for(role);
        if let Some((to, review)) = entry(target) {
            let step = Step {
                action: "start".into(),
                from: None,
                to: to.clone(),
                role,
                decision: None,
                emits: targeted(def.start.effects_for(role)),
            };
            queue.push_back((to, review, vec![step]));
        }
    }
    let mut out = Vec::new();
    while let Some((state, review, steps)) = queue.pop_front() {
        let key = (state.clone(), review.as_ref().map_or(0, |r| r.index));
        if !seen.insert(key) {
            continue;
        }
        let Some(st) = def.state(&state) else {
            continue;
        };
        let holds = holds_of(def, st);
        // Most of a season is in force (held after an approval, or registered by the school
        // directly); then what waits for a review; the rest is rarer.
        let last = steps.last().expect("a way has a first step");
        let approved = last.decision.is_some_and(|(_, d)| d == "approve")
            || (steps.len() == 1 && last.role != Role::Graduate && last.role != Role::Employer);
        let weight = match (&review, st.kind) {
            (Some(_), _) => 3,
            (None, _) if !holds.is_empty() && approved => 12,
            (None, StateKind::Final) => 1,
            _ => 2,
        };
        out.push(Place {
            state: state.clone(),
            review: review.clone(),
            steps: steps.clone(),
            holds,
            weight,
        });
        let starter = steps[0].role;
        let mut next = |to: Option<(String, Option<ReviewPos>)>, step: Step| {
            if let Some((to, review)) = to {
                let mut s = steps.clone();
                s.push(Step {
                    to: to.clone(),
                    ..step
                });
                queue.push_back((to, review, s));
            }
        };
        if let (Some(r), Some(pos)) = (&st.review, &review) {
            let level = pos.level();
            let decide = |d: &'static str, effects: &[EffectDef]| Step {
                action: d.to_string(),
                from: Some(state.clone()),
                to: String::new(),
                role: level,
                decision: Some((level, d)),
                emits: targeted(effects),
            };
            if pos.index + 1 < pos.levels.len() {
                let up = ReviewPos {
                    index: pos.index + 1,
                    ..pos.clone()
                };
                next(Some((state.clone(), Some(up))), decide("approve", &[]));
            } else {
                next(
                    entry(&r.approve.target),
                    decide("approve", &r.approve.effects),
                );
            }
            if let Some(ret) = &r.return_ {
                next(entry(&ret.target), decide("return", &ret.effects));
            }
            next(entry(&r.reject.target), decide("reject", &r.reject.effects));
        }
        for (name, a) in &st.actions {
            if a.target == state || a.partial {
                continue;
            }
            let role = match a.roles.first() {
                Some(Role::Initiator) | None => starter,
                Some(r) => *r,
            };
            next(
                entry(&a.target),
                Step {
                    action: name.clone(),
                    from: Some(state.clone()),
                    to: String::new(),
                    role,
                    decision: None,
                    emits: targeted(&a.effects),
                },
            );
        }
    }
    out
}

fn flows(snap: &Snapshot, province: &str) -> BTreeMap<String, Flow> {
    let mut out = BTreeMap::new();
    for key in snap.keys() {
        let Some(d) = snap.active(&key, Some(province)) else {
            continue;
        };
        let def = d.def.clone();
        let number = def.all_effects().into_iter().find_map(|e| match e {
            EffectDef::Number { var, channel, .. } => Some((
                var.clone(),
                channel.clone().unwrap_or_else(|| "1".to_string()),
            )),
            _ => None,
        });
        let params = def.default_params();
        out.insert(
            key.clone(),
            Flow {
                def_id: def.id().to_string(),
                params_text: Value::Object(params.clone()).to_string(),
                params,
                places: [places(&def, false), places(&def, true)],
                number,
                def,
            },
        );
    }
    out
}

/// A valid resident ID number (GB 11643) for the `i`-th graduate: born 2001–2004.
fn id_number(i: usize) -> String {
    let day = i % 28 + 1;
    let month = (i / 28) % 12 + 1;
    let year = 2001 + (i / 336) % 4;
    let seq = (i / 1344) % 1000;
    let body = format!("320102{year}{month:02}{day:02}{seq:03}");
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .chars()
        .zip(W)
        .map(|(c, w)| c.to_digit(10).unwrap_or(0) * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{body}{check}")
}

fn pick<'a, T>(rng: &mut StdRng, weighted: &'a [(T, u32)]) -> &'a T {
    let total: u32 = weighted.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen_range(0..total.max(1));
    for (t, w) in weighted {
        if x < *w {
            return t;
        }
        x -= w;
    }
    &weighted[weighted.len() - 1].0
}

/// A school as the generator keeps it.
struct SchoolInfo {
    id: i64,
    size: usize,
    /// Department name, its majors, its account id.
    departments: Vec<(String, Vec<String>, i64)>,
    account: i64,
    two_level: [bool; 3],
    archive: bool,
    hukou: bool,
}

#[derive(Clone)]
struct EmployerInfo {
    id: i64,
    name: String,
    credit_code: String,
    account: i64,
}

/// The rows of one batch, written in one transaction.
#[derive(Default)]
struct Rows {
    graduates: Vec<graduate::ActiveModel>,
    accounts: Vec<account::ActiveModel>,
    instances: Vec<instance::ActiveModel>,
    history: Vec<history::ActiveModel>,
    tasks: Vec<task::ActiveModel>,
    timers: Vec<timer::ActiveModel>,
    slots: Vec<slot::ActiveModel>,
}

/// A graduate of the batch, as their instances need them.
struct Grad {
    id: i64,
    account: i64,
    school: usize,
    department: usize,
    candidate_no: String,
    id_number: String,
    major: String,
    level: String,
    mode: String,
    cohort: i32,
    /// Removed from the roster (学生名单管理's 删除): every instance that reacts to the removal
    /// stands where `graduate.removed` took it.
    removed: bool,
}

struct Gen<'a> {
    opts: &'a Options,
    snap: &'a Snapshot,
    /// Shared so that writing an instance borrows its flow while the generator changes.
    flows: std::sync::Arc<BTreeMap<String, Flow>>,
    schools: Vec<SchoolInfo>,
    employers: Vec<EmployerInfo>,
    province_account: i64,
    now: DateTime<Utc>,
    rng: StdRng,
    next_instance: i64,
    serial: u64,
    summary: Summary,
}

fn module_index(m: Module) -> usize {
    match m {
        Module::Employment => 0,
        Module::Archive => 1,
        Module::Hukou => 2,
    }
}

impl Gen<'_> {
    /// A value for a form field, as a graduate or employer would have entered it.
    fn value(&mut self, f: &Field, g: &Grad, e: Option<&EmployerInfo>) -> Option<Value> {
        let text = |s: &str| Some(Value::String(s.to_string()));
        match &f.kind {
            FieldKind::Text { .. } => {
                if f.name.contains("employer") || f.name.ends_with("unit_name") {
                    e.map(|e| Value::String(e.name.clone()))
                } else if f.name.ends_with("name") {
                    text("南京市鼓楼区人才服务中心")
                } else if f.name.contains("address") {
                    text("南京市鼓楼区汉口路22号")
                } else {
                    f.required
                        .then(|| Value::String(format!("{}（示例）", f.label)))
                }
            }
            FieldKind::Code { table } => {
                let entries = self.snap.code_lookup().table_entries(table);
                if entries.is_empty() {
                    None
                } else {
                    let i = self.rng.gen_range(0..entries.len());
                    Some(Value::String(entries[i].0.clone()))
                }
            }
            FieldKind::Date => text("2027-07-01"),
            FieldKind::Money => text("6000.00"),
            FieldKind::Region => text("320102"),
            FieldKind::CreditCode => e.map(|e| Value::String(e.credit_code.clone())),
            FieldKind::IdNumber => Some(Value::String(g.id_number.clone())),
            FieldKind::CandidateNo => Some(Value::String(g.candidate_no.clone())),
            FieldKind::Mobile => text("13800138000"),
            FieldKind::Landline | FieldKind::Phone => text("025-83592233"),
            FieldKind::PostalCode => text("210093"),
            FieldKind::Email => text("hr@example.com"),
            FieldKind::Int { min, .. } => Some(json!(min.unwrap_or(1).max(0))),
            FieldKind::Bool => Some(json!(false)),
            FieldKind::Choice { options } => {
                if options.is_empty() {
                    None
                } else {
                    let i = self.rng.gen_range(0..options.len());
                    Some(Value::String(options[i].clone()))
                }
            }
            FieldKind::File { .. } => None,
        }
    }

    /// The variables of an instance: its start form filled in (with the variant of the value
    /// chosen), then `extra`.
    fn vars(&mut self, def: &Definition, g: &Grad, e: Option<&EmployerInfo>) -> Map<String, Value> {
        let mut vars = Map::new();
        let Some(form) = def
            .start
            .form
            .as_ref()
            .and_then(|f| def.forms.get(f))
            .cloned()
        else {
            return vars;
        };
        for f in &form.fields {
            if let Some(v) = self.value(f, g, e) {
                vars.insert(f.name.clone(), v);
            }
        }
        if let Some(variants) = &form.variants {
            let chosen = vars
                .get(&variants.by)
                .and_then(Value::as_str)
                .map(str::to_string);
            if let Some(fields) = chosen.and_then(|c| variants.forms.get(&c)).cloned() {
                for f in &fields {
                    if let Some(v) = self.value(f, g, e) {
                        vars.insert(f.name.clone(), v);
                    }
                }
            }
        }
        vars
    }

    /// Chooses a place of `flow` for graduate `g` among those whose slots they do not hold
    /// yet (only slot-free ones when `free`, only unfinished ones when `open`).
    fn choose(
        &mut self,
        flow: &str,
        g: &Grad,
        held: &HashSet<String>,
        free: bool,
        open: bool,
    ) -> Option<Place> {
        let f = self.flows.get(flow)?;
        let s = &self.schools[g.school];
        let two = s.two_level[module_index(f.def.module)];
        let candidates: Vec<(&Place, u32)> = f.places[usize::from(two)]
            .iter()
            .filter(|p| p.holds.iter().all(|h| !held.contains(h)))
            .filter(|p| !free || p.holds.is_empty())
            .filter(|p| {
                !open
                    || f.def
                        .state(&p.state)
                        .is_some_and(|st| st.kind != StateKind::Final)
            })
            .map(|p| (p, p.weight))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        Some((*pick(&mut self.rng, &candidates)).clone())
    }

    /// The place of `flow` in state `state` for `g`'s school (its review mode), if one is
    /// reachable.
    fn place_at(&self, flow: &str, g: &Grad, state: &str) -> Option<Place> {
        let f = self.flows.get(flow)?;
        let two = self.schools[g.school].two_level[module_index(f.def.module)];
        f.places[usize::from(two)]
            .iter()
            .find(|p| p.state == state)
            .cloned()
    }

    fn account_of(&self, role: Role, g: &Grad, e: Option<&EmployerInfo>) -> i64 {
        let s = &self.schools[g.school];
        match role {
            Role::Graduate => g.account,
            Role::Employer => e.map_or(0, |e| e.account),
            Role::School => s.account,
            Role::Department => s.departments[g.department].2,
            Role::Province => self.province_account,
            _ => 0,
        }
    }

    /// Writes one instance of `flow` standing at `place` into `rows`; returns its id.
    #[allow(clippy::too_many_arguments)]
    fn instance(
        &mut self,
        rows: &mut Rows,
        flow_key: &str,
        place: &Place,
        g: &Grad,
        e: Option<&EmployerInfo>,
        extra: Map<String, Value>,
        held: &mut HashSet<String>,
    ) -> anyhow::Result<i64> {
        // A removed graduate's instance stands where the removal took it, remembering where
        // it stood (what a restore returns it to).
        let mut extra = extra;
        let removed_at;
        let place = match g.removed.then(|| self.reacted(flow_key, place, REMOVED)) {
            Some(Some(p)) => {
                extra.insert(STATE_BEFORE_REACTION.into(), json!(place.state));
                removed_at = p;
                &removed_at
            }
            _ => place,
        };
        let id = self.next_instance;
        self.next_instance += 1;
        let flows = self.flows.clone();
        let Flow {
            def,
            def_id,
            params,
            params_text,
            number,
            ..
        } = &flows[flow_key];
        let s = &self.schools[g.school];
        let school_id = s.id;
        let department = s.departments[g.department].0.clone();
        let starter = place.steps[0].role;
        let starter_actor = Actor {
            role: starter,
            account_id: self.account_of(starter, g, e),
            province: Some(self.opts.province.clone()),
            school_id: Some(school_id),
            department: Some(department.clone()),
            graduate_id: Some(g.id),
            employer_id: e.map(|e| e.id),
        };
        let parties = Parties {
            province: self.opts.province.clone(),
            school_id,
            department: department.clone(),
            graduate_id: g.id,
            employer_id: e.map(|e| e.id),
            initiator: starter_actor.party(),
        };
        // What it holds there; its timers counted from now give their durations.
        let apply::Standing {
            tasks,
            timers,
            slots,
        } = apply::standing(
            def,
            &place.state,
            place.review.as_ref(),
            &parties,
            params,
            self.now,
        )?;
        // Where it stands was entered before now: within its timers' time (so that none is
        // due yet), else up to 150 days ago; the steps before it hours to days apart.
        let window = timers
            .iter()
            .map(|t| (t.due - self.now).num_seconds())
            .min()
            .map_or(150 * 86_400, |s| (s * 4 / 5).max(60));
        let entered = self.now - Duration::seconds(self.rng.gen_range(60..=window.max(61)));
        let timers: Vec<apply::TimerSpec> = timers
            .into_iter()
            .map(|t| apply::TimerSpec {
                due: t.due - (self.now - entered),
                ..t
            })
            .collect();
        let mut at = Vec::with_capacity(place.steps.len());
        let mut t = entered;
        for _ in &place.steps {
            at.push(t);
            t -= Duration::minutes(self.rng.gen_range(30..4_320));
        }
        at.reverse();
        let mut vars = self.vars(def, g, e);
        vars.extend(extra);
        if let Some((var, channel)) = number {
            let approved = place
                .steps
                .iter()
                .any(|s| s.decision.is_some_and(|(_, d)| d == "approve"));
            if approved && !place.holds.is_empty() && place.review.is_none() {
                self.serial += 1;
                vars.insert(
                    var.clone(),
                    Value::String(format!(
                        "2026{}{}{:012}",
                        self.opts.province, channel, self.serial
                    )),
                );
            }
        }
        let st = def
            .state(&place.state)
            .ok_or_else(|| anyhow::anyhow!("state {} missing", place.state))?;
        let last = place.steps.last().expect("a place has a way");
        let detail = last
            .decision
            .filter(|(_, d)| *d == "reject")
            .map(|(level, _)| format!("{}审核不通过", level_name(level)));
        let type_code = def
            .counted_by()
            .and_then(|t| vars.get(t))
            .and_then(Value::as_str)
            .map(str::to_string);
        rows.instances.push(instance::ActiveModel {
            id: Set(id),
            def_id: Set(def_id.clone()),
            def_key: Set(def.key.clone()),
            module: Set(def.module.as_str().to_string()),
            list: Set(def.list.clone()),
            type_code: Set(type_code),
            state: Set(place.state.clone()),
            label: Set(st.label.clone()),
            status_detail: Set(detail),
            review: Set(place
                .review
                .as_ref()
                .map(|r| serde_json::to_string(r).unwrap_or_default())),
            vars: Set(Value::Object(vars).to_string()),
            params: Set(params_text.clone()),
            province_code: Set(self.opts.province.clone()),
            school_id: Set(school_id),
            department: Set(department.clone()),
            graduate_id: Set(g.id),
            employer_id: Set(e.map(|e| e.id)),
            major: Set(g.major.clone()),
            education_level: Set(g.level.clone()),
            cohort: Set(g.cohort),
            initiator: Set(parties.initiator.clone()),
            initiator_role: Set(starter.as_str().to_string()),
            is_final: Set(st.kind == StateKind::Final),
            row_version: Set(place.steps.len() as i32),
            created_at: Set(at[0]),
            updated_at: Set(entered),
        });
        for (k, step) in place.steps.iter().enumerate() {
            let (level, decision, category, reason) = match step.decision {
                Some((level, d)) => (
                    Some(level.as_str().to_string()),
                    Some(d.to_string()),
                    (d != "approve").then(|| "证明材料不符合要求".to_string()),
                    (d != "approve").then(|| "材料不完整，请补充后重新提交".to_string()),
                ),
                None => (None, None, None, None),
            };
            rows.history.push(history::ActiveModel {
                instance_id: Set(id),
                seq: Set(k as i32 + 1),
                action: Set(step.action.clone()),
                actor_account_id: Set(self.account_of(step.role, g, e)),
                actor_role: Set(step.role.as_str().to_string()),
                from_state: Set(step.from.clone()),
                to_state: Set(step.to.clone()),
                level: Set(level),
                decision: Set(decision),
                reason_category: Set(category),
                reason: Set(reason),
                input: Set("{}".into()),
                at: Set(at[k]),
                ..Default::default()
            });
        }
        let due = timers.iter().map(|t| t.due).min();
        for ts in &tasks {
            rows.tasks.push(task::ActiveModel {
                instance_id: Set(id),
                role: Set(ts.role.as_str().to_string()),
                province_code: Set(self.opts.province.clone()),
                school_id: Set(school_id),
                department: Set(Some(
                    ts.department.clone().unwrap_or_else(|| department.clone()),
                )),
                graduate_id: Set(g.id),
                employer_id: Set(e.map(|e| e.id)),
                def_key: Set(def.key.clone()),
                state: Set(place.state.clone()),
                opened_at: Set(entered),
                due_at: Set(due),
                ..Default::default()
            });
        }
        for t in timers {
            rows.timers.push(timer::ActiveModel {
                instance_id: Set(id),
                action: Set(t.action),
                state: Set(place.state.clone()),
                due_at: Set(t.due),
                claimed_until: Set(None),
                ..Default::default()
            });
        }
        for c in slots {
            held.insert(c.slot.clone());
            rows.slots.push(slot::ActiveModel {
                slot_key: Set(c.key),
                slot: Set(c.slot),
                instance_id: Set(id),
                graduate_id: Set(g.id),
                acquired_at: Set(entered),
                ..Default::default()
            });
        }
        *self
            .summary
            .states
            .entry(def.key.clone())
            .or_default()
            .entry(place.state.clone())
            .or_default() += 1;
        self.summary.instances += 1;
        Ok(id)
    }

    /// Where `event` takes an instance of `flow` standing at `p` (its reaction), with the
    /// event as the last step of its way; `None` when it does not react there.
    fn reacted(&self, flow: &str, p: &Place, event: &str) -> Option<Place> {
        let def = &self.flows.get(flow)?.def;
        let st = def.state(&p.state)?;
        let r = def.reactions.iter().find(|r| {
            r.event == event
                && r.target != gradflow_engine::definition::PREVIOUS_STATE
                && apply::reacts_in(r, &p.state, st)
        })?;
        let target = def.state(&r.target)?;
        let mut steps = p.steps.clone();
        steps.push(Step {
            action: format!("on:{event}"),
            from: Some(p.state.clone()),
            to: r.target.clone(),
            role: Role::System,
            decision: None,
            emits: Vec::new(),
        });
        Some(Place {
            state: r.target.clone(),
            review: None,
            steps,
            holds: holds_of(def, target),
            weight: 1,
        })
    }

    /// A graduate's season: their instances in `rows`.
    fn story(&mut self, rows: &mut Rows, g: &Grad) -> anyhow::Result<()> {
        let mut held: HashSet<String> = HashSet::new();
        let employer = |gen: &mut Gen<'_>| gen.rng.gen_range(0..gen.employers.len());
        // Invitations declined, expired or still open: employers invite widely.
        let invitations = match self.rng.gen_range(0..10) {
            0..=1 => 0,
            2..=6 => 1,
            _ => 2,
        };
        for _ in 0..invitations {
            let e = employer(self);
            if let Some(p) = self.choose("online_signing", g, &held, true, false) {
                let e = self.employers[e].clone();
                self.instance(
                    rows,
                    "online_signing",
                    &p,
                    g,
                    Some(&e),
                    Map::new(),
                    &mut held,
                )?;
            }
        }
        // The agreement or destination (one holder of the graduate's agreement slot).
        let directed = matches!(g.mode.as_str(), "21" | "41");
        let main: &[(&str, u32)] = if directed {
            &[
                ("directed_supplement", 80),
                ("destination_registration", 20),
            ]
        } else {
            &[
                ("online_signing", 40),
                ("destination_registration", 25),
                ("paper_supplement", 15),
                ("offline_signing", 15),
                ("", 5),
            ]
        };
        let flow = pick(&mut self.rng, main).to_string();
        let mut holder: Option<(i64, String)> = None;
        let mut ended_agreement: Option<(i64, String)> = None;
        if !flow.is_empty() {
            let e = (flow == "online_signing").then(|| employer(self));
            if let Some(mut p) = self.choose(&flow, g, &held, false, false) {
                let signing = matches!(
                    flow.as_str(),
                    "online_signing" | "offline_signing" | "paper_supplement"
                );
                let holds = !p.holds.is_empty() && p.review.is_none();
                // Now and then a termination of the agreement: where its way sends the
                // agreement an event (approved, forced, unilateral), the agreement stands
                // where its reaction took it (解约).
                let mut termination = None;
                if signing && holds && self.rng.gen_range(0..100) < 12 {
                    let key = if e.is_some() {
                        "online_termination"
                    } else {
                        "offline_termination"
                    };
                    let var = self.flows[key]
                        .def
                        .start
                        .on
                        .as_ref()
                        .map(|o| o.var.clone())
                        .unwrap_or_default();
                    if let Some(t) = self.choose(key, g, &held, false, false) {
                        let event = t
                            .steps
                            .iter()
                            .flat_map(|s| &s.emits)
                            .find(|(_, to)| *to == var)
                            .map(|(event, _)| event.clone());
                        if let Some(moved) = event.and_then(|ev| self.reacted(&flow, &p, &ev)) {
                            p = moved;
                        }
                        // Now and then the school voids the agreement while its termination
                        // waits: the termination ends (协议已作废或失效).
                        let mut t = t;
                        let waits = self.flows[key]
                            .def
                            .state(&t.state)
                            .is_some_and(|st| st.kind != StateKind::Final);
                        if waits && self.rng.gen_range(0..100) < 10 {
                            let voided = self.place_at(&flow, g, "voided");
                            let ended = self.reacted(key, &t, "agreement.voided");
                            if let (Some(v), Some(e)) = (voided, ended) {
                                p = v;
                                t = e;
                            }
                        }
                        termination = Some((key, var, t));
                    }
                }
                let emp = e.map(|i| self.employers[i].clone());
                let id = self.instance(rows, &flow, &p, g, emp.as_ref(), Map::new(), &mut held)?;
                let ended = termination.is_some() && holds && p.holds.is_empty();
                if let Some((key, var, t)) = termination {
                    let extra = Map::from_iter([(var, json!(id))]);
                    self.instance(rows, key, &t, g, emp.as_ref(), extra, &mut held)?;
                }
                if !p.holds.is_empty() && p.review.is_none() {
                    holder = Some((id, flow.clone()));
                } else if ended {
                    // Approved, then terminated: its confirmation (opened at the approval)
                    // has nothing reported any more (未上报).
                    ended_agreement = Some((id, flow.clone()));
                }
            }
        }
        // A registered destination the graduate confirms (or not yet); a terminated one's
        // confirmation 未上报.
        let confirmed = match (holder, ended_agreement) {
            (Some(h), _) => Some((h, None)),
            (None, Some(e)) => Some((e, Some("agreement.ended"))),
            _ => None,
        };
        if let Some(((agreement, flow), event)) = confirmed {
            if self.rng.gen_range(0..100) < 60 {
                let chosen = self.choose("registration_confirmation", g, &held, false, false);
                let chosen = match event {
                    Some(ev) => {
                        chosen.and_then(|p| self.reacted("registration_confirmation", &p, ev))
                    }
                    None => chosen,
                };
                if let Some(p) = chosen {
                    let extra = Map::from_iter([(
                        "source".to_string(),
                        json!({"flow": flow, "instance_id": agreement}),
                    )]);
                    self.instance(
                        rows,
                        "registration_confirmation",
                        &p,
                        g,
                        None,
                        extra,
                        &mut held,
                    )?;
                }
            }
        }
        // Archive and hukou registrations where the school has the module.
        let s = &self.schools[g.school];
        for (flow, on, percent) in [
            ("archive_registration", s.archive, 75),
            ("hukou_registration", s.hukou, 35),
        ] {
            if on && self.rng.gen_range(0..100) < percent {
                if let Some(p) = self.choose(flow, g, &held, false, false) {
                    self.instance(rows, flow, &p, g, None, Map::new(), &mut held)?;
                }
            }
        }
        Ok(())
    }
}

/// The largest id of `table` (0 when empty).
async fn max_id(state: &State, table: &str) -> anyhow::Result<i64> {
    let row = state
        .db
        .conn
        .query_one(state.db.stmt(
            &format!("SELECT COALESCE(MAX(id), 0) AS m FROM \"{table}\""),
            Vec::new(),
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("MAX(id) of {table} returned nothing"))?;
    Ok(row.try_get::<i64>("", "m")?)
}

fn account_row(
    id: i64,
    username: String,
    display: &str,
    role: &str,
    province: &str,
    now: DateTime<Utc>,
) -> account::ActiveModel {
    account::ActiveModel {
        id: Set(id),
        username: Set(username),
        display_name: Set(display.to_string()),
        role: Set(role.to_string()),
        password_hash: Set(None),
        province_code: Set(Some(province.to_string())),
        school_id: Set(None),
        department: Set(None),
        graduate_id: Set(None),
        employer_id: Set(None),
        perm_employment: Set("rw".into()),
        perm_archive: Set("rw".into()),
        perm_hukou: Set("rw".into()),
        active: Set(true),
        created_at: Set(now),
        key_kind: Set(None),
        created_by: Set(None),
        failed_logins: Set(0),
        locked_until: Set(None),
    }
}

/// Generates the season of `opts` into an empty database; `progress(done, total)` is called
/// after each batch of graduates.
pub async fn generate(
    state: &State,
    opts: &Options,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> anyhow::Result<Summary> {
    let db = &state.db;
    let existing = graduate::Entity::find().count(&db.conn).await?
        + instance::Entity::find().count(&db.conn).await?;
    anyhow::ensure!(
        existing == 0,
        "the database already holds graduates or instances: a season is generated into an empty one"
    );
    anyhow::ensure!(
        opts.schools >= 1 && opts.graduates >= opts.big_school && opts.employers >= 1,
        "options: at least one school and one employer, and the first school within the graduates"
    );
    let now = state.clock.now();
    let cohort = crate::scope::current_cohort(now);
    let snap = state.registry.snapshot();
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let p = opts.province.as_str();

    // The province, its schools with their departments and accounts, the employers.
    let mut next_account = max_id(state, "accounts").await? + 1;
    let mut next_school = max_id(state, "schools").await? + 1;
    let mut next_employer = max_id(state, "employers").await? + 1;
    let txn = db.begin_write().await?;
    if province::Entity::find_by_id(p.to_string())
        .one(&db.conn)
        .await?
        .is_none()
    {
        bulk::insert(
            &txn,
            vec![province::ActiveModel {
                code: Set(p.to_string()),
                name: Set("江苏省".into()),
                agreement_type: Set(Some("two_party".into())),
                employment_enabled: Set(true),
                archive_enabled: Set(true),
                hukou_enabled: Set(true),
            }],
        )
        .await?;
    }
    let province_account = next_account;
    next_account += 1;
    let mut accounts = vec![account_row(
        province_account,
        format!("season-province-{p}"),
        "江苏省就业指导中心",
        "province",
        p,
        now,
    )];
    let rest = opts.graduates - opts.big_school;
    let others = opts.schools - 1;
    let weights: Vec<usize> = (0..others).map(|i| 50 + (i * 37) % 100).collect();
    let weight_sum: usize = weights.iter().sum::<usize>().max(1);
    let mut sizes = vec![opts.big_school];
    let mut given = 0;
    for (i, w) in weights.iter().enumerate() {
        let n = if i + 1 == others {
            rest - given
        } else {
            rest * w / weight_sum
        };
        given += n;
        sizes.push(n);
    }
    let mut school_rows = Vec::new();
    let mut department_rows = Vec::new();
    let mut schools = Vec::new();
    for (i, size) in sizes.into_iter().enumerate() {
        let id = next_school;
        next_school += 1;
        let name = SCHOOL_NAMES
            .get(i)
            .map(|s| s.to_string())
            .unwrap_or_else(|| format!("江苏第{}职业技术学院", i + 1 - SCHOOL_NAMES.len()));
        let code = format!("{}", 10284 + i);
        let two_level = [i % 2 == 0, i % 4 == 1, i % 4 == 3];
        let mode = |two: bool| {
            if two {
                "department_then_school"
            } else {
                "school"
            }
        };
        let (archive, hukou) = (i % 5 != 4, i % 3 != 2);
        school_rows.push(school::ActiveModel {
            id: Set(id),
            code: Set(code.clone()),
            name: Set(name.clone()),
            province_code: Set(p.to_string()),
            review_mode_employment: Set(mode(two_level[0]).into()),
            review_mode_archive: Set(mode(two_level[1]).into()),
            review_mode_hukou: Set(mode(two_level[2]).into()),
            signing_enabled: Set(true),
            supplement_enabled: Set(true),
            destination_enabled: Set(true),
            archive_enabled: Set(archive),
            hukou_enabled: Set(hukou),
            termination_cap: Set(3),
            handler_info: Set(json!({"all": {"name": "李老师", "phone": "025-83592233",
                "address": "南京市鼓楼区汉口路22号", "postal_code": "210093"}})
            .to_string()),
            settings_saved: Set(true),
        });
        let account = next_account;
        next_account += 1;
        let mut a = account_row(
            account,
            format!("season-school-{code}"),
            &format!("{name}就业指导中心"),
            "school",
            p,
            now,
        );
        a.school_id = Set(Some(id));
        accounts.push(a);
        let n_depts = if i == 0 {
            DEPARTMENTS.len()
        } else {
            8 + i % 12
        };
        let mut departments = Vec::new();
        for k in 0..n_depts {
            let (dept, majors) = DEPARTMENTS[(i + k) % DEPARTMENTS.len()];
            department_rows.push(department::ActiveModel {
                school_id: Set(id),
                name: Set(dept.to_string()),
                ..Default::default()
            });
            let da = next_account;
            next_account += 1;
            let mut a = account_row(
                da,
                format!("season-dept-{code}-{}", k + 1),
                dept,
                "department",
                p,
                now,
            );
            a.school_id = Set(Some(id));
            a.department = Set(Some(dept.to_string()));
            accounts.push(a);
            departments.push((
                dept.to_string(),
                majors.iter().map(|m| m.to_string()).collect(),
                da,
            ));
        }
        schools.push(SchoolInfo {
            id,
            size,
            departments,
            account,
            two_level,
            archive,
            hukou,
        });
    }
    const CITIES: [&str; 6] = ["南京", "苏州", "无锡", "常州", "南通", "扬州"];
    const WORDS: [&str; 8] = [
        "华信", "恒通", "联创", "瑞丰", "博远", "新源", "中科", "汇达",
    ];
    const TRADES: [&str; 6] = [
        "科技",
        "信息技术",
        "医药",
        "建设工程",
        "智能制造",
        "文化传媒",
    ];
    let mut employer_rows = Vec::new();
    let mut employers = Vec::new();
    for k in 0..opts.employers {
        let id = next_employer;
        next_employer += 1;
        let name = format!(
            "{}{}{}有限公司{}",
            CITIES[k % CITIES.len()],
            WORDS[(k / CITIES.len()) % WORDS.len()],
            TRADES[(k / 48) % TRADES.len()],
            if k >= 288 {
                format!("第{}分公司", k / 288)
            } else {
                String::new()
            }
        );
        let credit_code = format!("91320{:04}MA{:07}", k % 10_000, k);
        employer_rows.push(employer::ActiveModel {
            id: Set(id),
            name: Set(name.clone()),
            credit_code: Set(credit_code.clone()),
            nature: Set(Some("39".into())),
            industry: Set(Some("34".into())),
            region: Set(Some("320100".into())),
            address: Set(Some("南京市鼓楼区示例路1号".into())),
            created_at: Set(now),
        });
        let account = next_account;
        next_account += 1;
        let mut a = account_row(
            account,
            format!("season-employer-{}", k + 1),
            &name,
            "employer",
            p,
            now,
        );
        a.province_code = Set(None);
        a.employer_id = Set(Some(id));
        accounts.push(a);
        employers.push(EmployerInfo {
            id,
            name,
            credit_code,
            account,
        });
    }
    bulk::insert(&txn, school_rows).await?;
    bulk::insert(&txn, department_rows).await?;
    bulk::insert(&txn, employer_rows).await?;
    for e in &employers {
        crate::employer_index::index(&txn, e.id, &e.name, true).await?;
    }
    bulk::insert(&txn, accounts).await?;
    txn.commit().await?;

    let big = &schools[0];
    let biggest_department = 0;
    let summary = Summary {
        big_school_id: big.id,
        school_account: big.account,
        department_account: big.departments[biggest_department].2,
        department: big.departments[biggest_department].0.clone(),
        province_account,
        ..Summary::default()
    };
    let first_instance = max_id(state, "instances").await? + 1;
    let mut next_graduate = max_id(state, "graduates").await? + 1;
    let mut gen = Gen {
        opts,
        snap: &snap,
        flows: std::sync::Arc::new(flows(&snap, p)),
        schools,
        employers,
        province_account,
        now,
        rng: StdRng::seed_from_u64(opts.seed.rotate_left(17)),
        next_instance: first_instance,
        serial: 0,
        summary,
    };

    // The graduates, batch by batch, each with their season.
    let total = opts.graduates as u64;
    let mut done = 0u64;
    let mut batch: Vec<Grad> = Vec::with_capacity(BATCH);
    let mut rows = Rows::default();
    let mut index = 0usize;
    for si in 0..gen.schools.len() {
        for _ in 0..gen.schools[si].size {
            let id = next_graduate;
            next_graduate += 1;
            let account = next_account;
            next_account += 1;
            let n_depts = gen.schools[si].departments.len();
            // The first departments are the larger ones.
            let department = rng.gen_range(0..n_depts).min(rng.gen_range(0..n_depts));
            let majors = &gen.schools[si].departments[department].1;
            let major = majors[rng.gen_range(0..majors.len())].clone();
            let level = pick(&mut rng, LEVELS).to_string();
            let mode = pick(&mut rng, MODES).to_string();
            let name: String = [
                SURNAMES[rng.gen_range(0..SURNAMES.len())],
                GIVEN[rng.gen_range(0..GIVEN.len())],
            ]
            .into_iter()
            .chain((rng.gen_range(0..3) > 0).then(|| GIVEN[rng.gen_range(0..GIVEN.len())]))
            .collect();
            let candidate_no = format!("26{p}{:010}", index);
            let idn = id_number(index);
            // A few left the roster (a school's 删除).
            let removed = rng.gen_range(0..1000) < opts.removed_per_mille;
            let male = idn.as_bytes()[16] % 2 == 1;
            let dept_name = gen.schools[si].departments[department].0.clone();
            let school_id = gen.schools[si].id;
            rows.graduates.push(graduate::ActiveModel {
                id: Set(id),
                province_code: Set(p.to_string()),
                school_id: Set(school_id),
                candidate_no: Set(candidate_no.clone()),
                id_number: Set(idn.clone()),
                name: Set(name.clone()),
                gender: Set(Some(if male { "男" } else { "女" }.into())),
                ethnicity: Set(Some("汉族".into())),
                political_status: Set(Some("共青团员".into())),
                education_level: Set(level.clone()),
                training_mode: Set(mode.clone()),
                origin_region: Set(Some("320100".into())),
                enrolment_date: Set(Some(format!("{}-09-01", cohort - 4))),
                graduation_date: Set(Some(format!("{cohort}-06-30"))),
                cohort: Set(cohort),
                student_no: Set(Some(format!("{}{:06}", cohort - 4, index % 1_000_000))),
                department: Set(dept_name.clone()),
                major: Set(major.clone()),
                schooling_length: Set(Some("4".into())),
                archive_in_school: Set(rng.gen_range(0..100) < 85),
                hukou_in_school: Set(rng.gen_range(0..100) < 40),
                email: Set(None),
                mobile: Set(Some(format!("138{:08}", index))),
                removed: Set(removed),
                removed_at: Set(removed.then_some(now)),
                basic_info_confirmed: Set(rng.gen_range(0..100) < 90),
                updated_at: Set(now),
                directed_employer: Set(
                    matches!(mode.as_str(), "21" | "41").then(|| "江苏省南京市教育局".to_string())
                ),
                restore_pending: Set(false),
                reuploaded_at: Set(None),
                basic_info_disputed: Set(false),
                basic_info_note: Set(None),
                basic_info_checked_at: Set(None),
                identity_checked_at: Set(None),
            });
            let mut a = account_row(
                account,
                format!("season-g-{candidate_no}"),
                &name,
                "graduate",
                p,
                now,
            );
            a.school_id = Set(Some(school_id));
            a.department = Set(Some(dept_name));
            a.graduate_id = Set(Some(id));
            rows.accounts.push(a);
            batch.push(Grad {
                id,
                account,
                school: si,
                department,
                candidate_no,
                id_number: idn,
                major,
                level,
                mode,
                cohort,
                removed,
            });
            index += 1;
            if batch.len() == BATCH {
                done += write_batch(state, &mut gen, &mut batch, &mut rows).await?;
                progress(done, total);
            }
        }
    }
    if !batch.is_empty() {
        done += write_batch(state, &mut gen, &mut batch, &mut rows).await?;
        progress(done, total);
    }

    // What transitions keep beside their rows, for rows no transition wrote.
    let txn = db.begin_write().await?;
    for s in counters::rebuild(db.backend()) {
        txn.execute(s).await?;
    }
    bulk::sync_sequences(
        &txn,
        &[
            "schools",
            "departments",
            "employers",
            "accounts",
            "graduates",
            "instances",
        ],
    )
    .await?;
    // The planner's statistics of the new rows.
    txn.execute(db.stmt("ANALYZE", Vec::new())).await?;
    txn.commit().await?;
    db.checkpoint().await?;

    let mut summary = gen.summary;
    summary.graduates = done;
    for (key, f) in gen.flows.iter() {
        let reached = summary.states.get(key);
        for s in f.def.states.keys() {
            if reached.and_then(|r| r.get(s)).is_none() {
                summary.missed.push(format!("{key}.{s}"));
            }
        }
    }
    Ok(summary)
}

/// Writes a batch of graduates with their seasons in one transaction; returns how many.
async fn write_batch(
    state: &State,
    gen: &mut Gen<'_>,
    batch: &mut Vec<Grad>,
    rows: &mut Rows,
) -> anyhow::Result<u64> {
    for g in batch.iter() {
        gen.story(rows, g)?;
    }
    let n = batch.len() as u64;
    batch.clear();
    let r = std::mem::take(rows);
    gen.summary.history += r.history.len() as u64;
    gen.summary.tasks += r.tasks.len() as u64;
    let txn = state.db.begin_write().await?;
    bulk::insert(&txn, r.graduates).await?;
    bulk::insert(&txn, r.accounts).await?;
    bulk::insert(&txn, r.instances).await?;
    bulk::insert(&txn, r.history).await?;
    bulk::insert(&txn, r.tasks).await?;
    bulk::insert(&txn, r.timers).await?;
    bulk::insert(&txn, r.slots).await?;
    txn.commit().await?;
    Ok(n)
}
