//! The registry: definitions, scripts, templates and code tables loaded together into one
//! immutable [`Snapshot`], which is swapped atomically on reload.
//!
//! Loading reports **every** problem at once, each with file and line, so `gradflow check`
//! and a refused reload list everything that is wrong. A broken set never replaces a working
//! one: [`Registry::reload`] keeps the old snapshot when the new one has problems.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use handlebars::Handlebars;
use rhai::AST;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::apply::GuardRunner;
use crate::catalogue::Catalogue;
use crate::contract::Contract;
use crate::definition::{DefId, Definition};
use crate::form::{CodeLookup, CodeTables};
use crate::fragments::{uses_fragments, Fragments};
use crate::script::{GuardVerdict, Limits, ScriptContext, ScriptEngine, ScriptError};

/// One problem found while loading, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, PartialOrd, Ord)]
pub struct Diagnostic {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file, l, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// A text file of the tree, by its path relative to the root.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: String,
    pub text: String,
}

/// Everything the registry loads, already read from disk (or from the database).
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Definitions: `workflows/*.yaml`, `workflows/overlays/<province>/*.yaml`, and uploaded ones.
    pub definitions: Vec<SourceFile>,
    /// Code tables: `workflows/codes/*.yaml` and `workflows/codes/regions.csv`.
    pub codes: Vec<SourceFile>,
    /// Handlebars templates: `workflows/templates/**/*.hbs`.
    pub templates: Vec<SourceFile>,
    /// Rhai scripts: `scripts/**/*.rhai`.
    pub scripts: Vec<SourceFile>,
    /// Definition versions retired by an administrator (still loaded for the instances
    /// pinned to them, never active).
    pub retired: BTreeSet<DefId>,
    /// Fragments shared by definitions: `workflows/shared/*.yaml`.
    pub fragments: Vec<SourceFile>,
    /// Typed data tables: `workflows/catalogues/*.yaml`.
    pub catalogues: Vec<SourceFile>,
    /// Files found where no kind of file belongs (reported, never ignored).
    pub stray: Vec<String>,
}

/// Where the script library lives: `scripts/lib/*.rhai`, imported by guards as
/// `import "lib/name" as name;`, never a guard itself.
pub const LIBRARY_DIR: &str = "scripts/lib/";

/// Path prefix of a definition stored in the database (`db:<id>`). A stored definition with
/// problems is set aside as unusable instead of failing the whole load.
pub const STORED_PREFIX: &str = "db:";

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Reads `workflows/` and `scripts/` under `root`. Where a file lives says what it is:
///
/// | path | kind |
/// |---|---|
/// | `workflows/codes/*.yaml`, `workflows/codes/regions.csv` | code tables |
/// | `workflows/templates/**/*.hbs` | templates |
/// | `workflows/shared/*.yaml` | fragments |
/// | `workflows/catalogues/*.yaml` | catalogues |
/// | `workflows/overlays/<province>/**/*.yaml` | province overlays (definitions) |
/// | `workflows/**/*.yaml` (any other folder) | definitions |
/// | `scripts/**/*.rhai` (`scripts/lib/` for libraries) | scripts |
///
/// `*.md` notes and hidden files are skipped; any other file is stray (an error when the
/// snapshot is built: it would otherwise be silently ignored).
pub fn read_tree(root: &Path) -> std::io::Result<Sources> {
    let mut files = Vec::new();
    walk(&root.join("workflows"), &mut files)?;
    walk(&root.join("scripts"), &mut files)?;
    let mut s = Sources::default();
    for p in files {
        let path = rel(root, &p);
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if name.starts_with('.') || ext == "md" {
            continue;
        }
        let yaml = ext == "yaml" || ext == "yml";
        let depth = path.matches('/').count();
        let bucket = if path.starts_with("scripts/") {
            (ext == "rhai").then_some(&mut s.scripts)
        } else if path.starts_with("workflows/templates/") {
            (ext == "hbs").then_some(&mut s.templates)
        } else if path.starts_with("workflows/codes/") {
            ((yaml || ext == "csv") && depth == 2).then_some(&mut s.codes)
        } else if path.starts_with("workflows/shared/") {
            (yaml && depth == 2).then_some(&mut s.fragments)
        } else if path.starts_with("workflows/catalogues/") {
            (yaml && depth == 2).then_some(&mut s.catalogues)
        } else {
            yaml.then_some(&mut s.definitions)
        };
        match bucket {
            Some(bucket) => bucket.push(SourceFile {
                text: std::fs::read_to_string(&p)?,
                path,
            }),
            None => s.stray.push(path),
        }
    }
    Ok(s)
}

