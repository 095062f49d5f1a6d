//! The rest of a GitHub GraphQL connection: GitHub returns at most 100 nodes per connection, so
//! a team of 130 or a pull request with 120 reviews must be paged, or the gate decides on a
//! truncated list (a missing approval, a reviewer asked again).
//!
//! The first read asks for `pageInfo { hasNextPage endCursor }` on every connection. Only the
//! connections that say `hasNextPage` are asked again, all of them in **one** query per round
//! (each under its own alias), so an ordinary pull request costs no extra request.
//!
//! Pure: builds query text and merges answers; [`super::github`] sends them.

use serde_json::{Value, json};

/// Most nodes GitHub returns for one connection page.
pub const PAGE_SIZE: u32 = 100;

/// The selection every paged connection carries, so its answer says whether more remain.
pub const PAGE_INFO: &str = "pageInfo { hasNextPage endCursor }";

/// One connection still to be read further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Field calls from the query root down to the connection's parent, e.g.
    /// `repository(owner: "o", name: "r")`, `pullRequest(number: 7)`. Arguments are GraphQL
    /// literals (see [`literal`]).
    pub parents: Vec<String>,
    /// Type condition when the parent is reached through an interface (`node(id:)`).
    pub on_type: Option<&'static str>,
    /// The connection field, e.g. `reviews`.
    pub field: &'static str,
    /// What to read of each node, e.g. `nodes { name }`.
    pub selection: &'static str,
    /// The cursor of the last node read so far.
    pub after: String,
}

/// A string as a GraphQL literal. JSON string escaping is a subset of GraphQL's, so any value
/// (a login, a cursor, a node id) is quoted safely and cannot change the query's shape.
pub fn literal(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// The field name of a call such as `pullRequest(number: 7)`: the key its answer has.
fn key_of(call: &str) -> &str {
    call.split('(').next().unwrap_or(call).trim()
}

impl PageRequest {
    /// Where the connection sits in the answer to [`next_pages_query`], for request `i`.
    fn pointer(&self, i: usize) -> String {
        let mut p = format!("/data/p{i}");
        for call in self.parents.iter().skip(1) {
            p.push('/');
            p.push_str(key_of(call));
        }
        p.push('/');
        p.push_str(self.field);
        p
    }
}

/// One query reading the next page of each request, aliased `p0`, `p1`...
pub fn next_pages_query(requests: &[PageRequest]) -> String {
    let mut q = String::from("query {\n");
    for (i, r) in requests.iter().enumerate() {
        let mut line = format!("  p{i}: ");
        let mut close = 0;
        for call in &r.parents {
            line.push_str(call);
            line.push_str(" { ");
            close += 1;
        }
        if let Some(t) = r.on_type {
            line.push_str(&format!("... on {t} {{ "));
            close += 1;
        }
        line.push_str(&format!(
            "{}(first: {PAGE_SIZE}, after: {}) {{ {PAGE_INFO} {} }}",
            r.field,
            literal(&r.after),
            r.selection
        ));
        for _ in 0..close {
            line.push_str(" }");
        }
        q.push_str(&line);
        q.push('\n');
    }
    q.push('}');
    q
}

/// The cursor to continue a connection from, when GitHub says more nodes follow.
pub fn next_cursor(connection: &Value) -> Option<String> {
    let info = connection.get("pageInfo")?;
    if info.get("hasNextPage").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    info.get("endCursor")
        .and_then(Value::as_str)
        .map(String::from)
}

/// Connection `i` of an answer to [`next_pages_query`]; `None` when GitHub returned none (the
/// object vanished or the token lost access between two pages).
pub fn connection_in<'a>(answer: &'a Value, i: usize, request: &PageRequest) -> Option<&'a Value> {
    answer
        .pointer(&request.pointer(i))
        .filter(|v| v.is_object())
}

