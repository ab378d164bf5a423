//! Fragments: pieces of definitions that several flows share, written once in
//! `workflows/shared/*.yaml` and referred to by name with `use:`.
//!
//! A shared file is a mapping of fragment names to any YAML value (a list of form fields, a
//! list of reactions, a mapping of actions…); names are unique across the shared files. In a
//! definition:
//!
//! * a list item `{use: name}` is replaced by the fragment's items (a list) or by the fragment
//!   itself (anything else): `- {use: agreement_fields}` inside a form;
//! * a mapping that is exactly `{use: name}` is replaced by the fragment:
//!   `forms: {void: {use: void_fields}}`;
//! * a mapping with a `use:` key (one name or a list) besides others takes the fragments'
//!   entries where the key stands, its own entries winning: `actions: {use: after_approval,
//!   void: {...}}`.
//!
//! Fragments may use fragments. A definition is identified by what it expands to: its
//! canonical form (the expanded YAML re-serialized) is what is hashed and stored, so moving
//! lines into a fragment changes nothing, while changing a fragment changes every definition
//! that uses it (which must then take a new version).

use std::collections::BTreeMap;

use serde_norway::{Mapping, Value};

use crate::suggest::nearest;

/// The key that refers to a fragment.
pub const USE: &str = "use";

/// Every fragment by name, with the file it comes from.
#[derive(Debug, Clone, Default)]
pub struct Fragments {
    by_name: BTreeMap<String, (Value, String)>,
}

impl Fragments {
    /// Adds the fragments of one shared file; the names it redefines, with the file that
    /// defined them first.
    pub fn add_file(&mut self, path: &str, root: Mapping) -> Vec<(String, String)> {
        let mut dup = Vec::new();
        for (k, v) in root {
            let Some(name) = k.as_str().map(str::to_string) else {
                dup.push((format!("{k:?}"), "（片段名必须是文本）".into()));
                continue;
            };
            if let Some((_, first)) = self.by_name.get(&name) {
                dup.push((name, first.clone()));
                continue;
            }
            self.by_name.insert(name, (v, path.to_string()));
        }
        dup
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    fn get(&self, name: &str) -> Result<&Value, String> {
        self.by_name.get(name).map(|(v, _)| v).ok_or_else(|| {
            let hint = nearest(name, self.names())
                .map(|n| format!("，是否想写 {n}？"))
                .unwrap_or_default();
            format!("片段 {name} 不存在（workflows/shared/ 中没有定义）{hint}")
        })
    }

    /// Expands every `use:` in `v`. Errors name the fragment (the caller finds its line).
    pub fn expand(&self, v: Value) -> Result<Value, String> {
        self.expand_in(v, &mut Vec::new())
    }

    fn expand_in(&self, v: Value, stack: &mut Vec<String>) -> Result<Value, String> {
        match v {
            Value::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match only_use(&item) {
                        Some(names) => {
                            for name in names? {
                                match self.resolve(&name, stack)? {
                                    Value::Sequence(spliced) => out.extend(spliced),
                                    other => out.push(other),
                                }
                            }
                        }
                        None => out.push(self.expand_in(item, stack)?),
                    }
                }
                Ok(Value::Sequence(out))
            }
            Value::Mapping(m) => {
                if let Some(names) = only_use(&Value::Mapping(m.clone())) {
                    let names = names?;
                    if let [name] = names.as_slice() {
                        return self.resolve(name, stack);
                    }
                }
                let mut out = Mapping::new();
                let mut own = Mapping::new();
                for (k, val) in &m {
                    if k.as_str() != Some(USE) {
                        own.insert(k.clone(), self.expand_in(val.clone(), stack)?);
                    }
                }
                for (k, val) in m {
                    if k.as_str() == Some(USE) {
                        for name in use_names(&val)? {
                            match self.resolve(&name, stack)? {
                                Value::Mapping(entries) => {
                                    for (fk, fv) in entries {
                                        if !own.contains_key(&fk) {
                                            out.insert(fk, fv);
                                        }
                                    }
                                }
                                _ => {
                                    return Err(format!(
                                        "片段 {name} 不是映射，不能与其他键合并（在列表中请写 - {{use: {name}}}）"
                                    ))
                                }
                            }
                        }
                    } else if let Some(v) = own.remove(&k) {
                        out.insert(k, v);
                    }
                }
                Ok(Value::Mapping(out))
            }
            Value::Tagged(t) => {
                let mut t = *t;
                t.value = self.expand_in(t.value, stack)?;
                Ok(Value::Tagged(Box::new(t)))
            }
            other => Ok(other),
        }
    }

    fn resolve(&self, name: &str, stack: &mut Vec<String>) -> Result<Value, String> {
        if stack.iter().any(|s| s == name) {
            return Err(format!("片段循环引用：{} → {name}", stack.join(" → ")));
        }
        let v = self.get(name)?.clone();
        stack.push(name.to_string());
        let out = self.expand_in(v, stack);
        stack.pop();
        out
    }
}