/// The sha256 of a text, hex.
pub fn content_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn find_line(text: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

/// A loaded definition with the text it came from.
#[derive(Debug, Clone)]
pub struct LoadedDefinition {
    pub def: Arc<Definition>,
    pub origin: String,
    pub source: String,
    pub hash: String,
}

/// One consistent, immutable set of definitions, scripts, templates and code tables.
pub struct Snapshot {
    defs: BTreeMap<DefId, LoadedDefinition>,
    /// Stored definitions that no longer load (a script they name is gone…), with why.
    unusable: BTreeMap<DefId, Vec<String>>,
    /// Versions an administrator retired: never picked for new instances.
    retired: BTreeSet<DefId>,
    scripts: Arc<ScriptEngine>,
    asts: HashMap<String, Arc<AST>>,
    templates: Handlebars<'static>,
    pub codes: CodeTables,
    /// A hash over everything loaded, to tell snapshots apart.
    pub fingerprint: String,
    /// Every field name any loaded form declares (templates show absent ones as null).
    form_fields: Vec<String>,
    /// What was loaded, per kind.
    pub loaded: Loaded,
    /// The catalogues by name.
    catalogues: crate::script::Catalogues,
    /// What the server declared it hands to guards and templates.
    contract: Arc<Contract>,
}

/// How many things of each kind a snapshot loaded (`gradflow check` prints it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Loaded {
    pub definitions: usize,
    pub fragments: usize,
    pub catalogues: usize,
    pub templates: usize,
    pub guards: usize,
    pub libraries: usize,
    pub code_tables: usize,
}

impl fmt::Display for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} definitions, {} fragments, {} catalogues, {} templates, {} scripts ({} library), {} code tables",
            self.definitions,
            self.fragments,
            self.catalogues,
            self.templates,
            self.guards + self.libraries,
            self.libraries,
            self.code_tables
        )
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("definitions", &self.defs.keys().collect::<Vec<_>>())
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

/// A code table by name, or a message with its line.
type CodeTableResult = Result<(String, BTreeMap<String, String>), (String, Option<usize>)>;

fn parse_code_yaml(text: &str) -> CodeTableResult {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Table {
        table: String,
        #[allow(dead_code)]
        title: String,
        #[serde(default)]
        #[allow(dead_code)]
        note: Option<String>,
        codes: indexmap::IndexMap<String, String>,
    }
    let t: Table = serde_norway::from_str(text).map_err(|e| {
        (
            format!("代码表格式错误：{e}"),
            e.location().map(|l| l.line()),
        )
    })?;
    Ok((t.table, t.codes.into_iter().collect()))
}

