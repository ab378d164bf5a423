//! Sandboxed Rhai scripting for flow guards and computed values.
//!
//! Flow definitions embed small Rhai scripts: *guards* decide whether a transition may fire,
//! *computed values* derive data from the context. This module provides one hardened, shared
//! [`ScriptEngine`] for both:
//!
//! * **Sandbox.** The engine is built from [`Engine::new_raw`] plus the standard packages
//!   *except* the time package (no clock in the engine). `eval` and `import` are disabled
//!   symbols (compile errors), the module resolver is a dummy one, `sleep` is overridden to fail,
//!   and `print`/`debug` only emit `tracing` events.
//! * **Limits.** Operations, call depth, expression depth, string/array/map sizes come from
//!   [`Limits`]. Exceeding them yields a [`ScriptError`] with a Chinese message, never a hang.
//! * **Strict variables.** Scripts are compiled against a scope that declares the six context
//!   variables (`input`, `vars`, `actor`, `params`, `facts`, `now`), so a typo such as `fact.x`
//!   is a compile error while the real names resolve. At run time the same names are pushed as
//!   constants, so scripts cannot reassign them. Note that, as always in Rhai, functions defined
//!   in a script (`fn f() { … }`) do not see the caller's scope: pass context values as arguments.
//! * **Helpers.** `deny(reason)` aborts a guard with a reason (even from inside a script
//!   function or a `try` block), `contains_any(a, b)`, `days_between(a, b)`, `is_blank(x)`.
//! * **Cache.** Compiled [`AST`]s are cached by the SHA-256 of their source.
//!
//! The module is pure: it receives sources and context values, performs no I/O.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::NaiveDate;
use moka::sync::Cache;
use rhai::module_resolvers::StaticModuleResolver;
use rhai::packages::{
    BasicArrayPackage, BasicBlobPackage, BasicMapPackage, BasicMathPackage, BitFieldPackage,
    CorePackage, LogicPackage, MoreStringPackage, Package,
};
use rhai::{
    Array, Dynamic, Engine, EvalAltResult, ImmutableString, LexError, Map, NativeCallContext,
    ParseError, ParseErrorType, Position, Scope, AST, FLOAT, INT,
};
use sha2::{Digest, Sha256};

/// Key of the marker map carried by the error raised from `deny(reason)`.
const DENY_MARKER: &str = "__deny";
/// Key of the refusal code in that map, when the script gave one (`deny(code, reason)`).
const CODE_MARKER: &str = "__code";

/// The most element comparisons one `contains_any` call may make.
const CONTAINS_ANY_MAX: usize = 1_000_000;

/// Maximum number of compiled scripts kept in the cache.
const CACHE_CAPACITY: u64 = 10_000;

/// Names of the context variables, in the order they are pushed into the scope.
const CONTEXT_NAMES: [&str; 6] = ["input", "vars", "actor", "params", "facts", "now"];

/// Resource limits applied to every script run by a [`ScriptEngine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum number of operations per evaluation (stops endless loops).
    pub max_operations: u64,
    /// Maximum depth of (script) function calls (stops runaway recursion).
    pub max_call_depth: usize,
    /// Maximum nesting depth of expressions, at top level and inside functions.
    pub max_expr_depth: usize,
    /// Maximum length of a string, in bytes.
    pub max_string_size: usize,
    /// Maximum number of elements of an array.
    pub max_array_size: usize,
    /// Maximum number of properties of an object map.
    pub max_map_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_operations: 100_000,
            max_call_depth: 32,
            max_expr_depth: 64,
            max_string_size: 16_384,
            max_array_size: 10_000,
            max_map_size: 10_000,
        }
    }
}

/// The values a script can read. Each is pushed into the scope as a constant of the same name.
#[derive(Debug, Clone, Copy)]
pub struct ScriptContext<'a> {
    /// The submitted form data of the current action.
    pub input: &'a serde_json::Value,
    /// The instance variables.
    pub vars: &'a serde_json::Value,
    /// The acting user.
    pub actor: &'a serde_json::Value,
    /// Parameters of the flow definition / transition.
    pub params: &'a serde_json::Value,
    /// Facts supplied by the server (e.g. the graduate's registry data).
    pub facts: &'a serde_json::Value,
    /// The current time, as supplied by the caller (the engine has no clock).
    pub now: &'a serde_json::Value,
}

/// The outcome of a guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardVerdict {
    /// The guard passed.
    Allow,
    /// The guard refused: a stable machine code when the script gave one
    /// (`deny("termination_cap_reached", "…")`), and the user-facing reason (Chinese).
    Deny {
        code: Option<String>,
        reason: String,
    },
}

impl GuardVerdict {
    /// A refusal without a code of its own.
    pub fn deny(reason: impl Into<String>) -> GuardVerdict {
        GuardVerdict::Deny {
            code: None,
            reason: reason.into(),
        }
    }
}

/// Whether `code` may be a refusal code: lower-case ASCII letters, digits and `_`, starting
/// with a letter, at most 64 characters (`termination_cap_reached`).
pub fn is_refusal_code(code: &str) -> bool {
    let b = code.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// A compile or run-time failure of a script.
///
/// Displayed as `"{script}:{line}:{column}: {message}"` (the location parts are omitted when
/// unknown). `message` is user-facing (Chinese).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render_error(.script, *.line, *.column, .message))]
pub struct ScriptError {
    /// The script's name, e.g. `"online_signing/can_invite"`.
    pub script: String,
    /// 1-based line of the error, when known.
    pub line: Option<usize>,
    /// 1-based column of the error, when known.
    pub column: Option<usize>,
    /// What went wrong (Chinese).
    pub message: String,
    /// The script was stopped by a resource limit (operations, call depth, data size, or the
    /// caller's interrupt such as a wall-clock deadline), not by a mistake in its logic.
    pub limit: bool,
}

fn render_error(script: &str, line: Option<usize>, column: Option<usize>, message: &str) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("{script}:{l}:{c}: {message}"),
        (Some(l), None) => format!("{script}:{l}: {message}"),
        _ => format!("{script}: {message}"),
    }
}