/// Append a page's nodes to the connection at `pointer` in `target` (creating `nodes` when
/// absent), and record its `pageInfo`, so the merged answer reads like one long page.
pub fn append_nodes(target: &mut Value, pointer: &str, page: &Value) {
    let Some(connection) = target.pointer_mut(pointer) else {
        return;
    };
    let new = page
        .get("nodes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    match connection.get_mut("nodes").and_then(Value::as_array_mut) {
        Some(nodes) => nodes.extend(new),
        None => connection["nodes"] = json!(new),
    }
    if let Some(info) = page.get("pageInfo") {
        connection["pageInfo"] = info.clone();
    }
}

/// GraphQL errors of an answer, as one line (empty when there are none).
pub fn errors_of(answer: &Value) -> String {
    answer
        .get("errors")
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    e.get("message")
                        .and_then(Value::as_str)
                        .map_or_else(|| e.to_string(), String::from)
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reviews(after: &str) -> PageRequest {
        PageRequest {
            parents: vec![
                format!(
                    "repository(owner: {}, name: {})",
                    literal("octo"),
                    literal("repo")
                ),
                "pullRequest(number: 7)".into(),
            ],
            on_type: None,
            field: "reviews",
            selection: "nodes { state }",
            after: after.into(),
        }
    }

    #[test]
    fn one_query_asks_each_connection_for_its_next_page() {
        let runs = PageRequest {
            parents: vec![format!("node(id: {})", literal("CS_1"))],
            on_type: Some("CheckSuite"),
            field: "checkRuns",
            selection: "nodes { name }",
            after: "Y3Vyc29y".into(),
        };
        let q = next_pages_query(&[reviews("abc\"}"), runs]);
        assert_eq!(
            q,
            "query {\n  p0: repository(owner: \"octo\", name: \"repo\") { pullRequest(number: 7) { reviews(first: 100, after: \"abc\\\"}\") { pageInfo { hasNextPage endCursor } nodes { state } } } }\n  p1: node(id: \"CS_1\") { ... on CheckSuite { checkRuns(first: 100, after: \"Y3Vyc29y\") { pageInfo { hasNextPage endCursor } nodes { name } } } }\n}"
        );
    }

    #[test]
    fn pages_are_found_followed_and_merged() {
        let answer = json!({ "data": { "p0": { "pullRequest": { "reviews": {
            "pageInfo": { "hasNextPage": true, "endCursor": "c2" },
            "nodes": [ { "state": "COMMENTED" } ]
        } } } } });
        let page = connection_in(&answer, 0, &reviews("c1")).unwrap();
        assert_eq!(next_cursor(page).as_deref(), Some("c2"));
        assert!(connection_in(&answer, 1, &reviews("c1")).is_none());

        let mut first = json!({ "data": { "repository": { "pullRequest": { "reviews": {
            "pageInfo": { "hasNextPage": true, "endCursor": "c1" },
            "nodes": [ { "state": "APPROVED" } ]
        } } } } });
        let at = "/data/repository/pullRequest/reviews";
        append_nodes(&mut first, at, page);
        let merged = first.pointer(at).unwrap();
        assert_eq!(merged["nodes"].as_array().unwrap().len(), 2);
        assert_eq!(merged["nodes"][0]["state"], "APPROVED");
        assert_eq!(next_cursor(merged).as_deref(), Some("c2"));
    }

    #[test]
    fn the_last_page_ends_the_connection() {
        assert_eq!(next_cursor(&json!({ "nodes": [] })), None);
        assert_eq!(
            next_cursor(&json!({ "pageInfo": { "hasNextPage": false, "endCursor": "z" } })),
            None
        );
        assert_eq!(
            next_cursor(&json!({ "pageInfo": { "hasNextPage": true, "endCursor": null } })),
            None
        );
    }

    #[test]
    fn errors_are_one_line() {
        assert_eq!(
            errors_of(&json!({ "errors": [ { "message": "a" }, { "message": "b" } ] })),
            "a; b"
        );
        assert_eq!(errors_of(&json!({ "data": {} })), "");
    }
}