/// Parses and checks one definition file, pushing its problems into `found`; the loaded
/// definition when it parsed (even with problems, which the caller weighs).
fn load_definition(
    f: &SourceFile,
    codes: &CodeTables,
    script_sources: &HashMap<String, &SourceFile>,
    template_names: &[String],
    fragments: &Fragments,
    catalogues: &BTreeMap<String, Catalogue>,
    found: &mut Vec<Diagnostic>,
) -> Option<LoadedDefinition> {
    let yaml_error = |e: serde_norway::Error, found: &mut Vec<Diagnostic>| {
        found.push(Diagnostic {
            file: f.path.clone(),
            line: yaml_error_line(&f.text, &e),
            message: format!("YAML 错误：{e}"),
        });
    };
    let value: serde_norway::Value = match serde_norway::from_str(&f.text) {
        Ok(v) => v,
        Err(e) => {
            yaml_error(e, found);
            return None;
        }
    };
    // With fragments, the definition is what it expands to; its errors lose their line, which
    // is found again by what they name.
    let with_fragments = uses_fragments(&value);
    let expanded = if with_fragments {
        match fragments.expand(value) {
            Ok(v) => v,
            Err(message) => {
                found.push(Diagnostic {
                    file: f.path.clone(),
                    line: named_line(&f.text, &message).or_else(|| find_line(&f.text, "use:")),
                    message,
                });
                return None;
            }
        }
    } else {
        value
    };
    let canonical = serde_norway::to_string(&expanded).unwrap_or_default();
    let parsed = if with_fragments {
        serde_norway::from_value::<Definition>(expanded).map_err(|e| (e.to_string(), None))
    } else {
        serde_norway::from_str::<Definition>(&f.text)
            .map_err(|e| (e.to_string(), e.location().map(|l| l.line())))
    };
    let mut def = match parsed {
        Ok(d) => d,
        Err((message, line)) => {
            found.push(Diagnostic {
                file: f.path.clone(),
                line: line.or_else(|| named_line(&f.text, &message)),
                message: format!("YAML 错误：{message}"),
            });
            return None;
        }
    };
    if let Some(rest) = f.path.strip_prefix("workflows/overlays/") {
        let dir = rest.split('/').next().unwrap_or_default().to_string();
        match &def.province {
            None => def.province = Some(dir),
            Some(p) if *p != dir => found.push(Diagnostic {
                file: f.path.clone(),
                line: find_line(&f.text, "province:"),
                message: format!("覆盖定义的 province（{p}）与所在目录（{dir}）不一致"),
            }),
            _ => {}
        }
    }
    let mut problems = Vec::new();
    // A form's variants may come from a catalogue's entries.
    for (fname, form) in def.forms.iter_mut() {
        let Some(v) = form.variants.as_mut() else {
            continue;
        };
        let Some(cname) = v.catalogue.clone() else {
            continue;
        };
        match catalogues.get(&cname) {
            Some(c) => {
                for e in &c.entries {
                    if let Some(fields) = &e.form {
                        v.forms
                            .entry(e.code.clone())
                            .or_insert_with(|| fields.clone());
                    }
                }
            }
            None => problems.push((
                format!("表单 {fname}：目录 {cname} 不存在"),
                format!("catalogue: {cname}"),
            )),
        }
    }
    problems.extend(def.check(codes));
    for g in def.guards() {
        if !script_sources.contains_key(g) {
            problems.push((
                format!("守卫脚本 scripts/{g}.rhai 不存在"),
                format!("guard: {g}"),
            ));
        }
    }
    for t in def.templates() {
        if !template_names.iter().any(|n| n == t) {
            problems.push((
                format!("模板 workflows/templates/{t}.hbs 不存在"),
                format!("template: {t}"),
            ));
        }
    }
    for (message, needle) in problems {
        found.push(Diagnostic {
            file: f.path.clone(),
            line: find_line(&f.text, &needle),
            message,
        });
    }
    Some(LoadedDefinition {
        def: Arc::new(def),
        origin: f.path.clone(),
        // Stored copies are self-contained: with fragments, the expanded form.
        source: if with_fragments {
            canonical.clone()
        } else {
            f.text.clone()
        },
        // What a definition is, whatever its layout (comments, fragments): its expanded form.
        hash: content_hash(&canonical),
    })
}

/// Where a YAML error is: its location, or — when the parser only noticed at the end of the
/// file (an unclosed list) — the line where what it was parsing began.
fn yaml_error_line(text: &str, e: &serde_norway::Error) -> Option<usize> {
    let line = e.location()?.line();
    if line <= text.lines().count() {
        return Some(line);
    }
    let msg = e.to_string();
    msg.rsplit("at line ")
        .next()
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .or(Some(line))
}

/// The line of `text` holding the first name an error message quotes (`` `labl` `` or
/// 片段 name).
fn named_line(text: &str, message: &str) -> Option<usize> {
    let quoted = message.split('`').nth(1).or_else(|| {
        message
            .strip_prefix("片段 ")
            .and_then(|r| r.split_whitespace().next())
    })?;
    find_line(text, quoted)
}

