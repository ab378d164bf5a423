//! The contract between the server and the data files: the shape of every value a guard or a
//! template reads, so that a misspelt path is found when the files are loaded — by
//! `gradflow check`, every reload and every upload — never in front of a graduate.
//!
//! The server declares its facts as types and hands their shapes in a [`Contract`]; the
//! engine adds what each definition declares itself (its forms are `input` and part of
//! `vars`, its params are `params`). [`read_paths`] finds every path a script reads
//! (`facts.graduate.training_mode`), [`Shape::lookup`] checks it and names the nearest known
//! key when it is wrong; [`Shape::sample`] builds the data guards are run with and templates
//! dry-rendered with at load; [`Shape::complete`] gives a guard at run time every declared
//! key (null when absent), so that an unknown property is an error there too, never a silent
//! `()`.

use std::collections::BTreeMap;

use rhai::{ASTNode, Expr, AST};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::suggest::nearest;

/// A scalar's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scalar {
    Text,
    Int,
    Float,
    Bool,
}

/// The shape of a value: which paths exist below it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// Anything: nothing below is checked.
    #[default]
    Any,
    Scalar(Scalar),
    /// An object with exactly these keys.
    Object(BTreeMap<String, Shape>),
    /// A list of elements of one shape.
    List(Box<Shape>),
}

/// A path that does not fit a shape: how far it got and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    /// The known prefix, e.g. `facts.graduate`.
    pub known: String,
    /// The segment that is wrong, e.g. `trainng_mode`.
    pub wrong: String,
    /// A Chinese explanation, with the nearest known key when there is one.
    pub message: String,
}

impl Shape {
    pub fn object<K: Into<String>>(entries: impl IntoIterator<Item = (K, Shape)>) -> Shape {
        Shape::Object(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn text() -> Shape {
        Shape::Scalar(Scalar::Text)
    }

    /// The keys of an object shape.
    pub fn keys(&self) -> Vec<&str> {
        match self {
            Shape::Object(m) => m.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Checks `path` (segments below `root`; `[]` for a list element) against the shape.
    pub fn lookup(&self, root: &str, path: &[String]) -> Result<(), PathError> {
        let mut here = self;
        let mut known = root.to_string();
        for seg in path {
            here = match (here, seg.as_str()) {
                (Shape::Any, _) => return Ok(()),
                (Shape::List(inner), "[]") => inner,
                (Shape::Object(m), key) => match m.get(key) {
                    Some(s) => s,
                    None => {
                        let hint = nearest(key, m.keys().map(String::as_str))
                            .map(|n| format!("，是否想写 {n}？"))
                            .unwrap_or_else(|| {
                                if m.is_empty() {
                                    format!("（这里的 {known} 没有任何字段）")
                                } else {
                                    format!(
                                        "（可用：{}）",
                                        m.keys().cloned().collect::<Vec<_>>().join("、")
                                    )
                                }
                            });
                        return Err(PathError {
                            message: format!("{known}.{key} 不存在{hint}"),
                            known,
                            wrong: key.to_string(),
                        });
                    }
                },
                (Shape::List(_), key) => {
                    return Err(PathError {
                        message: format!("{known} 是列表，没有属性 {key}（请用下标或 for 循环）"),
                        known,
                        wrong: key.to_string(),
                    })
                }
                (Shape::Scalar(_), key) => {
                    return Err(PathError {
                        message: format!("{known} 是{}，没有属性 {key}", self_kind(here)),
                        known,
                        wrong: key.to_string(),
                    })
                }
            };
            if seg == "[]" {
                known.push_str("[]");
            } else {
                known.push('.');
                known.push_str(seg);
            }
        }
        Ok(())
    }

    /// A value of this shape with every key present, for running guards and rendering
    /// templates at load: texts `示例`, numbers 1, `true`, one element per list.
    pub fn sample(&self) -> Value {
        match self {
            Shape::Any => json!("示例"),
            Shape::Scalar(Scalar::Text) => json!("示例"),
            Shape::Scalar(Scalar::Int) => json!(1),
            Shape::Scalar(Scalar::Float) => json!(1.5),
            Shape::Scalar(Scalar::Bool) => json!(true),
            Shape::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), v.sample())).collect())
            }
            Shape::List(inner) => json!([inner.sample()]),
        }
    }

    /// `value` with every key the shape declares present (null where it was missing), so that
    /// a script reading a declared key reads null and an undeclared one fails.
    pub fn complete(&self, value: &Value) -> Value {
        match (self, value) {
            (Shape::Object(m), Value::Object(v)) => {
                let mut out = v.clone();
                for (k, s) in m {
                    let filled = match v.get(k) {
                        Some(inner) => s.complete(inner),
                        None => Value::Null,
                    };
                    out.insert(k.clone(), filled);
                }
                Value::Object(out)
            }
            (Shape::List(inner), Value::Array(items)) => {
                Value::Array(items.iter().map(|i| inner.complete(i)).collect())
            }
            _ => value.clone(),
        }
    }

    /// The shape a JSON Schema describes (as `schemars` writes them: `$ref`s into `$defs`,
    /// nullable types as `type: [t, "null"]` or `anyOf` with null).
    pub fn from_json_schema(schema: &Value) -> Shape {
        let defs = schema
            .get("$defs")
            .or_else(|| schema.get("definitions"))
            .cloned()
            .unwrap_or(Value::Null);
        shape_of(schema, &defs, 0)
    }
}