/// The names of a mapping that is exactly `{use: …}`.
fn only_use(v: &Value) -> Option<Result<Vec<String>, String>> {
    let m = v.as_mapping()?;
    if m.len() != 1 {
        return None;
    }
    let val = m.get(USE)?;
    Some(use_names(val))
}

fn use_names(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Sequence(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| "use: 只能写片段名或片段名列表".to_string())
            })
            .collect(),
        _ => Err("use: 只能写片段名或片段名列表".into()),
    }
}

/// Whether a value refers to any fragment.
pub fn uses_fragments(v: &Value) -> bool {
    match v {
        Value::Sequence(items) => items.iter().any(uses_fragments),
        Value::Mapping(m) => m
            .iter()
            .any(|(k, v)| k.as_str() == Some(USE) || uses_fragments(v)),
        Value::Tagged(t) => uses_fragments(&t.value),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frags(yaml: &str) -> Fragments {
        let mut f = Fragments::default();
        let dup = f.add_file(
            "workflows/shared/x.yaml",
            serde_norway::from_str(yaml).unwrap(),
        );
        assert!(dup.is_empty());
        f
    }

    fn expand(f: &Fragments, yaml: &str) -> Result<String, String> {
        f.expand(serde_norway::from_str(yaml).unwrap())
            .map(|v| serde_norway::to_string(&v).unwrap())
    }

    #[test]
    fn lists_mappings_and_merges() {
        let f = frags(
            "fields: [{name: a}, {name: b}]\none: {name: c}\nacts: {modify: {label: 修改}, void: {label: 作废}}\n",
        );
        assert_eq!(
            expand(&f, "form: [{name: x}, {use: fields}, {use: one}]").unwrap(),
            "form:\n- name: x\n- name: a\n- name: b\n- name: c\n"
        );
        assert_eq!(
            expand(&f, "forms: {f: {use: fields}}").unwrap(),
            "forms:\n  f:\n  - name: a\n  - name: b\n"
        );
        // Own entries win; the fragment's stand where `use` stands.
        assert_eq!(
            expand(&f, "actions: {edit: {label: 编辑}, use: acts, void: {label: 删除}}").unwrap(),
            "actions:\n  edit:\n    label: 编辑\n  modify:\n    label: 修改\n  void:\n    label: 删除\n"
        );
    }

    #[test]
    fn unknown_and_circular_fragments_are_errors() {
        let f = frags("a: [{use: b}]\nb: [{use: a}]\nfields: []\n");
        let e = expand(&f, "x: [{use: feilds}]").unwrap_err();
        assert!(e.contains("feilds 不存在") && e.contains("fields"), "{e}");
        let e = expand(&f, "x: [{use: a}]").unwrap_err();
        assert!(e.contains("循环引用"), "{e}");
        let mut g = Fragments::default();
        g.add_file("a.yaml", serde_norway::from_str("x: 1").unwrap());
        let dup = g.add_file("b.yaml", serde_norway::from_str("x: 2").unwrap());
        assert_eq!(dup, vec![("x".to_string(), "a.yaml".to_string())]);
    }
}
