//! A fake GitHub GraphQL endpoint that is as strict as GitHub: every query is validated against
//! GitHub's published schema (`tests/fixtures/github/schema.graphql`, parsed once per test
//! binary), variables are coerced to their declared types, and the answer is *computed* from an
//! in-memory world by executing the query, connections paged like GitHub pages them (at most
//! 100 nodes, opaque cursors that are checked, `pageInfo`).
//!
//! The world is plain JSON shaped like the schema, with two conventions:
//! - a field with arguments that pick one object (`repository(owner, name)`,
//!   `pullRequest(number)`, `organization(login)`, `team(slug)`, `mergeQueue(branch)`) holds an
//!   object keyed by those argument values joined with `/` (`"octo/repo"`, `"7"`);
//! - a connection (a field called with `first`/`last`) holds the full list of its nodes.
//!
//! Objects with an `id` and a `__typename` are reachable through `node(id:)`.

use apollo_compiler::executable::{Field, Selection, SelectionSet};
use apollo_compiler::response::JsonMap;
use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Schema, ast};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use wiremock::{Match, Request, Respond, ResponseTemplate};

/// GitHub's published schema, parsed once per test binary.
pub fn schema() -> &'static Valid<Schema> {
    static SCHEMA: OnceLock<Valid<Schema>> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        // From the action's tests and the service's alike (sibling crates).
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../action/tests/fixtures/github/schema.graphql"
        );
        let sdl = std::fs::read_to_string(path).expect("the GitHub schema fixture");
        let schema = match Schema::parse(sdl, "schema.graphql") {
            Ok(schema) => schema,
            // The published SDL defines two `EnterpriseOwnerInfo` fields twice (identically):
            // strict SDL validation refuses that, so keep the built schema and accept only
            // that known quirk.
            Err(with_errors) => {
                let errors = with_errors.errors.to_string();
                assert!(
                    errors
                        .lines()
                        .filter(|l| l.starts_with("Error"))
                        .all(|l| l.contains("repositoryDeployKeySetting")),
                    "unexpected errors in the GitHub schema: {errors}"
                );
                with_errors.partial
            }
        };
        Valid::assume_valid(schema)
    })
}

/// The body of a GraphQL request.
fn query_and_variables(body: &[u8]) -> Result<(String, Value), String> {
    let body: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let query = body
        .get("query")
        .and_then(Value::as_str)
        .ok_or("the body has no `query` string")?
        .to_string();
    let variables = body.get("variables").cloned().unwrap_or(json!({}));
    Ok((query, variables))
}

/// Validate a query and its variables as GitHub would; the errors otherwise.
pub fn validate(query: &str, variables: &Value) -> Result<Valid<ExecutableDocument>, String> {
    let doc = ExecutableDocument::parse_and_validate(schema(), query, "query.graphql")
        .map_err(|e| e.errors.to_string())?;
    let operation = doc
        .operations
        .get(None)
        .map_err(|e| e.message().to_string())?;
    let values: JsonMap = serde_json::from_value(variables.clone())
        .map_err(|e| format!("`variables` is not an object: {e}"))?;
    apollo_compiler::request::coerce_variable_values(schema(), operation, &values)
        .map_err(|e| e.message().to_string())?;
    Ok(doc)
}

/// Matches a GraphQL request that GitHub would refuse (invalid query or variables). Mounted
/// with `.expect(0)`, it turns any invalid query into a test failure.
pub struct InvalidGraphql;

impl Match for InvalidGraphql {
    fn matches(&self, request: &Request) -> bool {
        let invalid = query_and_variables(&request.body)
            .and_then(|(q, v)| validate(&q, &v).map(|_| ()))
            .err();
        if let Some(why) = &invalid {
            eprintln!("fake GitHub: invalid GraphQL request: {why}");
        }
        invalid.is_some()
    }
}

/// GitHub's answer to a query it refuses: HTTP 200 with `errors`.
pub struct RefuseInvalid;

impl Respond for RefuseInvalid {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let why = query_and_variables(&request.body)
            .and_then(|(q, v)| validate(&q, &v).map(|_| ()))
            .err()
            .unwrap_or_default();
        ResponseTemplate::new(200).set_body_json(json!({ "errors": [ { "message": why } ] }))
    }
}