impl Snapshot {
    /// Builds a snapshot from sources; every problem is collected, none stops the others.
    pub fn build(sources: &Sources) -> Result<Snapshot, Vec<Diagnostic>> {
        Self::build_with(sources, Arc::new(ScriptEngine::new(Limits::default())))
    }

    /// As [`Snapshot::build`], reusing a script engine (and so its compile cache), with no
    /// contract (nothing is checked against the server's facts).
    pub fn build_with(
        sources: &Sources,
        scripts: Arc<ScriptEngine>,
    ) -> Result<Snapshot, Vec<Diagnostic>> {
        Self::build_checked(sources, scripts, Arc::new(Contract::default()))
    }

    /// As [`Snapshot::build_with`], also checking every guard and template against
    /// `contract` (see [`crate::verify`]); reloads keep the contract.
    pub fn build_checked(
        sources: &Sources,
        scripts: Arc<ScriptEngine>,
        contract: Arc<Contract>,
    ) -> Result<Snapshot, Vec<Diagnostic>> {
        let mut diags = Vec::new();
        let mut hasher = Sha256::new();

        // Code tables first: forms are checked against them.
        let mut tables: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut regions: BTreeMap<String, String> = BTreeMap::new();
        for f in &sources.codes {
            hasher.update(f.path.as_bytes());
            hasher.update(f.text.as_bytes());
            if f.path.ends_with(".csv") {
                for (i, line) in f.text.lines().enumerate() {
                    let line = line.trim();
                    if line.is_empty()
                        || line.starts_with('#')
                        || (i == 0 && line.starts_with("code"))
                    {
                        continue;
                    }
                    match line.split_once(',') {
                        Some((code, name))
                            if code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()) =>
                        {
                            regions.insert(code.to_string(), name.trim().to_string());
                        }
                        _ => diags.push(Diagnostic {
                            file: f.path.clone(),
                            line: Some(i + 1),
                            message: format!(
                                "行政区划代码行格式错误：{line:?}（应为 6 位代码,名称）"
                            ),
                        }),
                    }
                }
                continue;
            }
            match parse_code_yaml(&f.text) {
                Ok((name, codes)) => {
                    if tables.insert(name.clone(), codes).is_some() {
                        diags.push(Diagnostic {
                            file: f.path.clone(),
                            line: find_line(&f.text, "table:"),
                            message: format!("代码表 {name} 重复定义"),
                        });
                    }
                }
                Err((message, line)) => diags.push(Diagnostic {
                    file: f.path.clone(),
                    line,
                    message,
                }),
            }
        }
        // Catalogues: checked against the code tables, then tables themselves (a form field
        // `type: code, table: <catalogue>` offers the entries).
        let regions = (!regions.is_empty()).then_some(regions);
        let base_codes = CodeTables::new(tables.clone(), regions.clone());
        let mut catalogues: BTreeMap<String, Catalogue> = BTreeMap::new();
        for f in &sources.catalogues {
            hasher.update(f.path.as_bytes());
            hasher.update(f.text.as_bytes());
            let c: Catalogue = match serde_norway::from_str(&f.text) {
                Ok(c) => c,
                Err(e) => {
                    diags.push(Diagnostic {
                        file: f.path.clone(),
                        line: yaml_error_line(&f.text, &e),
                        message: format!("目录格式错误：{e}"),
                    });
                    continue;
                }
            };
            let mut problems = c.check(&base_codes);
            // A catalogue file is named after its catalogue (one stored through the admin
            // API replaces the file of that name).
            if let Some(file) = f.path.strip_prefix("workflows/catalogues/") {
                let stem = file.strip_suffix(".yaml").unwrap_or(file);
                if stem != c.catalogue {
                    problems.push((
                        format!("目录文件名应为 {}.yaml（与 catalogue 同名）", c.catalogue),
                        "catalogue:".into(),
                    ));
                }
            }
            if tables.contains_key(&c.catalogue) || catalogues.contains_key(&c.catalogue) {
                problems.push((
                    format!("目录 {} 与已有的代码表或目录重名", c.catalogue),
                    "catalogue:".into(),
                ));
            }
            if problems.is_empty() {
                tables.insert(c.catalogue.clone(), c.codes());
                catalogues.insert(c.catalogue.clone(), c);
            } else {
                for (message, needle) in problems {
                    diags.push(Diagnostic {
                        file: f.path.clone(),
                        line: find_line(&f.text, &needle),
                        message,
                    });
                }
            }
        }
        let codes = CodeTables::new(tables, regions);

