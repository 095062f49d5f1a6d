//! `schema/codereview.schema.json`, the JSON Schema editors use for completion and inline checks
//! of `CODEREVIEW*.toml` (Taplo / Even Better TOML), must describe exactly what the engine
//! accepts: every key of the serde model and no other, every example config valid, and the
//! mistakes a schema can see rejected.
//!
//! The engine stays the authority (`codereview check`); these tests keep the schema from
//! drifting away from it when a key is added or renamed.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed run, with its location

use codereview_policy::config::{ConfigFile, RawSet, model};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the policy crate sits in the workspace")
        .to_path_buf()
}

fn schema() -> Value {
    let path = workspace().join("schema/codereview.schema.json");
    let text = std::fs::read_to_string(&path).expect("schema file");
    serde_json::from_str(&text).expect("schema is JSON")
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&schema()).expect("schema compiles")
}

/// TOML text as the JSON document the schema sees.
fn to_json(toml_text: &str) -> Value {
    let value: toml::Value = toml::from_str(toml_text).expect("valid TOML");
    serde_json::to_value(value).expect("TOML converts to JSON")
}

/// A JSON document as TOML text, for the engine.
fn to_toml(json: &Value) -> String {
    toml::to_string(json).expect("JSON without nulls converts to TOML")
}

fn schema_errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Every `CODEREVIEW*.toml` under `examples/`, grouped by example repository (its first
/// directory under `examples/`).
fn example_repos() -> Vec<(String, Vec<ConfigFile>)> {
    let root = workspace().join("examples");
    let mut repos = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("examples/ exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let mut files = Vec::new();
        collect_configs(&dir, &dir, &mut files);
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let name = dir
            .file_name()
            .expect("named")
            .to_string_lossy()
            .into_owned();
        repos.push((name, files));
    }
    repos
}

fn collect_configs(repo: &Path, dir: &Path, out: &mut Vec<ConfigFile>) {
    for entry in std::fs::read_dir(dir).expect("readable") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            collect_configs(repo, &path, out);
        } else if codereview_policy::config::is_config_path(&path.to_string_lossy()) {
            out.push(ConfigFile {
                path: path
                    .strip_prefix(repo)
                    .expect("under the repo")
                    .to_string_lossy()
                    .replace('\\', "/"),
                text: std::fs::read_to_string(&path).expect("UTF-8"),
            });
        }
    }
}

#[test]
fn schema_is_a_valid_draft_2020_12_schema() {
    let schema = schema();
    assert_eq!(
        schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
        "declares its draft"
    );
    jsonschema::draft202012::meta::validate(&schema).expect("valid against the meta-schema");
}

#[test]
fn every_example_config_passes_the_schema_and_the_engine() {
    let validator = validator();
    let repos = example_repos();
    assert!(
        repos.len() >= 6,
        "the examples cover starter, monorepo, templates, aliases and teams, code scopes and large-scale change"
    );
    let mut total = 0;
    for (name, files) in &repos {
        assert!(
            files.iter().any(|f| f.path == "CODEREVIEW.toml"),
            "example {name} has a root config"
        );
        for file in files {
            total += 1;
            let errors = schema_errors(&validator, &to_json(&file.text));
            assert!(
                errors.is_empty(),
                "examples/{name}/{}: {errors:?}",
                file.path
            );
            assert!(
                file.text.starts_with("#:schema "),
                "examples/{name}/{} starts with a #:schema directive",
                file.path
            );
            let directive = file.text.lines().next().expect("first line")["#:schema ".len()..]
                .trim()
                .to_string();
            let dir = Path::new("examples")
                .join(name)
                .join(Path::new(&file.path).parent().expect("has a parent"));
            let target = workspace().join(dir).join(&directive);
            assert!(
                target.canonicalize().ok()
                    == workspace()
                        .join("schema/codereview.schema.json")
                        .canonicalize()
                        .ok(),
                "examples/{name}/{}: #:schema {directive} does not lead to the schema",
                file.path
            );
        }
        let set = RawSet::parse(files.iter().cloned())
            .and_then(|raw| raw.compile(None))
            .unwrap_or_else(|e| panic!("example {name} fails `codereview check`:\n{e}"));
        assert!(set.root().is_some(), "example {name} is enabled");
    }
    assert!(total >= 12, "only {total} example files");
}