/// Answers every valid query by executing it against a world.
pub struct FakeGraphql {
    world: Value,
    nodes: HashMap<String, Value>,
    /// Every cursor argument received, in order (`field`, cursor).
    pub cursors: Mutex<Vec<(String, String)>>,
}

fn index_nodes(v: &Value, out: &mut HashMap<String, Value>) {
    match v {
        Value::Object(m) => {
            if let (Some(Value::String(id)), Some(_)) = (m.get("id"), m.get("__typename")) {
                out.insert(id.clone(), v.clone());
            }
            m.values().for_each(|c| index_nodes(c, out));
        }
        Value::Array(a) => a.iter().for_each(|c| index_nodes(c, out)),
        _ => {}
    }
}

/// GitHub's opaque cursor for the node at `index` of connection `field`. It holds a quote and
/// a slash, so a client that pastes it into a query unquoted breaks.
pub fn cursor(field: &str, index: usize) -> String {
    format!("Y3Vyc29y:\"{field}\"/{index}")
}

impl FakeGraphql {
    /// A fake answering from this world.
    pub fn new(world: Value) -> Self {
        let mut nodes = HashMap::new();
        index_nodes(&world, &mut nodes);
        FakeGraphql {
            world,
            nodes,
            cursors: Mutex::new(Vec::new()),
        }
    }

    /// Execute a query (already validated) with its variables.
    pub fn execute(&self, query: &str, variables: &Value) -> Value {
        let doc = match validate(query, variables) {
            Ok(doc) => doc,
            Err(why) => return json!({ "errors": [ { "message": why } ] }),
        };
        let operation = doc.operations.get(None).expect("validated");
        let mut exec = Exec {
            fake: self,
            doc: &doc,
            variables,
            errors: Vec::new(),
        };
        let data = exec.select(&operation.selection_set, &self.world);
        if exec.errors.is_empty() {
            json!({ "data": data })
        } else {
            json!({ "data": data, "errors": exec.errors.iter().map(|m| json!({ "message": m })).collect::<Vec<_>>() })
        }
    }
}

impl Respond for FakeGraphql {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let answer = match query_and_variables(&request.body) {
            Ok((q, v)) => self.execute(&q, &v),
            Err(why) => json!({ "errors": [ { "message": why } ] }),
        };
        ResponseTemplate::new(200).set_body_json(answer)
    }
}

struct Exec<'a> {
    fake: &'a FakeGraphql,
    doc: &'a ExecutableDocument,
    variables: &'a Value,
    errors: Vec<String>,
}

const PAGING: [&str; 4] = ["first", "last", "after", "before"];