        // Scripts: the library (`scripts/lib/`) first, as modules the others may import.
        let script_name = |f: &SourceFile| {
            f.path
                .trim_start_matches("scripts/")
                .trim_end_matches(".rhai")
                .to_string()
        };
        let (libs, others): (Vec<&SourceFile>, Vec<&SourceFile>) = sources
            .scripts
            .iter()
            .partition(|f| f.path.starts_with(LIBRARY_DIR));
        let lib_sources: Vec<(String, String)> = libs
            .iter()
            .map(|f| (script_name(f), f.text.clone()))
            .collect();
        let (library, lib_errors) = scripts.library(&lib_sources);
        for e in lib_errors {
            diags.push(Diagnostic {
                file: format!("scripts/{}.rhai", e.script),
                line: e.line,
                message: e.message.clone(),
            });
        }
        let library_count = libs.len();
        let mut asts = HashMap::new();
        let mut script_sources: HashMap<String, &SourceFile> = HashMap::new();
        for f in libs {
            hasher.update(f.path.as_bytes());
            hasher.update(f.text.as_bytes());
        }
        for f in others {
            hasher.update(f.path.as_bytes());
            hasher.update(f.text.as_bytes());
            let name = script_name(f);
            script_sources.insert(name.clone(), f);
            match scripts.compile_with(&name, &f.text, &library) {
                Ok(ast) => {
                    asts.insert(name, ast);
                }
                Err(e) => diags.push(Diagnostic {
                    file: f.path.clone(),
                    line: e.line,
                    message: e.message.clone(),
                }),
            }
        }

        // Files where none belong.
        for path in &sources.stray {
            diags.push(Diagnostic {
                file: path.clone(),
                line: None,
                message: "这里不能放这种文件（定义：workflows/**/*.yaml；片段：workflows/shared/*.yaml；目录：workflows/catalogues/*.yaml；代码表：workflows/codes/；模板：workflows/templates/**/*.hbs；脚本：scripts/**/*.rhai；说明：*.md）".into(),
            });
        }

        // Fragments.
        let mut fragments = Fragments::default();
        for f in &sources.fragments {
            hasher.update(f.path.as_bytes());
            hasher.update(f.text.as_bytes());
            match serde_norway::from_str::<serde_norway::Value>(&f.text) {
                Ok(serde_norway::Value::Mapping(m)) => {
                    for (name, first) in fragments.add_file(&f.path, m) {
                        diags.push(Diagnostic {
                            file: f.path.clone(),
                            line: find_line(&f.text, &format!("{name}:")),
                            message: format!("片段 {name} 重复定义（{first} 中已有）"),
                        });
                    }
                }
                Ok(_) => diags.push(Diagnostic {
                    file: f.path.clone(),
                    line: Some(1),
                    message: "片段文件应为“片段名: 内容”的映射".into(),
                }),
                Err(e) => diags.push(Diagnostic {
                    file: f.path.clone(),
                    line: e.location().map(|l| l.line()),
                    message: format!("YAML 错误：{e}"),
                }),
            }
        }