impl ScriptError {
    fn new(script: &str, pos: Position, message: impl Into<String>) -> Self {
        Self {
            script: script.to_owned(),
            line: pos.line(),
            column: pos.position(),
            message: message.into(),
            limit: false,
        }
    }

    fn limit(mut self) -> Self {
        self.limit = true;
        self
    }
}

/// The shared, sandboxed Rhai engine with a compile cache. Cheap to share behind an `Arc`;
/// it is `Send + Sync`.
pub struct ScriptEngine {
    engine: Engine,
    limits: Limits,
    /// The library of no scripts, for guards compiled without one.
    empty: Library,
    cache: Cache<String, Arc<AST>>,
    interrupt: Option<SharedInterrupt>,
}

/// A caller's bound on each evaluation beyond the operation limit (the server's wall-clock
/// limit; the engine itself never reads a clock). [`Interrupt::begin`] is called on the
/// evaluating thread as each evaluation starts, [`Interrupt::stop`] every few operations of it.
/// (The operation count is no measure of time: Rhai counts the comparisons inside a call such
/// as `contains` on a copy of the count, so it can stand still while a call runs for long.)
pub trait Interrupt: Send + Sync {
    /// An evaluation starts on this thread.
    fn begin(&self);
    /// Whether the evaluation that began last on this thread must stop now.
    fn stop(&self) -> bool;
}

/// An [`Interrupt`] as shared by the engines of a snapshot.
pub type SharedInterrupt = Arc<dyn Interrupt>;

/// Marker carried by the termination raised when the [`Interrupt`] says stop.
const INTERRUPT_MARKER: &str = "__interrupted";

/// How many operations run between two questions to the [`Interrupt`].
const INTERRUPT_EVERY: u64 = 64;

impl fmt::Debug for ScriptEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptEngine")
            .field("limits", &self.limits)
            .field("cached_scripts", &self.cache.entry_count())
            .finish_non_exhaustive()
    }
}

impl Default for ScriptEngine {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

/// Outcome of running a script, before guard/value interpretation.
enum RunResult {
    Value(Dynamic),
    Denied(Option<String>, String),
}

impl ScriptEngine {
    /// Build a sandboxed engine enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Self::with_interrupt(limits, None)
    }

    /// As [`ScriptEngine::new`], also stopping any script as soon as `interrupt` answers true
    /// (checked every [`INTERRUPT_EVERY`] operations).
    pub fn with_interrupt(limits: Limits, interrupt: Option<SharedInterrupt>) -> Self {
        let engine = configured(limits, interrupt.clone(), StaticModuleResolver::new());
        let empty = Library {
            compiler: configured(limits, None, StaticModuleResolver::new()),
            fingerprint: String::new(),
            names: Vec::new(),
        };
        Self {
            engine,
            limits,
            empty,
            cache: Cache::new(CACHE_CAPACITY),
            interrupt,
        }
    }
}

/// The scripts of `scripts/lib/`, compiled into modules a guard may `import` (`import
/// "lib/training" as training;`). Imports are resolved when a guard is compiled: the module is
/// embedded in the guard's AST, so a guard always runs with the library of its snapshot.
pub struct Library {
    /// An engine like the running one whose resolver holds the library's modules.
    compiler: Engine,
    /// A hash over the library's sources (part of every compiled guard's cache key).
    fingerprint: String,
    names: Vec<String>,
}

impl Library {
    /// The module paths (`lib/training`).
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// The sandboxed engine: the standard library minus the clock, no `eval`, imports only from
/// `resolver`, output to tracing, the limits, strict variables, and the helpers.
fn configured(
    limits: Limits,
    interrupt: Option<SharedInterrupt>,
    resolver: StaticModuleResolver,
) -> Engine {
    {
        let mut engine = Engine::new_raw();
        if let Some(stop) = interrupt {
            engine.on_progress(move |ops| {
                (ops % INTERRUPT_EVERY == 0 && stop.stop()).then(|| Dynamic::from(INTERRUPT_MARKER))
            });
        }

        // Standard library minus the time package (`timestamp()` would read the clock).
        engine.register_global_module(CorePackage::new().as_shared_module());
        engine.register_global_module(BitFieldPackage::new().as_shared_module());
        engine.register_global_module(LogicPackage::new().as_shared_module());
        engine.register_global_module(BasicMathPackage::new().as_shared_module());
        engine.register_global_module(BasicArrayPackage::new().as_shared_module());
        engine.register_global_module(BasicBlobPackage::new().as_shared_module());
        engine.register_global_module(BasicMapPackage::new().as_shared_module());
        engine.register_global_module(MoreStringPackage::new().as_shared_module());

        // No dynamic code; modules only from the library, resolved when compiling.
        engine.disable_symbol("eval");
        engine.set_module_resolver(resolver);

        // No output: print/debug become tracing events.
        engine.on_print(|s| tracing::debug!(target: "gradflow::script", "print: {s}"));
        engine.on_debug(|s, src, pos| {
            tracing::debug!(target: "gradflow::script", source = ?src, position = %pos, "debug: {s}");
        });

        // Limits.
        engine.set_max_operations(limits.max_operations);
        engine.set_max_call_levels(limits.max_call_depth);
        engine.set_max_expr_depths(limits.max_expr_depth, limits.max_expr_depth);
        engine.set_max_string_size(limits.max_string_size);
        engine.set_max_array_size(limits.max_array_size);
        engine.set_max_map_size(limits.max_map_size);

        // Language options.
        engine.set_strict_variables(true);
        // Reading a property an object does not have is an error, never a silent `()`: the
        // engine gives a guard every declared key (null when absent), so only a mistake fails.
        engine.set_fail_on_invalid_map_property(true);

        register_helpers(&mut engine);
        engine
    }
}

impl ScriptEngine {
    /// The limits this engine enforces.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Compiles the library scripts (`(module path, source)`, e.g. `("lib/training", …)`) into
    /// modules; every problem of each script.
    pub fn library(&self, scripts: &[(String, String)]) -> (Library, Vec<ScriptError>) {
        let mut resolver = StaticModuleResolver::new();
        let mut errors = Vec::new();
        let mut hasher = Sha256::new();
        let mut names = Vec::new();
        // Libraries are compiled by an engine that resolves nothing: they import nothing.
        let plain = &self.empty.compiler;
        for (name, source) in scripts {
            hasher.update(name.as_bytes());
            hasher.update(source.as_bytes());
            let built = plain
                .compile_into_self_contained(&Scope::new(), source)
                .map_err(|e| self.compile_error(name, &e, &[]))
                .and_then(|mut ast| {
                    // Its functions carry the library's name: an error inside one is reported
                    // at the library script's line, not the importing guard's.
                    ast.set_source(name.as_str());
                    rhai::Module::eval_ast_as_new(Scope::new(), &ast, plain)
                        .map_err(|e| self.runtime_error(name, &e))
                });
            match built {
                Ok(module) => {
                    resolver.insert(name.as_str(), module);
                    names.push(name.clone());
                }
                Err(e) => errors.push(e),
            }
        }
        let library = Library {
            compiler: configured(self.limits, None, resolver),
            fingerprint: hex::encode(hasher.finalize()),
            names,
        };
        (library, errors)
    }