impl Exec<'_> {
    fn value(&self, v: &ast::Value) -> Value {
        match v {
            ast::Value::Null => Value::Null,
            ast::Value::Variable(name) => self
                .variables
                .get(name.as_str())
                .cloned()
                .unwrap_or(Value::Null),
            ast::Value::String(s) => json!(s),
            ast::Value::Enum(e) => json!(e.as_str()),
            ast::Value::Int(i) => json!(i.try_to_i32().unwrap_or(i32::MAX)),
            ast::Value::Float(f) => json!(f.try_to_f64().unwrap_or(0.0)),
            ast::Value::Boolean(b) => json!(b),
            ast::Value::List(l) => Value::Array(l.iter().map(|x| self.value(x)).collect()),
            ast::Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| (k.to_string(), self.value(x)))
                    .collect(),
            ),
        }
    }

    fn arg(&self, field: &Field, name: &str) -> Option<Value> {
        field
            .arguments
            .iter()
            .find(|a| a.name == name)
            .map(|a| self.value(&a.value))
            .filter(|v| !v.is_null())
    }

    fn type_matches(&self, condition: Option<&str>, obj: &Value) -> bool {
        match (condition, obj.get("__typename").and_then(Value::as_str)) {
            (Some(want), Some(have)) => want == have || self.implements(have, want),
            _ => true,
        }
    }

    fn implements(&self, object: &str, abstract_type: &str) -> bool {
        schema().get_object(object).is_some_and(|o| {
            o.implements_interfaces
                .iter()
                .any(|i| i.name == abstract_type)
        }) || schema()
            .get_union(abstract_type)
            .is_some_and(|u| u.members.iter().any(|m| m.name == object))
    }

    fn select(&mut self, set: &SelectionSet, obj: &Value) -> Value {
        let mut out = Map::new();
        self.select_into(set, obj, &mut out);
        Value::Object(out)
    }

    fn select_into(&mut self, set: &SelectionSet, obj: &Value, out: &mut Map<String, Value>) {
        for selection in &set.selections {
            match selection {
                Selection::Field(f) => {
                    let v = self.field(f, obj);
                    out.insert(f.response_key().to_string(), v);
                }
                Selection::InlineFragment(i) => {
                    if self.type_matches(i.type_condition.as_ref().map(|t| t.as_str()), obj) {
                        self.select_into(&i.selection_set, obj, out);
                    }
                }
                Selection::FragmentSpread(s) => {
                    let doc = self.doc;
                    let fragment = &doc.fragments[&s.fragment_name];
                    if self.type_matches(Some(fragment.type_condition().as_str()), obj) {
                        self.select_into(&fragment.selection_set, obj, out);
                    }
                }
            }
        }
    }

    fn field(&mut self, f: &Field, obj: &Value) -> Value {
        if f.name == "__typename" {
            return obj.get("__typename").cloned().unwrap_or(Value::Null);
        }
        let mut raw = if f.name == "node" {
            let id = self.arg(f, "id").and_then(|v| v.as_str().map(String::from));
            id.and_then(|id| self.fake.nodes.get(&id).cloned())
                .unwrap_or(Value::Null)
        } else {
            obj.get(f.name.as_str()).cloned().unwrap_or(Value::Null)
        };
        let keys: Vec<String> = f
            .arguments
            .iter()
            .filter(|a| f.name != "node" && !PAGING.contains(&a.name.as_str()))
            .map(|a| match self.value(&a.value) {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect();
        if !keys.is_empty() {
            raw = raw.get(keys.join("/")).cloned().unwrap_or(Value::Null);
        }
        let paged = self.arg(f, "first").is_some() || self.arg(f, "last").is_some();
        match raw {
            Value::Array(list) if paged => {
                let page = self.page(f, &list);
                self.select(&f.selection_set, &page)
            }
            Value::Array(list) if !f.selection_set.selections.is_empty() => Value::Array(
                list.iter()
                    .map(|item| self.select(&f.selection_set, item))
                    .collect(),
            ),
            Value::Object(_) if !f.selection_set.selections.is_empty() => {
                self.select(&f.selection_set, &raw)
            }
            other => other,
        }
    }

    /// One page of a connection, as GitHub pages: 1 to 100 nodes, cursors it issued.
    fn page(&mut self, f: &Field, list: &[Value]) -> Value {
        let name = f.name.as_str();
        let size = |v: Option<Value>, errors: &mut Vec<String>| {
            let n = v.and_then(|v| v.as_i64())?;
            if !(1..=100).contains(&n) {
                errors.push(format!(
                    "Requesting {n} records on the `{name}` connection exceeds the `first`/`last` limit of 100 records."
                ));
            }
            Some(n.clamp(0, 100) as usize)
        };
        let first = size(self.arg(f, "first"), &mut self.errors);
        let last = size(self.arg(f, "last"), &mut self.errors);
        let start = match self.arg(f, "after") {
            None => 0,
            Some(after) => {
                let after = after.as_str().unwrap_or_default().to_string();
                self.fake
                    .cursors
                    .lock()
                    .unwrap()
                    .push((name.to_string(), after.clone()));
                match (0..list.len()).find(|i| cursor(name, *i) == after) {
                    Some(i) => i + 1,
                    None => {
                        self.errors.push(format!(
                            "`{after}` does not appear to be a valid cursor for `{name}`."
                        ));
                        list.len()
                    }
                }
            }
        };
        let (from, to) = match (first, last) {
            (Some(n), _) => (start, (start + n).min(list.len())),
            (None, Some(n)) => (list.len().saturating_sub(n).max(start), list.len()),
            (None, None) => (start, list.len()),
        };
        json!({
            "totalCount": list.len(),
            "nodes": list[from..to],
            "pageInfo": {
                "hasNextPage": to < list.len(),
                "hasPreviousPage": from > 0,
                "startCursor": (from < to).then(|| cursor(name, from)),
                "endCursor": (from < to).then(|| cursor(name, to - 1)),
            }
        })
    }
}