        // Templates.
        let mut templates = Handlebars::new();
        templates.set_strict_mode(true);
        templates.register_escape_fn(handlebars::html_escape);
        // `{{code "industry" vars.industry}}`: the label of a code (`region`: the region's
        // name with its province and prefecture); the code itself when unknown.
        let tables = codes.clone();
        templates.register_helper(
            "code",
            Box::new(
                move |h: &handlebars::Helper<'_>,
                      _: &Handlebars<'_>,
                      _: &handlebars::Context,
                      _: &mut handlebars::RenderContext<'_, '_>,
                      out: &mut dyn handlebars::Output|
                      -> handlebars::HelperResult {
                    let table = h.param(0).and_then(|p| p.value().as_str()).unwrap_or("");
                    let value = match h.param(1).map(|p| p.value()) {
                        Some(serde_json::Value::String(v)) => v.clone(),
                        Some(serde_json::Value::Null) | None => String::new(),
                        Some(v) => v.to_string(),
                    };
                    let label = if table == "region" {
                        region_label(&tables, &value)
                    } else {
                        tables.label(table, &value)
                    };
                    out.write(&handlebars::html_escape(&label.unwrap_or(value)))?;
                    Ok(())
                },
            ),
        );
        let mut template_names = Vec::new();
        for f in &sources.templates {
            hasher.update(f.path.as_bytes());
            hasher.update(f.text.as_bytes());
            let name = f
                .path
                .trim_start_matches("workflows/templates/")
                .trim_end_matches(".hbs")
                .to_string();
            match templates.register_template_string(&name, &f.text) {
                Ok(()) => template_names.push(name),
                Err(e) => diags.push(Diagnostic {
                    file: f.path.clone(),
                    line: e.pos().map(|(line, _)| line),
                    message: format!("模板语法错误：{}", e.reason()),
                }),
            }
        }