    /// Compile `source`, or fetch it from the cache (keyed by the SHA-256 of the source).
    /// `name` (e.g. `"online_signing/can_invite"`) is only used in error messages.
    pub fn compile(&self, name: &str, source: &str) -> Result<Arc<AST>, ScriptError> {
        self.compile_with(name, source, &self.empty)
    }

    /// Compile `source` with `library`'s modules importable (resolved now, embedded in the
    /// AST), or fetch it from the cache (keyed by the source and the library).
    pub fn compile_with(
        &self,
        name: &str,
        source: &str,
        library: &Library,
    ) -> Result<Arc<AST>, ScriptError> {
        let mut h = Sha256::new();
        h.update(source.as_bytes());
        h.update(library.fingerprint.as_bytes());
        let key = hex::encode(h.finalize());
        if let Some(ast) = self.cache.get(&key) {
            return Ok(ast);
        }
        let ast = library
            .compiler
            .compile_into_self_contained(&compile_scope(), source)
            .map_err(|err| self.compile_error(name, &err, library.names()))?;
        // `or_insert` keeps the first value if another thread raced us, so every caller
        // ends up sharing the same `Arc`.
        Ok(self.cache.entry(key).or_insert(Arc::new(ast)).into_value())
    }

    /// Run a guard.
    ///
    /// * evaluates to `true` or `()` → [`GuardVerdict::Allow`];
    /// * evaluates to `false` → [`GuardVerdict::Deny`] with `"不满足条件（{name}）"`;
    /// * calls `deny(reason)` anywhere → [`GuardVerdict::Deny`] with that reason;
    /// * any other value or a run-time error → [`ScriptError`].
    pub fn eval_guard(
        &self,
        name: &str,
        ast: &AST,
        ctx: &ScriptContext,
    ) -> Result<GuardVerdict, ScriptError> {
        match self.run(name, ast, ctx)? {
            RunResult::Denied(code, reason) => Ok(GuardVerdict::Deny { code, reason }),
            RunResult::Value(value) => {
                if value.is_unit() {
                    Ok(GuardVerdict::Allow)
                } else if let Ok(b) = value.as_bool() {
                    Ok(if b {
                        GuardVerdict::Allow
                    } else {
                        GuardVerdict::deny(format!("不满足条件（{name}）"))
                    })
                } else {
                    Err(ScriptError::new(
                        name,
                        Position::NONE,
                        format!(
                            "守卫脚本必须返回 true/false，实际返回了 {} 类型的值",
                            value.type_name()
                        ),
                    ))
                }
            }
        }
    }

    /// Evaluate a script to a value (computed fields), converted to JSON.
    /// `()` becomes `null`. Calling `deny(reason)` in a value script is an error.
    pub fn eval_value(
        &self,
        name: &str,
        ast: &AST,
        ctx: &ScriptContext,
    ) -> Result<serde_json::Value, ScriptError> {
        match self.run(name, ast, ctx)? {
            RunResult::Denied(_, reason) => Err(ScriptError::new(
                name,
                Position::NONE,
                format!("计算脚本中不能调用 deny：{reason}"),
            )),
            RunResult::Value(value) => rhai::serde::from_dynamic::<serde_json::Value>(&value)
                .map_err(|err| {
                    ScriptError::new(
                        name,
                        Position::NONE,
                        format!(
                            "脚本结果（{} 类型）无法转换为 JSON：{err}",
                            value.type_name()
                        ),
                    )
                }),
        }
    }