/// Configs that a schema can tell are wrong. Each is rejected by the engine too: the schema must
/// never forbid what `check` allows.
const INVALID: &[(&str, &str)] = &[
    ("unknown top-level key", "version = 2\n"),
    (
        "unknown scope key",
        "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nreviewer = [\"alice\"]\n",
    ),
    (
        "unknown large_scale_change key",
        "[large_scale_change]\nmin_paths = 10\n",
    ),
    (
        "unknown checklist item key",
        "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nchecklist.items = [{ label = \"x\", checked = true }]\n",
    ),
    (
        "unknown checklist key",
        "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nchecklist = { items = [{ label = \"x\" }], title = \"t\" }\n",
    ),
    ("template is a string", "template = \"yes\"\n"),
    (
        "extends is a string",
        "extends = \"CODEREVIEW.base.toml\"\n",
    ),
    ("extends names a non-config", "extends = [\"base.toml\"]\n"),
    ("an alias is a string", "[aliases]\nx = \"alice\"\n"),
    (
        "paths is a string",
        "[[scopes]]\nname = \"a\"\npaths = \"src/**\"\n",
    ),
    (
        "require is a string",
        "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nrequire = \"1\"\n",
    ),
    (
        "require is negative",
        "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nrequire = -1\n",
    ),
    (
        "large_scale_change request is negative",
        "[large_scale_change]\nrequest = -1\n",
    ),
    (
        "bad ownership",
        "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nownership = \"primary\"\n",
    ),
    ("missing name", "[[scopes]]\npaths = [\"x\"]\n"),
    ("missing paths", "[[scopes]]\nname = \"a\"\n"),
    ("empty name", "[[scopes]]\nname = \"\"\npaths = [\"x\"]\n"),
    (
        "comma in name",
        "[[scopes]]\nname = \"a,b\"\npaths = [\"x\"]\n",
    ),
    ("empty paths", "[[scopes]]\nname = \"a\"\npaths = []\n"),
    (
        "empty checklist",
        "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nchecklist.items = []\n",
    ),
    (
        "blank checklist label",
        "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nchecklist.items = [{ label = \" \" }]\n",
    ),
    (
        "bad checklist notes",
        "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nchecklist.items = [{ label = \"x\", notes = \"always\" }]\n",
    ),
    (
        "email reviewer",
        "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nreviewers = [\"a@b.com\"]\n",
    ),
    (
        "bad team reference",
        "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\ncc = [\"@acme\"]\n",
    ),
    (
        "bot reviewer",
        "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nreviewers = [\"ci[Bot]\"]\n",
    ),
    (
        "bot in large_scale_change alternates",
        "[large_scale_change]\nalternates = [\"ci[bot]\"]\n",
    ),
    (
        "wildcard alternate",
        "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nalternates = [\"*\"]\n",
    ),
    (
        "wildcard author",
        "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nauthors = [\"*\"]\n",
    ),
    (
        "wildcard cc",
        "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\ncc = [\"*\"]\n",
    ),
    (
        "unless without producer",
        "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nunless = [\"tests\"]\n",
    ),
    (
        "unless with a blank check name",
        "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nunless = [\"ci/ \"]\n",
    ),
    (
        "unless waiting on PullApprove",
        "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nunless = [\" PullApprove/x\"]\n",
    ),
];

#[test]
fn known_invalid_configs_are_rejected_by_the_schema_and_the_engine() {
    let validator = validator();
    for (what, text) in INVALID {
        assert!(
            !validator.is_valid(&to_json(text)),
            "schema accepts: {what}"
        );
        let engine = RawSet::parse([ConfigFile {
            path: "CODEREVIEW.toml".to_string(),
            text: text.to_string(),
        }])
        .and_then(|raw| raw.compile(None));
        assert!(engine.is_err(), "engine accepts: {what}");
    }
}

#[test]
fn what_only_the_engine_can_tell_is_left_to_the_engine() {
    // The schema cannot expand aliases or follow extends: these are valid to it, and `check`
    // reports them. A schema that rejected them would be guessing.
    let validator = validator();
    for text in [
        "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nreviewers = [\"$nobody\"]\n",
        "extends = [\"CODEREVIEW-missing.toml\"]\n",
        "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nrequire = 3\nreviewers = [\"alice\"]\n",
        "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\ncode = [\"(a+)+\"]\n",
    ] {
        assert!(validator.is_valid(&to_json(text)), "{text}");
        let engine = RawSet::parse([ConfigFile {
            path: "CODEREVIEW.toml".to_string(),
            text: text.to_string(),
        }])
        .and_then(|raw| raw.compile(None));
        assert!(engine.is_err(), "{text}");
    }
}

/// One object level of the schema: its name, the JSON pointer to its `properties`, and a function
/// that wraps `{key: value}` into a minimal document putting it at that level.
type Level = (&'static str, &'static str, fn(Value) -> Value);

/// The schema's object levels.
fn levels() -> Vec<Level> {
    vec![
        ("top level", "/properties", |kv| kv),
        (
            "large_scale_change",
            "/properties/large_scale_change/properties",
            |kv| json!({ "large_scale_change": kv }),
        ),
        ("scope", "/$defs/scope/properties", |kv| {
            let mut scope = json!({ "name": "s", "paths": ["x"] });
            merge(&mut scope, kv);
            json!({ "scopes": [scope] })
        }),
        (
            "checklist",
            "/$defs/scope/properties/checklist/properties",
            |kv| json!({ "scopes": [{ "name": "s", "paths": ["x"], "checklist": kv }] }),
        ),
        ("checklist item", "/$defs/checklistItem/properties", |kv| {
            let mut item = json!({ "label": "x" });
            merge(&mut item, kv);
            json!({ "scopes": [{ "name": "s", "paths": ["x"], "checklist": { "items": [item] } }] })
        }),
    ]
}