        // Definitions. A stored one (uploaded earlier, or an old version instances are
        // pinned to) with problems does not stop the others: it is set aside as unusable.
        let mut defs: BTreeMap<DefId, LoadedDefinition> = BTreeMap::new();
        let mut unusable: BTreeMap<DefId, Vec<String>> = BTreeMap::new();
        for f in &sources.definitions {
            hasher.update(f.path.as_bytes());
            hasher.update(f.text.as_bytes());
            let mut found: Vec<Diagnostic> = Vec::new();
            let loaded = load_definition(
                f,
                &codes,
                &script_sources,
                &template_names,
                &fragments,
                &catalogues,
                &mut found,
            );
            // Published definitions never change, whoever provides them.
            if let Some((d, prev)) = loaded
                .as_ref()
                .and_then(|d| defs.get(&d.def.id()).map(|prev| (d, prev)))
            {
                if prev.hash != d.hash {
                    diags.push(Diagnostic {
                        file: f.path.clone(),
                        line: find_line(&f.text, "version:"),
                        message: format!(
                            "定义 {} 已由 {} 提供且内容不同：定义一经发布不可修改，请提升 version",
                            d.def.id(),
                            prev.origin
                        ),
                    });
                    continue;
                }
            }
            let stored_id = f.path.strip_prefix(STORED_PREFIX).and_then(DefId::parse);
            match (loaded, stored_id) {
                (Some(d), _) if found.is_empty() => {
                    defs.entry(d.def.id()).or_insert(d);
                }
                (_, Some(id)) if !found.is_empty() => {
                    unusable
                        .entry(id)
                        .or_default()
                        .extend(found.into_iter().map(|d| d.message));
                }
                _ => diags.append(&mut found),
            }
        }
        // A definition that also came whole from elsewhere (its file) is usable after all.
        unusable.retain(|id, _| !defs.contains_key(id));
        // What loaded is checked against the contract even when something else did not:
        // one run lists every problem.
        let form_fields: std::collections::BTreeSet<String> = defs
            .values()
            .flat_map(|d| d.def.forms.values())
            .flat_map(|f| f.all_fields().into_iter().map(|x| x.name.clone()))
            .collect();
        let form_fields: Vec<String> = form_fields.into_iter().collect();
        // One module per management list: the list's permission, switches and review mode
        // are its module's (档案、户口 lists are their modules').
        let mut modules: BTreeMap<&str, (crate::definition::Module, String)> = BTreeMap::new();
        for d in defs.values() {
            let Some(list) = d.def.list.as_deref() else {
                continue;
            };
            match modules.get(list) {
                Some((m, first)) if *m != d.def.module => diags.push(Diagnostic {
                    file: d.origin.clone(),
                    line: None,
                    message: format!(
                        "管理列表 {list} 的流程须属于同一模块：{} 属于 {}，{first} 属于 {}",
                        d.def.id(),
                        d.def.module.as_str(),
                        m.as_str()
                    ),
                }),
                Some(_) => {}
                None => {
                    modules.insert(list, (d.def.module, d.def.id().to_string()));
                }
            }
        }
        let catalogues = Arc::new(catalogues);
        if contract.checked {
            let found = crate::verify::verify(
                &crate::verify::Loaded {
                    defs: &defs,
                    asts: &asts,
                    templates: &templates,
                    scripts: &scripts,
                    form_fields: &form_fields,
                    catalogues: &catalogues,
                },
                &contract,
            );
            for (id, d) in found {
                match id.filter(|id| {
                    defs.get(id)
                        .is_some_and(|l| l.origin.starts_with(STORED_PREFIX))
                }) {
                    Some(id) => {
                        defs.remove(&id);
                        unusable.entry(id).or_default().push(d.to_string());
                    }
                    None => diags.push(d),
                }
            }
        }
        if !diags.is_empty() {
            diags.sort();
            diags.dedup();
            return Err(diags);
        }
        let (defs_count, guard_count, catalogue_count) = (defs.len(), asts.len(), catalogues.len());
        Ok(Snapshot {
            catalogues,
            defs,
            unusable,
            retired: sources.retired.clone(),
            scripts,
            asts,
            templates,
            codes,
            fingerprint: hex::encode(hasher.finalize()),
            form_fields,
            contract,
            loaded: Loaded {
                definitions: defs_count,
                fragments: fragments.len(),
                catalogues: catalogue_count,
                templates: template_names.len(),
                guards: guard_count,
                libraries: library_count,
                code_tables: sources.codes.len(),
            },
        })
    }

    /// The definition an instance pinned.
    pub fn get(&self, id: &DefId) -> Option<&LoadedDefinition> {
        self.defs.get(id)
    }

    /// The active definition of `key` for a province: the highest version of the province's
    /// overlay if it has one, else the highest national version; retired versions are never
    /// active. `None` also when that version is unusable (see [`Snapshot::unusable_active`]).
    pub fn active(&self, key: &str, province: Option<&str>) -> Option<&LoadedDefinition> {
        match self.active_id(key, province)? {
            (id, false) => self.defs.get(id),
            (_, true) => None,
        }
    }

    /// When the version that would be active for `key` is unusable: its id and why.
    pub fn unusable_active(
        &self,
        key: &str,
        province: Option<&str>,
    ) -> Option<(&DefId, &[String])> {
        match self.active_id(key, province)? {
            (id, true) => self.unusable.get(id).map(|why| (id, why.as_slice())),
            (_, false) => None,
        }
    }

    /// The id of the version that is active for `key`, and whether it is unusable.
    fn active_id(&self, key: &str, province: Option<&str>) -> Option<(&DefId, bool)> {
        let pick = |prov: Option<&str>| {
            let fits = |id: &&DefId| {
                id.key == key && id.province.as_deref() == prov && !self.retired.contains(*id)
            };
            let usable = self.defs.keys().rfind(fits);
            let broken = self.unusable.keys().rfind(fits);
            match (usable, broken) {
                (Some(u), Some(b)) if b > u => Some((b, true)),
                (Some(u), _) => Some((u, false)),
                (None, Some(b)) => Some((b, true)),
                (None, None) => None,
            }
        };
        province.and_then(|p| pick(Some(p))).or_else(|| pick(None))
    }

    /// `江苏省 南京市 鼓楼区` for a region code, as documents show it (`{{code "region" x}}`).
    pub fn region_label(&self, code: &str) -> Option<String> {
        region_label(&self.codes, code)
    }

    /// A catalogue by name.
    pub fn catalogue(&self, name: &str) -> Option<&Catalogue> {
        self.catalogues.get(name)
    }

    /// Every catalogue.
    pub fn catalogues(&self) -> impl Iterator<Item = &Catalogue> {
        self.catalogues.values()
    }

    /// Why a stored definition could not be loaded, if it could not.
    pub fn unusable(&self, id: &DefId) -> Option<&[String]> {
        self.unusable.get(id).map(Vec::as_slice)
    }

    /// Every stored definition that could not be loaded, with why.
    pub fn unusable_definitions(&self) -> impl Iterator<Item = (&DefId, &[String])> {
        self.unusable.iter().map(|(id, why)| (id, why.as_slice()))
    }

    /// Whether an administrator retired this version.
    pub fn is_retired(&self, id: &DefId) -> bool {
        self.retired.contains(id)
    }

    /// Every field name declared by any loaded form, computed once per snapshot.
    pub fn form_fields(&self) -> &[String] {
        &self.form_fields
    }

    /// Every loaded definition.
    pub fn definitions(&self) -> impl Iterator<Item = &LoadedDefinition> {
        self.defs.values()
    }

    /// Every distinct definition key.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.defs.keys().map(|id| id.key.clone()).collect();
        keys.dedup();
        keys
    }

    /// Renders a template (strict: a missing variable is an error).
    pub fn render(&self, template: &str, data: &Value) -> Result<String, String> {
        self.templates
            .render(template, data)
            .map_err(|e| format!("模板 {template} 渲染失败：{e}"))
    }

    pub fn has_template(&self, template: &str) -> bool {
        self.templates.has_template(template)
    }

    pub fn code_lookup(&self) -> &dyn CodeLookup {
        &self.codes
    }

    pub fn script_engine(&self) -> &Arc<ScriptEngine> {
        &self.scripts
    }
}