    fn run(&self, name: &str, ast: &AST, ctx: &ScriptContext) -> Result<RunResult, ScriptError> {
        let mut scope = Scope::new();
        let values = [
            ctx.input, ctx.vars, ctx.actor, ctx.params, ctx.facts, ctx.now,
        ];
        for (var, value) in CONTEXT_NAMES.into_iter().zip(values) {
            let dynamic = rhai::serde::to_dynamic(value).map_err(|err| {
                ScriptError::new(
                    name,
                    Position::NONE,
                    format!("上下文变量 {var} 无法转换为脚本值：{err}"),
                )
            })?;
            scope.push_constant_dynamic(var, dynamic);
        }
        if let Some(interrupt) = &self.interrupt {
            interrupt.begin();
        }
        match self.engine.eval_ast_with_scope::<Dynamic>(&mut scope, ast) {
            Ok(value) => Ok(RunResult::Value(value)),
            Err(err) => match deny_reason(&err) {
                Some((Some(code), _)) if !is_refusal_code(&code) => Err(ScriptError::new(
                    name,
                    err.position(),
                    format!(
                        "deny 的拒绝代码 {code:?} 无效：只能由小写字母、数字和下划线组成，以字母开头，不超过 64 个字符"
                    ),
                )),
                Some((code, reason)) => Ok(RunResult::Denied(code, reason)),
                None => Err(self.runtime_error(name, &err)),
            },
        }
    }

    /// A compile error: a syntax error, or an import of a module the library does not have.
    fn compile_error(&self, name: &str, err: &EvalAltResult, known: &[String]) -> ScriptError {
        match err {
            EvalAltResult::ErrorParsing(pe, pos) => {
                let mut e = parse_error(
                    name,
                    &ParseError(Box::new(pe.clone()), *pos),
                    self.limits.max_expr_depth,
                );
                if e.line.is_none() {
                    e.line = pos.line();
                }
                e
            }
            EvalAltResult::ErrorModuleNotFound(path, pos) => {
                let hint = crate::suggest::nearest(path, known.iter().map(String::as_str))
                    .map(|n| format!("，是否想写 {n}？"))
                    .unwrap_or_default();
                ScriptError::new(
                    name,
                    *pos,
                    format!("只能导入 scripts/lib/ 中的脚本库：{path} 不存在{hint}"),
                )
            }
            other => self.runtime_error(name, other),
        }
    }

    fn runtime_error(&self, name: &str, err: &EvalAltResult) -> ScriptError {
        // Errors inside script functions are wrapped; report the innermost error at its own
        // position (same source), and mention the function chain.
        let mut functions = Vec::new();
        let mut outer_pos = err.position();
        let mut inner = err;
        // The script the innermost failing function was written in (a library module's name),
        // when it is not the guard itself.
        let mut source: Option<&str> = None;
        while let EvalAltResult::ErrorInFunctionCall(fn_name, src, nested, pos) = inner {
            functions.push(fn_name.as_str());
            if !pos.is_none() {
                outer_pos = *pos;
            }
            if !src.is_empty() {
                source = Some(src.as_str());
            }
            inner = nested;
        }
        let name = source.unwrap_or(name);
        let pos = if inner.position().is_none() {
            outer_pos
        } else {
            inner.position()
        };
        let limits = &self.limits;
        let limit = matches!(
            inner,
            EvalAltResult::ErrorTooManyOperations(_)
                | EvalAltResult::ErrorStackOverflow(_)
                | EvalAltResult::ErrorDataTooLarge(..)
        ) || is_interrupt(inner);
        let mut message = match inner {
            other if is_interrupt(other) => "脚本运行时间超过上限，已终止".to_string(),
            EvalAltResult::ErrorTooManyOperations(_) => {
                format!("脚本运算次数超过上限（{}），已终止", limits.max_operations)
            }
            EvalAltResult::ErrorStackOverflow(_) => {
                format!("脚本调用层级超过上限（{}），已终止", limits.max_call_depth)
            }
            EvalAltResult::ErrorDataTooLarge(what, _) => {
                let what = what.to_lowercase();
                if what.contains("string") {
                    format!(
                        "脚本中的字符串长度超过上限（{}），已终止",
                        limits.max_string_size
                    )
                } else if what.contains("array") {
                    format!(
                        "脚本中的数组大小超过上限（{}），已终止",
                        limits.max_array_size
                    )
                } else if what.contains("map") {
                    format!(
                        "脚本中的对象大小超过上限（{}），已终止",
                        limits.max_map_size
                    )
                } else {
                    format!("脚本数据大小超过上限，已终止（{what}）")
                }
            }
            EvalAltResult::ErrorVariableNotFound(var, _) => {
                if functions.is_empty() {
                    format!("变量不存在：{var}")
                } else {
                    format!("变量不存在：{var}（脚本函数内无法访问外部变量，请通过参数传入）")
                }
            }
            EvalAltResult::ErrorFunctionNotFound(sig, _) => format!("函数不存在：{sig}"),
            EvalAltResult::ErrorPropertyNotFound(prop, _) => {
                format!("属性不存在：{prop}（对象中没有这个键）")
            }
            EvalAltResult::ErrorAssignmentToConstant(var, _)
                if CONTEXT_NAMES.contains(&var.as_str()) =>
            {
                format!("上下文变量 {var} 是只读的，不能修改")
            }
            EvalAltResult::ErrorModuleNotFound(module, _) => {
                format!("不允许导入模块：{module}")
            }
            other => format!("脚本运行错误：{}", describe(other)),
        };
        if !functions.is_empty() {
            message.push_str(&format!("（在函数 {} 中）", functions.join(" → ")));
        }
        let e = ScriptError::new(name, pos, message);
        if limit {
            e.limit()
        } else {
            e
        }
    }
}

/// Whether `err` is the termination raised by the [`Interrupt`].
fn is_interrupt(err: &EvalAltResult) -> bool {
    match err {
        EvalAltResult::ErrorTerminated(value, _) => value
            .read_lock::<ImmutableString>()
            .is_some_and(|s| s.as_str() == INTERRUPT_MARKER),
        _ => false,
    }
}

/// Rhai's description of an error, without the trailing position.
fn describe(err: &EvalAltResult) -> String {
    if let EvalAltResult::ErrorRuntime(value, _) = err {
        if let Some(s) = value.read_lock::<ImmutableString>() {
            return s.to_string();
        }
    }
    let text = err.to_string();
    let pos = err.position();
    if pos.is_none() {
        return text;
    }
    let suffix = format!(" ({pos})");
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}

/// The reason carried by a `deny(reason)` abort, if `err` is one (possibly wrapped in
/// function-call errors).
fn deny_reason(err: &EvalAltResult) -> Option<(Option<String>, String)> {
    match err {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => deny_reason(inner),
        EvalAltResult::ErrorTerminated(value, _) | EvalAltResult::ErrorRuntime(value, _) => {
            let map = value.read_lock::<Map>()?;
            let text = |v: &Dynamic| {
                if v.is_string() {
                    v.clone().into_string().unwrap_or_default()
                } else {
                    v.to_string()
                }
            };
            let reason = map.get(DENY_MARKER)?;
            let code = map.get(CODE_MARKER).map(text);
            if map.len() != 1 + usize::from(code.is_some()) {
                return None;
            }
            Some((code, text(reason)))
        }
        _ => None,
    }
}

/// The scope used at compile time: declares the context variables so that strict-variables
/// mode accepts them. They are pushed as *non-constant* unit values so the optimizer does not
/// propagate these placeholders into the AST.
fn compile_scope() -> Scope<'static> {
    let mut scope = Scope::new();
    for var in CONTEXT_NAMES {
        scope.push_dynamic(var, Dynamic::UNIT);
    }
    scope
}