fn merge(into: &mut Value, kv: Value) {
    let into = into.as_object_mut().expect("object");
    for (k, v) in kv.as_object().expect("object") {
        into.insert(k.clone(), v.clone());
    }
}

/// The field names serde lists when it rejects an unknown key at a level.
fn model_keys(doc: &Value) -> BTreeSet<String> {
    let (_, message) = model::parse(&to_toml(doc)).expect_err("unknown key is rejected");
    let (_, expected) = message
        .split_once("expected ")
        .unwrap_or_else(|| panic!("unexpected message: {message}"));
    expected
        .trim_start_matches("one of ")
        .split(", ")
        .map(|k| k.trim_matches('`').to_string())
        .collect()
}

#[test]
fn schema_lists_exactly_the_keys_the_model_accepts() {
    let schema = schema();
    for (level, pointer, wrap) in levels() {
        let properties = schema
            .pointer(pointer)
            .and_then(Value::as_object)
            .unwrap_or_else(|| panic!("{pointer} in the schema"));
        let in_schema: BTreeSet<String> = properties.keys().cloned().collect();
        let in_model = model_keys(&wrap(json!({ "zz_not_a_key": true })));
        assert_eq!(in_schema, in_model, "{level}: schema vs serde model");
    }
}

#[test]
fn every_schema_example_is_accepted_by_the_schema_and_the_model() {
    let schema = schema();
    let validator = validator();
    for (level, pointer, wrap) in levels() {
        let properties = schema.pointer(pointer).and_then(Value::as_object).unwrap();
        for (key, property) in properties {
            assert!(
                property.get("description").is_some_and(Value::is_string),
                "{level}.{key} has a description (editors show it)"
            );
            let examples = property
                .get("examples")
                .and_then(Value::as_array)
                .unwrap_or_else(|| panic!("{level}.{key} has examples"));
            for example in examples {
                let doc = wrap(json!({ key.clone(): example.clone() }));
                let errors = schema_errors(&validator, &doc);
                assert!(errors.is_empty(), "{level}.{key} = {example}: {errors:?}");
                model::parse(&to_toml(&doc)).unwrap_or_else(|e| {
                    panic!("{level}.{key} = {example}: the model rejects it: {e:?}")
                });
            }
        }
    }
}

#[test]
fn every_object_in_the_schema_forbids_unknown_keys() {
    fn walk(node: &Value, at: &str, objects: &mut usize) {
        match node {
            Value::Object(map) => {
                if map.contains_key("properties") {
                    *objects += 1;
                    assert_eq!(
                        map.get("additionalProperties"),
                        Some(&Value::Bool(false)),
                        "{at} allows unknown keys"
                    );
                }
                for (k, v) in map {
                    walk(v, &format!("{at}/{k}"), objects);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, &format!("{at}/{i}"), objects);
                }
            }
            _ => {}
        }
    }
    let mut objects = 0;
    walk(&schema(), "", &mut objects);
    assert_eq!(
        objects, 5,
        "top level, large_scale_change, scope, checklist, checklist item"
    );
}

#[test]
fn schema_defaults_match_the_engine() {
    // What a key means when it is left out, as the compiled config shows it.
    let set = RawSet::parse([ConfigFile {
        path: "CODEREVIEW.toml".to_string(),
        text: "[large_scale_change]\n\n[[scopes]]\nname = \"s\"\npaths = [\"x\"]\nchecklist.items = [{ label = \"l\" }]\n".to_string(),
    }])
    .and_then(|raw| raw.compile(None))
    .expect("valid");
    let root = set.root().expect("root");
    let scope = serde_json::to_value(&root.scopes[0]).expect("serializes");
    let lsc = serde_json::to_value(root.large_scale_change.as_ref().expect("lsc")).unwrap();
    let item = &scope["checklist"]["items"][0];
    let schema = schema();
    let default = |pointer: &str| {
        schema
            .pointer(&format!("{pointer}/default"))
            .cloned()
            .unwrap_or_else(|| panic!("{pointer} has a default"))
    };
    for key in [
        "require",
        "request",
        "author_value",
        "ownership",
        "description",
        "instructions",
        "reviewers",
        "alternates",
        "cc",
        "authors",
        "labels",
        "code",
    ] {
        let pointer = format!("/$defs/scope/properties/{key}");
        let declared = schema
            .pointer(&format!("{pointer}/default"))
            .cloned()
            .or_else(|| {
                // A default inherited from a shared definition.
                let reference = schema.pointer(&format!("{pointer}/allOf/0/$ref"))?;
                let def = reference.as_str()?.trim_start_matches('#');
                schema.pointer(&format!("{def}/default")).cloned()
            })
            .unwrap_or_else(|| panic!("{pointer} has a default"));
        assert_eq!(declared, scope[key], "scope.{key}");
    }
    assert_eq!(
        default("/properties/large_scale_change/properties/require"),
        lsc["require"]
    );
    for key in ["required", "notes", "help"] {
        assert_eq!(
            default(&format!("/$defs/checklistItem/properties/{key}")),
            item[key],
            "checklist item {key}"
        );
    }
}