fn self_kind(s: &Shape) -> &'static str {
    match s {
        Shape::Scalar(Scalar::Text) => "文本",
        Shape::Scalar(Scalar::Int) => "整数",
        Shape::Scalar(Scalar::Float) => "数值",
        Shape::Scalar(Scalar::Bool) => "真假值",
        _ => "值",
    }
}

fn shape_of(s: &Value, defs: &Value, depth: usize) -> Shape {
    if depth > 32 {
        return Shape::Any;
    }
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or_default();
        return match defs.get(name) {
            Some(d) => shape_of(d, defs, depth + 1),
            None => Shape::Any,
        };
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = s.get(key).and_then(Value::as_array) {
            let non_null: Vec<&Value> = alts
                .iter()
                .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
                .collect();
            return match non_null.as_slice() {
                [one] => shape_of(one, defs, depth + 1),
                _ => Shape::Any,
            };
        }
    }
    let ty = match s.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ => return Shape::Any,
    };
    match ty {
        "object" => match s.get("properties").and_then(Value::as_object) {
            Some(props) => Shape::Object(
                props
                    .iter()
                    .map(|(k, v)| (k.clone(), shape_of(v, defs, depth + 1)))
                    .collect(),
            ),
            None => Shape::Any,
        },
        "array" => Shape::List(Box::new(
            s.get("items")
                .map(|i| shape_of(i, defs, depth + 1))
                .unwrap_or(Shape::Any),
        )),
        "string" => Shape::Scalar(Scalar::Text),
        "integer" => Shape::Scalar(Scalar::Int),
        "number" => Shape::Scalar(Scalar::Float),
        "boolean" => Shape::Scalar(Scalar::Bool),
        _ => Shape::Any,
    }
}

/// What the server hands to guards and templates, declared once (as types in the server)
/// and checked against every file that reads it. [`Contract::default`] checks nothing (the
/// engine's own tests, which bring their own facts).
#[derive(Debug, Clone, Default)]
pub struct Contract {
    /// Whether paths are checked and guards and templates tried at load.
    pub checked: bool,
    /// `facts` of a flow's guards.
    pub facts: Shape,
    /// Top-level facts loaded only for the flows that declare them (`facts: [...]`).
    pub optional_facts: Vec<String>,
    /// `actor`.
    pub actor: Shape,
    /// What templates read besides `vars` (`graduate`, `employer`, `link`…).
    pub template: Shape,
    /// Instance variables the server sets besides the forms' fields (`_student`…).
    pub server_vars: BTreeMap<String, Shape>,
    /// Scripts the server runs itself (not a flow's guards), with the facts they read.
    pub scripts: BTreeMap<String, Shape>,
}

/// A path a script reads from one of its context variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPath {
    pub root: String,
    pub path: Vec<String>,
    pub line: Option<usize>,
}

/// Every path below `roots` that `ast` reads with `.` or a constant `[...]`, in order (a
/// dynamic index or a method call ends a path).
pub fn read_paths(ast: &AST, roots: &[&str]) -> Vec<ReadPath> {
    let mut out = Vec::new();
    ast.walk(&mut |nodes: &[ASTNode]| {
        if let Some(ASTNode::Expr(Expr::Dot(x, _, _) | Expr::Index(x, _, _))) = nodes.last() {
            if let Expr::Variable(v, _, pos) = &x.lhs {
                let name = v.1.as_str();
                if roots.contains(&name) {
                    let mut path = Vec::new();
                    let index = matches!(nodes.last(), Some(ASTNode::Expr(Expr::Index(..))));
                    segments(&x.rhs, index, &mut path);
                    out.push(ReadPath {
                        root: name.to_string(),
                        path,
                        line: pos.line(),
                    });
                }
            }
        }
        true
    });
    out
}