fn parse_error(name: &str, err: &ParseError, max_expr_depth: usize) -> ScriptError {
    let detail = match err.err_type() {
        ParseErrorType::VariableUndefined(var) => format!("变量未定义：{var}"),
        ParseErrorType::ModuleUndefined(module) => format!("模块未定义：{module}"),
        ParseErrorType::Reserved(sym) if is_forbidden_symbol(sym) => {
            format!("脚本中禁止使用 {sym}")
        }
        ParseErrorType::BadInput(LexError::ImproperSymbol(sym, _)) if is_forbidden_symbol(sym) => {
            format!("脚本中禁止使用 {sym}")
        }
        ParseErrorType::ExprTooDeep => {
            format!("表达式嵌套层级超过上限（{max_expr_depth}）")
        }
        other => other.to_string(),
    };
    ScriptError::new(name, err.position(), format!("语法错误：{detail}"))
}

/// Symbols disabled by the sandbox.
fn is_forbidden_symbol(sym: &str) -> bool {
    sym == "eval" || sym == "import"
}

/// The catalogues of the snapshot whose guard runs on this thread (see [`with_catalogues`]).
pub type Catalogues = Arc<BTreeMap<String, crate::catalogue::Catalogue>>;

thread_local! {
    static CATALOGUES: RefCell<Option<Catalogues>> = const { RefCell::new(None) };
}

/// Runs `f` (which evaluates guards) with `catalogues` readable by `catalogue_entry`.
pub fn with_catalogues<T>(catalogues: &Catalogues, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Catalogues>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            CATALOGUES.with(|c| *c.borrow_mut() = prev);
        }
    }
    let _restore = Restore(CATALOGUES.with(|c| c.borrow_mut().replace(catalogues.clone())));
    f()
}

/// `catalogue_entry(name, code)`: `{code, label, attributes}` of the entry, every declared
/// attribute present (`()` when the entry leaves it out); for a code the catalogue does not
/// have, the same shape with `()` values. An unknown catalogue is an error.
fn catalogue_entry(name: &str, code: Dynamic) -> Result<Dynamic, Box<EvalAltResult>> {
    let code = if code.is_unit() {
        None
    } else if code.is_string() {
        Some(code.into_string().unwrap_or_default())
    } else {
        Some(code.to_string())
    };
    let value = CATALOGUES.with(|c| {
        let c = c.borrow();
        let cat = c.as_ref().and_then(|all| all.get(name)).ok_or_else(|| {
            Box::new(EvalAltResult::ErrorRuntime(
                format!("目录不存在：{name}").into(),
                Position::NONE,
            ))
        })?;
        let entry = code.as_deref().and_then(|k| cat.entry(k));
        let attributes: serde_json::Map<String, serde_json::Value> = cat
            .attributes
            .keys()
            .map(|k| {
                let v = entry
                    .and_then(|e| e.attributes.get(k).cloned())
                    .unwrap_or(serde_json::Value::Null);
                (k.clone(), v)
            })
            .collect();
        Ok::<_, Box<EvalAltResult>>(serde_json::json!({
            "code": entry.map(|e| e.code.clone()),
            "label": entry.map(|e| e.label.clone()),
            "attributes": attributes,
        }))
    })?;
    rhai::serde::to_dynamic(value)
}