impl GuardRunner for Snapshot {
    fn run_guard(&self, name: &str, ctx: &ScriptContext<'_>) -> Result<GuardVerdict, ScriptError> {
        let ast = self.asts.get(name).ok_or_else(|| ScriptError {
            script: name.to_string(),
            line: None,
            column: None,
            message: format!("守卫脚本 {name} 不存在"),
            limit: false,
        })?;
        // Every fact and server variable the contract declares is there (null when absent).
        let c = &self.contract;
        let facts = c.scripts.get(name).unwrap_or(&c.facts).complete(ctx.facts);
        let vars = crate::contract::Shape::Object(c.server_vars.clone()).complete(ctx.vars);
        let ctx = ScriptContext {
            facts: &facts,
            vars: &vars,
            ..*ctx
        };
        crate::script::with_catalogues(&self.catalogues, || {
            self.scripts.eval_guard(name, ast, &ctx)
        })
    }
}

/// Holds the current snapshot and swaps it atomically.
pub struct Registry {
    current: RwLock<Arc<Snapshot>>,
}

impl Registry {
    pub fn new(snapshot: Snapshot) -> Registry {
        Registry {
            current: RwLock::new(Arc::new(snapshot)),
        }
    }

    /// The snapshot in force; callers keep it for the whole request.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.read().expect("registry lock").clone()
    }

    /// Builds a new snapshot from `sources` and swaps it in; on problems the old one stays.
    /// A definition the current snapshot serves may not become unusable by a reload.
    pub fn reload(&self, sources: &Sources) -> Result<Arc<Snapshot>, Vec<Diagnostic>> {
        let old = self.snapshot();
        let snap = Arc::new(Snapshot::build_checked(
            sources,
            old.scripts.clone(),
            old.contract.clone(),
        )?);
        let lost: Vec<Diagnostic> = snap
            .unusable
            .iter()
            .filter(|(id, _)| old.defs.contains_key(*id))
            .flat_map(|(id, why)| {
                why.iter().map(move |m| Diagnostic {
                    file: format!("{STORED_PREFIX}{id}"),
                    line: None,
                    message: format!("定义 {id} 正在使用中，本次加载会使它不可用：{m}"),
                })
            })
            .collect();
        if !lost.is_empty() {
            return Err(lost);
        }
        *self.current.write().expect("registry lock") = snap.clone();
        Ok(snap)
    }
}

/// `江苏省 南京市 鼓楼区` for a region code: each listed level's name, most general first.
fn region_label(tables: &CodeTables, code: &str) -> Option<String> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut parts: Vec<String> = Vec::new();
    for c in [
        format!("{}0000", &code[..2]),
        format!("{}00", &code[..4]),
        code.to_string(),
    ] {
        if let Some(n) = tables.region_name(&c) {
            if !parts.contains(&n) {
                parts.push(n);
            }
        }
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}