/// The segments of the right side of a chain; `index` when the segment is a `[...]`.
fn segments(e: &Expr, index: bool, out: &mut Vec<String>) -> bool {
    let head = |e: &Expr, index: bool| -> Option<String> {
        match e {
            Expr::Property(p, _) if !index => Some(p.2.to_string()),
            Expr::StringConstant(s, _) if index => Some(s.to_string()),
            Expr::IntegerConstant(..) if index => Some("[]".to_string()),
            _ => None,
        }
    };
    match e {
        Expr::Dot(x, _, _) | Expr::Index(x, _, _) => {
            let next_index = matches!(e, Expr::Index(..));
            match head(&x.lhs, index) {
                Some(seg) => {
                    out.push(seg);
                    segments(&x.rhs, next_index, out)
                }
                None => false,
            }
        }
        other => match head(other, index) {
            Some(seg) => {
                out.push(seg);
                true
            }
            None => false,
        },
    }
}

/// The shape of `now` as guards see it.
pub fn now_shape() -> Shape {
    Shape::object([
        ("ts", Shape::Scalar(Scalar::Int)),
        ("date", Shape::text()),
        ("iso", Shape::text()),
        ("year", Shape::Scalar(Scalar::Int)),
    ])
}

/// Merges the keys of `extra` into the object `base`.
pub fn merged(base: &Shape, extra: impl IntoIterator<Item = (String, Shape)>) -> Shape {
    let mut m: BTreeMap<String, Shape> = match base {
        Shape::Object(m) => m.clone(),
        _ => BTreeMap::new(),
    };
    m.extend(extra);
    Shape::Object(m)
}

/// An object from a JSON map's keys (used for samples).
pub fn keys_of(v: &Map<String, Value>) -> Vec<&str> {
    v.keys().map(String::as_str).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Shape {
        Shape::object([
            (
                "graduate",
                Shape::object([("training_mode", Shape::text()), ("name", Shape::text())]),
            ),
            (
                "tags",
                Shape::List(Box::new(Shape::object([("code", Shape::text())]))),
            ),
            ("handler", Shape::Any),
        ])
    }

    #[test]
    fn paths_are_checked_with_the_nearest_name() {
        let f = facts();
        assert!(f
            .lookup("facts", &["graduate".into(), "training_mode".into()])
            .is_ok());
        let e = f
            .lookup("facts", &["graduate".into(), "trainng_mode".into()])
            .unwrap_err();
        assert_eq!(
            e.message,
            "facts.graduate.trainng_mode 不存在，是否想写 training_mode？"
        );
        assert!(f
            .lookup("facts", &["handler".into(), "anything".into()])
            .is_ok());
        assert!(f
            .lookup("facts", &["tags".into(), "[]".into(), "code".into()])
            .is_ok());
        assert!(f
            .lookup("facts", &["graduate".into(), "name".into(), "x".into()])
            .unwrap_err()
            .message
            .contains("是文本"));
    }

    #[test]
    fn scripts_paths_are_found_in_the_ast() {
        let e = rhai::Engine::new_raw();
        let mut scope = rhai::Scope::new();
        scope.push_dynamic("facts", rhai::Dynamic::UNIT);
        scope.push_dynamic("input", rhai::Dynamic::UNIT);
        let ast = e
            .compile_with_scope(
                &scope,
                "let m = facts.graduate.trainng_mode;\nif input[\"x\"].y == 1 {}\nfacts.tags[0].code.len();\nfacts[m];",
            )
            .unwrap();
        let paths: Vec<(String, Vec<String>, Option<usize>)> =
            read_paths(&ast, &["facts", "input"])
                .into_iter()
                .map(|p| (p.root, p.path, p.line))
                .collect();
        assert_eq!(
            paths,
            vec![
                (
                    "facts".into(),
                    vec!["graduate".into(), "trainng_mode".into()],
                    Some(1)
                ),
                ("input".into(), vec!["x".into(), "y".into()], Some(2)),
                (
                    "facts".into(),
                    vec!["tags".into(), "[]".into(), "code".into()],
                    Some(3)
                ),
                ("facts".into(), vec![], Some(4)),
            ]
        );
    }

    #[test]
    fn json_schemas_become_shapes_samples_and_completions() {
        let schema = json!({
            "type": "object",
            "properties": {
                "graduate": {"$ref": "#/$defs/G"},
                "employer": {"anyOf": [{"$ref": "#/$defs/E"}, {"type": "null"}]},
                "count": {"type": ["integer", "null"]},
                "ok": {"type": "boolean"}
            },
            "$defs": {
                "G": {"type": "object", "properties": {"name": {"type": "string"}}},
                "E": {"type": "object", "properties": {"id": {"type": "integer"}}}
            }
        });
        let s = Shape::from_json_schema(&schema);
        assert_eq!(
            s.sample(),
            json!({"graduate": {"name": "示例"}, "employer": {"id": 1}, "count": 1, "ok": true})
        );
        assert_eq!(
            s.complete(&json!({"graduate": {}, "ok": false})),
            json!({"graduate": {"name": null}, "employer": null, "count": null, "ok": false})
        );
    }
}