fn register_helpers(engine: &mut Engine) {
    engine.register_fn("catalogue_entry", catalogue_entry);
    // deny(reason): abort the script. `ErrorTerminated` is a system exception: it cannot be
    // swallowed by `try … catch` and is not wrapped by script function calls.
    engine.register_fn(
        "deny",
        |reason: ImmutableString| -> Result<(), Box<EvalAltResult>> {
            let mut marker = Map::new();
            marker.insert(DENY_MARKER.into(), reason.into());
            Err(EvalAltResult::ErrorTerminated(marker.into(), Position::NONE).into())
        },
    );
    // deny(code, reason): the same with a stable machine code of the script's choosing.
    engine.register_fn(
        "deny",
        |code: ImmutableString, reason: ImmutableString| -> Result<(), Box<EvalAltResult>> {
            let mut marker = Map::new();
            marker.insert(DENY_MARKER.into(), reason.into());
            marker.insert(CODE_MARKER.into(), code.into());
            Err(EvalAltResult::ErrorTerminated(marker.into(), Position::NONE).into())
        },
    );

    // contains_any(a, b): does any element of `a` equal any element of `b`?
    engine.register_fn(
        "contains_any",
        |ctx: NativeCallContext, a: Array, b: Array| -> Result<bool, Box<EvalAltResult>> {
            // One operation for the script: bound the work it hides.
            if a.len().saturating_mul(b.len()) > CONTAINS_ANY_MAX {
                return Err(EvalAltResult::ErrorDataTooLarge(
                    "Array (contains_any)".into(),
                    Position::NONE,
                )
                .into());
            }
            for x in &a {
                for y in &b {
                    if dynamic_eq(&ctx, x, y)? {
                        return Ok(true);
                    }
                }
            }
            Ok(false)
        },
    );
    // A missing value (`()`) contains nothing.
    engine.register_fn("contains_any", |_: (), _: Array| false);
    engine.register_fn("contains_any", |_: Array, _: ()| false);
    engine.register_fn("contains_any", |_: (), _: ()| false);

    // days_between(a, b): whole days from date `a` to date `b` (b − a, may be negative).
    engine.register_fn(
        "days_between",
        |a: &str, b: &str| -> Result<INT, Box<EvalAltResult>> {
            let a = parse_date(a)?;
            let b = parse_date(b)?;
            Ok(b.signed_duration_since(a).num_days())
        },
    );

    // is_blank(x): `()` or a string that is empty / only whitespace.
    engine.register_fn("is_blank", |x: Dynamic| -> bool {
        if x.is_unit() {
            return true;
        }
        match x.read_lock::<ImmutableString>() {
            Some(s) => s.trim().is_empty(),
            None => false,
        }
    });

    // `sleep` (from the core package) would block the worker thread.
    engine.register_fn("sleep", |_: INT| -> Result<(), Box<EvalAltResult>> {
        Err("脚本中禁止使用 sleep".into())
    });
    engine.register_fn("sleep", |_: FLOAT| -> Result<(), Box<EvalAltResult>> {
        Err("脚本中禁止使用 sleep".into())
    });
}

fn dynamic_eq(
    ctx: &NativeCallContext,
    x: &Dynamic,
    y: &Dynamic,
) -> Result<bool, Box<EvalAltResult>> {
    match ctx.call_native_fn::<bool>("==", (x.clone(), y.clone())) {
        Ok(b) => Ok(b),
        Err(err) if matches!(*err, EvalAltResult::ErrorFunctionNotFound(..)) => Ok(false),
        Err(err) => Err(err),
    }
}

/// Parse `YYYY-MM-DD`; a longer date-time string (`YYYY-MM-DDTHH:MM:SS…`) uses its date part.
fn parse_date(s: &str) -> Result<NaiveDate, Box<EvalAltResult>> {
    let s = s.trim();
    let date_part = match s.get(..10) {
        Some(head) if s.len() > 10 && matches!(s.as_bytes()[10], b'T' | b't' | b' ') => head,
        _ => s,
    };
    NaiveDate::parse_from_str(date_part, "%Y-%m-%d")
        .map_err(|_| format!("日期格式无效（应为 YYYY-MM-DD）：{s}").into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Ctx {
        input: serde_json::Value,
        vars: serde_json::Value,
        actor: serde_json::Value,
        params: serde_json::Value,
        facts: serde_json::Value,
        now: serde_json::Value,
    }

    impl Ctx {
        fn new() -> Self {
            Self {
                input: json!({"company": "某某科技有限公司", "tags": ["a", "b"], "note": "  "}),
                vars: json!({"invite_count": 2}),
                actor: json!({"id": "u1", "roles": ["graduate"]}),
                params: json!({"max_invites": 3, "allowed": ["21", "41"]}),
                facts: json!({
                    "empty": null,
                    "graduate": {
                        "training_mode": "21",
                        "majors": [{"code": "080901", "name": "计算机科学与技术"}],
                        "graduation_date": "2025-06-30"
                    }
                }),
                now: json!("2025-06-01T08:00:00+08:00"),
            }
        }

        fn ctx(&self) -> ScriptContext<'_> {
            ScriptContext {
                input: &self.input,
                vars: &self.vars,
                actor: &self.actor,
                params: &self.params,
                facts: &self.facts,
                now: &self.now,
            }
        }
    }

    fn guard(src: &str) -> Result<GuardVerdict, ScriptError> {
        let engine = ScriptEngine::default();
        let ast = engine.compile("test/guard", src)?;
        engine.eval_guard("test/guard", &ast, &Ctx::new().ctx())
    }

    fn value(src: &str) -> Result<serde_json::Value, ScriptError> {
        let engine = ScriptEngine::default();
        let ast = engine.compile("test/value", src)?;
        engine.eval_value("test/value", &ast, &Ctx::new().ctx())
    }

    #[test]
    fn allow_on_true_and_unit() {
        assert_eq!(guard("true").unwrap(), GuardVerdict::Allow);
        assert_eq!(guard("1 + 1 == 2").unwrap(), GuardVerdict::Allow);
        assert_eq!(guard("let x = 1;").unwrap(), GuardVerdict::Allow);
        assert_eq!(guard("").unwrap(), GuardVerdict::Allow);
    }

    #[test]
    fn false_denies_with_generic_reason() {
        assert_eq!(
            guard("false").unwrap(),
            GuardVerdict::deny("不满足条件（test/guard）")
        );
    }

    #[test]
    fn deny_with_reason() {
        let src = r#"
            if vars.invite_count >= params.max_invites {
                deny("邀请次数已达上限");
            }
            deny("仅限定向生");
            true
        "#;
        assert_eq!(guard(src).unwrap(), GuardVerdict::deny("仅限定向生"));
    }

    #[test]
    fn deny_inside_function_propagates() {
        let src = r#"
            fn check(mode) {
                if mode != "11" { deny("培养方式不符：" + mode); }
                true
            }
            fn outer(mode) { check(mode) }
            outer(facts.graduate.training_mode)
        "#;
        assert_eq!(guard(src).unwrap(), GuardVerdict::deny("培养方式不符：21"));
    }

    #[test]
    fn deny_cannot_be_swallowed_by_try_catch() {
        let src = r#"
            try { deny("不行"); } catch { }
            true
        "#;
        assert_eq!(guard(src).unwrap(), GuardVerdict::deny("不行"));
    }

    #[test]
    fn non_bool_guard_result_is_error() {
        let err = guard("42").unwrap_err();
        assert!(err.message.contains("守卫脚本必须返回 true/false"), "{err}");
        let err = guard(r#""yes""#).unwrap_err();
        assert!(err.message.contains("守卫脚本必须返回 true/false"), "{err}");
    }

    #[test]
    fn context_access_nested_maps_and_arrays() {
        assert_eq!(
            guard(r#"facts.graduate.training_mode in ["21", "41"]"#).unwrap(),
            GuardVerdict::Allow
        );
        assert_eq!(
            guard(r#"facts.graduate.training_mode in params.allowed"#).unwrap(),
            GuardVerdict::Allow
        );
        assert_eq!(
            guard(r#"facts.graduate.majors[0].code == "080901""#).unwrap(),
            GuardVerdict::Allow
        );
        assert_eq!(
            guard(r#"input.tags.len() == 2 && "graduate" in actor.roles"#).unwrap(),
            GuardVerdict::Allow
        );
        assert_eq!(
            guard(r#"now.sub_string(0, 4) == "2025""#).unwrap(),
            GuardVerdict::Allow
        );
        assert_eq!(
            value(r#"#{ company: input.company, left: params.max_invites - vars.invite_count }"#)
                .unwrap(),
            json!({"company": "某某科技有限公司", "left": 1})
        );
    }

    #[test]
    fn a_missing_property_is_an_error_not_unit() {
        let err = guard("facts.missing == ()").unwrap_err();
        assert_eq!(err.message, "属性不存在：missing（对象中没有这个键）");
        assert!(!err.limit);
        assert!(guard("facts.graduate.nope == ()").is_err());
        // A present key holding null reads as ().
        assert_eq!(guard("facts.empty == ()").unwrap(), GuardVerdict::Allow);
    }

    #[test]
    fn context_is_read_only() {
        let err = guard("input = 1; true").unwrap_err();
        assert_eq!(err.message, "上下文变量 input 是只读的，不能修改");
    }

    #[test]
    fn strict_variables_rejects_typos() {
        let err = guard("fact.graduate == ()").unwrap_err();
        assert!(err.message.starts_with("语法错误："), "{err}");
        assert!(err.message.contains("fact"), "{err}");
        assert_eq!(err.line, Some(1));
    }

    #[test]
    fn context_not_visible_inside_functions() {
        let err = guard("fn f() { facts.graduate } f() == ()").unwrap_err();
        assert!(err.message.contains("变量不存在：facts"), "{err}");
    }

    #[test]
    fn endless_loops_are_stopped() {
        for src in ["loop {}", "while true {}", "let i = 0; loop { i += 1; }"] {
            let err = guard(src).unwrap_err();
            assert_eq!(err.message, "脚本运算次数超过上限（100000），已终止");
        }
    }

    #[test]
    fn limits_are_flagged_as_limits() {
        assert!(guard("loop {}").unwrap_err().limit);
        assert!(guard("fn f(n) { f(n + 1) } f(0)").unwrap_err().limit);
        assert!(!guard("1 / 0").unwrap_err().limit);
        assert!(!guard("facts.graduate.name.x()").unwrap_err().limit);
    }

    #[test]
    fn the_interrupt_stops_a_script_within_its_operation_limit() {
        use std::sync::atomic::{AtomicU64, Ordering};
        // Asked every few operations; says stop on the tenth question of an evaluation.
        struct Tenth(AtomicU64, AtomicU64);
        impl Interrupt for Tenth {
            fn begin(&self) {
                self.0.store(0, Ordering::SeqCst);
                self.1.fetch_add(1, Ordering::SeqCst);
            }
            fn stop(&self) -> bool {
                self.0.fetch_add(1, Ordering::SeqCst) >= 9
            }
        }
        let tenth = Arc::new(Tenth(AtomicU64::new(0), AtomicU64::new(0)));
        let engine = ScriptEngine::with_interrupt(Limits::default(), Some(tenth.clone()));
        // Slow per operation, far below the operation limit.
        let src = "let a = []; a.pad(10000, 1); loop { if a.contains(2) {} }";
        let ast = engine.compile("test/slow", src).unwrap();
        let err = engine
            .eval_guard("test/slow", &ast, &Ctx::new().ctx())
            .unwrap_err();
        assert!(err.limit, "{err}");
        assert_eq!(err.message, "脚本运行时间超过上限，已终止");
        assert_eq!(tenth.0.load(Ordering::SeqCst), 10);
        // Each evaluation begins afresh: a second one is stopped just the same.
        let again = engine
            .eval_guard("test/slow", &ast, &Ctx::new().ctx())
            .unwrap_err();
        assert!(again.limit, "{again}");
        assert_eq!(tenth.1.load(Ordering::SeqCst), 2);
        // A guard that finishes in time is unaffected by an interrupt that never fires.
        struct Never;
        impl Interrupt for Never {
            fn begin(&self) {}
            fn stop(&self) -> bool {
                false
            }
        }
        let calm = ScriptEngine::with_interrupt(Limits::default(), Some(Arc::new(Never)));
        let ast = calm
            .compile("test/calm", "let a = []; a.pad(100, 1); !a.contains(2)")
            .unwrap();
        assert_eq!(
            calm.eval_guard("test/calm", &ast, &Ctx::new().ctx())
                .unwrap(),
            GuardVerdict::Allow
        );
    }

    #[test]
    fn contains_any_bounds_the_work_it_hides() {
        let err =
            guard("let a = []; a.pad(2000, 1); let b = []; b.pad(2000, 2); contains_any(a, b)")
                .unwrap_err();
        assert!(err.limit, "{err}");
        assert_eq!(
            guard("contains_any([1, 2], [3, 2])").unwrap(),
            GuardVerdict::Allow
        );
    }

    #[test]
    fn deep_recursion_is_stopped() {
        let err = guard("fn f(n) { f(n + 1) } f(0)").unwrap_err();
        assert_eq!(err.message, "脚本调用层级超过上限（32），已终止");
    }

    #[test]
    fn huge_strings_are_stopped() {
        let err = guard(r#"let s = "x"; loop { s += s; }"#).unwrap_err();
        assert!(err.message.contains("字符串长度超过上限（16384）"), "{err}");
    }

    #[test]
    fn huge_arrays_are_stopped() {
        let err = guard("let a = []; loop { a.push(1); }").unwrap_err();
        assert!(err.message.contains("数组大小超过上限（10000）"), "{err}");
    }

    #[test]
    fn imports_come_only_from_the_library() {
        let err = guard(r#"import "x" as x; true"#).unwrap_err();
        assert_eq!(err.message, "只能导入 scripts/lib/ 中的脚本库：x 不存在");
        let engine = ScriptEngine::default();
        let (lib, errors) = engine.library(&[(
            "lib/training".into(),
            "fn is_directed(m) { m == \"21\" || m == \"41\" }".into(),
        )]);
        assert!(errors.is_empty(), "{errors:?}");
        let err = engine
            .compile_with("g", r#"import "lib/trainin" as t; true"#, &lib)
            .unwrap_err();
        assert!(err.message.contains("是否想写 lib/training"), "{err}");
        let ast = engine
            .compile_with(
                "g",
                r#"import "lib/training" as t; if t::is_directed(facts.graduate.training_mode) { deny("directed", "定向") } true"#,
                &lib,
            )
            .unwrap();
        assert_eq!(
            engine.eval_guard("g", &ast, &Ctx::new().ctx()).unwrap(),
            GuardVerdict::Deny {
                code: Some("directed".into()),
                reason: "定向".into()
            }
        );
        // A library with a mistake is reported, with its name and line.
        let (_, errors) = engine.library(&[("lib/bad".into(), "fn f( {".into())]);
        assert_eq!(errors[0].script, "lib/bad");
        assert!(errors[0].line.is_some(), "{:?}", errors[0]);
    }

    #[test]
    fn eval_is_rejected() {
        let err = guard(r#"eval("1")"#).unwrap_err();
        assert_eq!(err.message, "语法错误：脚本中禁止使用 eval");
    }

    #[test]
    fn no_clock_no_sleep() {
        assert!(guard("timestamp(); true").is_err());
        assert!(guard("sleep(100); true").is_err());
    }

    #[test]
    fn expression_depth_is_limited() {
        let src = format!("1{}{}", " + (1".repeat(100), ")".repeat(100));
        let err = guard(&src).unwrap_err();
        assert_eq!(err.message, "语法错误：表达式嵌套层级超过上限（64）");
    }

    #[test]
    fn closures_capture_context() {
        assert_eq!(
            value("let f = |x| x + vars.invite_count; f.call(1)").unwrap(),
            json!(3)
        );
    }

    #[test]
    fn print_and_debug_are_silent() {
        assert_eq!(
            guard(r#"print("hi"); debug(1); true"#).unwrap(),
            GuardVerdict::Allow
        );
    }

    #[test]
    fn parse_error_has_line_and_column() {
        let src = "let a = 1;\nlet b = 2;\nlet c = ;";
        let err = guard(src).unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(err.column.is_some());
        assert!(err.message.starts_with("语法错误："), "{err}");
        assert!(err.to_string().starts_with("test/guard:3:"), "{err}");
    }

    #[test]
    fn runtime_error_has_position_and_description() {
        let err = guard("let a = 1;\nlet b = a / 0;\ntrue").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        assert!(err.message.starts_with("脚本运行错误："), "{err}");
        assert!(err.message.contains("Division by zero"), "{err}");
    }

    #[test]
    fn helpers() {
        assert_eq!(
            guard(r#"contains_any(actor.roles, ["admin", "graduate"])"#).unwrap(),
            GuardVerdict::Allow
        );
        assert_eq!(
            guard(
                r#"!contains_any(actor.roles, ["admin", 1]) && !contains_any(facts.empty, ["a"])"#
            )
            .unwrap(),
            GuardVerdict::Allow
        );
        assert_eq!(
            value(r#"days_between("2025-06-01", facts.graduate.graduation_date)"#).unwrap(),
            json!(29)
        );
        assert_eq!(
            value(r#"days_between(now, "2025-05-31")"#).unwrap(),
            json!(-1)
        );
        let err = value(r#"days_between("2025/06/01", "2025-06-02")"#).unwrap_err();
        assert!(err.message.contains("日期格式无效"), "{err}");
        assert_eq!(
            guard(r#"is_blank(()) && is_blank("") && is_blank(input.note) && is_blank(facts.empty) && !is_blank("a") && !is_blank(0)"#)
                .unwrap(),
            GuardVerdict::Allow
        );
    }

    #[test]
    fn compile_cache_returns_same_arc() {
        let engine = ScriptEngine::default();
        let a = engine.compile("a", "true").unwrap();
        let b = engine.compile("b", "true").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let c = engine.compile("c", "false").unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
    }

    #[test]
    fn error_display_format() {
        let err = ScriptError {
            script: "s/g".into(),
            line: Some(3),
            column: Some(7),
            message: "语法错误：x".into(),
            limit: false,
        };
        assert_eq!(err.to_string(), "s/g:3:7: 语法错误：x");
    }

    #[test]
    fn engine_is_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<ScriptEngine>();
    }
}
