//! Every review rule of DESIGN §2, table-driven, against an in-memory pull request: no HTTP,
//! no git. Each row is a config, a pull request and the verdict it must get.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed run, with its location

use codereview_policy::config::{ConfigFile, ConfigSet, RawSet, Teams};
use codereview_policy::diff::{DiffLine, FileDiff, Hunk, LineKind};
use codereview_policy::report;
use codereview_policy::review::{
    CheckRun, Evaluation, LargeScaleLimits, Overall, PullRequest, Review, ReviewState, ScopeState,
    evaluate,
};

use Overall::{Failure, Pending, Success};
use ReviewState::{Approved as A, ChangesRequested as CR, Commented as C, Dismissed as D};
use ScopeState::{Approved, Pending as P, Rejected, Waived};

/// One row of the table.
#[derive(Clone)]
struct Case {
    name: &'static str,
    configs: Vec<(&'static str, &'static str)>,
    author: &'static str,
    files: Vec<FileDiff>,
    reviews: Vec<(&'static str, ReviewState)>,
    checks: Vec<(
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
    )>,
    draft: bool,
    labels: Vec<&'static str>,
    requested: Vec<&'static str>,
    teams: Option<Vec<(&'static str, Vec<&'static str>)>>,
    limits: LargeScaleLimits,
    overall: Overall,
    scopes: Vec<(&'static str, ScopeState)>,
    description: Option<&'static str>,
    to_request: Option<Vec<&'static str>>,
}

fn case(name: &'static str, config: &'static str) -> Case {
    Case {
        name,
        configs: vec![("CODEREVIEW.toml", config)],
        author: "author",
        files: vec![file("src/lib.rs")],
        reviews: vec![],
        checks: vec![],
        draft: false,
        labels: vec![],
        requested: vec![],
        teams: None,
        limits: LargeScaleLimits::default(),
        overall: Success,
        scopes: vec![],
        description: None,
        to_request: None,
    }
}

impl Case {
    fn files(mut self, paths: &[&str]) -> Self {
        self.files = paths.iter().map(|p| file(p)).collect();
        self
    }
    fn reviews(mut self, r: &[(&'static str, ReviewState)]) -> Self {
        self.reviews = r.to_vec();
        self
    }
    fn author(mut self, a: &'static str) -> Self {
        self.author = a;
        self
    }
    fn expect(mut self, overall: Overall, scopes: &[(&'static str, ScopeState)]) -> Self {
        self.overall = overall;
        self.scopes = scopes.to_vec();
        self
    }
    fn says(mut self, d: &'static str) -> Self {
        self.description = Some(d);
        self
    }
    fn requests(mut self, r: &[&'static str]) -> Self {
        self.to_request = Some(r.to_vec());
        self
    }
}

fn file(path: &str) -> FileDiff {
    FileDiff {
        path: path.to_string(),
        additions: 1,
        hunks: vec![Hunk {
            lines: vec![DiffLine {
                kind: LineKind::Added,
                line: 1,
                text: "changed".into(),
            }],
        }],
        ..FileDiff::default()
    }
}

fn diff_file(path: &str, lines: &[(LineKind, u32, &str)]) -> FileDiff {
    FileDiff {
        path: path.into(),
        additions: lines.iter().filter(|l| l.0 == LineKind::Added).count(),
        deletions: lines.iter().filter(|l| l.0 == LineKind::Removed).count(),
        hunks: vec![Hunk {
            lines: lines
                .iter()
                .map(|(kind, line, text)| DiffLine {
                    kind: *kind,
                    line: *line,
                    text: text.to_string(),
                })
                .collect(),
        }],
        ..FileDiff::default()
    }
}

fn compile(c: &Case) -> ConfigSet {
    let raw = RawSet::parse(c.configs.iter().map(|(p, t)| ConfigFile {
        path: p.to_string(),
        text: t.to_string(),
    }))
    .unwrap_or_else(|e| panic!("{}: {e}", c.name));
    let teams: Option<Teams> = c.teams.as_ref().map(|t| {
        t.iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    });
    raw.compile(teams.as_ref())
        .unwrap_or_else(|e| panic!("{}: {e}", c.name))
}

fn pull_request(c: &Case) -> PullRequest {
    PullRequest {
        number: 42,
        author: c.author.into(),
        head_sha: "head".into(),
        draft: c.draft,
        labels: c.labels.iter().map(|s| s.to_string()).collect(),
        requested_reviewers: c.requested.iter().map(|s| s.to_string()).collect(),
        reviews: c
            .reviews
            .iter()
            .enumerate()
            .map(|(i, (user, state))| Review {
                user: user.to_string(),
                state: *state,
                commit: None,
                submitted_at: Some(format!("2026-01-01T00:00:{i:02}Z")),
                body: String::new(),
            })
            .collect(),
        check_runs: c
            .checks
            .iter()
            .map(|(app, name, status, conclusion)| CheckRun {
                app: app.to_string(),
                name: name.to_string(),
                status: status.to_string(),
                conclusion: conclusion.map(String::from),
            })
            .collect(),
        files: c.files.clone(),
        reviewer_facts: Default::default(),
    }
}

fn run(c: &Case) -> Evaluation {
    evaluate(&compile(c), &pull_request(c), c.limits).unwrap_or_else(|e| panic!("{}: {e}", c.name))
}

const ONE: &str = "[[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nreviewers = [\"alice\", \"bob\"]\nrequire = 1\n";
const TWO: &str = "[[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nreviewers = [\"alice\", \"bob\", \"carol\"]\nrequire = 2\n";
const GLOBAL: &str = "[[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nreviewers = [\"alice\"]\nrequire = 1\n\n[[scopes]]\nname = \"leads\"\npaths = [\"**\"]\nreviewers = [\"lead\"]\nrequire = 1\nownership = \"global\"\n";
const APPEND: &str = "[[scopes]]\nname = \"security\"\npaths = [\"src/**\"]\nreviewers = [\"sec\"]\nrequire = 1\nownership = \"append\"\n\n[[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nreviewers = [\"alice\"]\nrequire = 1\n";
const UNLESS: &str = "[[scopes]]\nname = \"deps\"\npaths = [\"src/**\"]\nreviewers = [\"alice\"]\nrequire = 1\nunless = [\"bot-app/safe\", \"ci/tests\"]\n";
const AUTHOR_VALUE: &str = "[[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nreviewers = [\"author\", \"alice\"]\nrequire = 1\nauthor_value = 1\n";
const LSC: &str = "[large_scale_change]\nreviewers = [\"lead\"]\nrequire = 1\nlabels = [\"large\"]\n\n[[scopes]]\nname = \"all\"\npaths = [\"**\"]\nreviewers = [\"alice\"]\nrequire = 1\n";
const CODE: &str = "[[scopes]]\nname = \"all\"\npaths = [\"**\"]\nreviewers = [\"alice\"]\nrequire = 1\n\n[[scopes]]\nname = \"sql\"\npaths = [\"**/*.sql\"]\ncode = [\"^[+-].*DROP TABLE\"]\nreviewers = [\"dba\"]\nrequire = 1\n";
const REQUEST: &str = "[[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nreviewers = [\"alice\", \"bob\", \"carol\", \"author\"]\nalternates = [\"dave\"]\nrequire = 1\nrequest = 2\n\n[[scopes]]\nname = \"api\"\npaths = [\"src/api/**\"]\nreviewers = [\"bob\", \"erin\"]\nownership = \"append\"\nrequire = 1\nrequest = 1\ncc = [\"frank\"]\n";

fn cases() -> Vec<Case> {
    let many: Vec<String> = (0..301).map(|i| format!("f{i}.txt")).collect();
    let many: Vec<&'static str> = many
        .into_iter()
        .map(|s| &*Box::leak(s.into_boxed_str()))
        .collect();
    let big = |n: usize| {
        let mut f = file("big.txt");
        f.additions = n;
        f
    };
    vec![
        // Matching and "nothing to review".
        case("no scope matches: success", ONE).files(&["docs/a.md"]).expect(Success, &[]).says("No review scopes matched"),
        case("empty config: success", "").expect(Success, &[]),
        case("require 0 approves immediately", "[[scopes]]\nname = \"x\"\npaths = [\"**\"]\n").expect(Success, &[("x", Approved)]),
        case("unowned files do not block", ONE).files(&["src/a.rs", "docs/a.md"]).reviews(&[("alice", A)]).expect(Success, &[("backend", Approved)]),
        // Points.
        case("no reviews: pending", ONE).expect(Pending, &[("backend", P)]).says("1 scope pending: backend needs 1 more (alice, bob)"),
        case("listed reviewer approves", ONE).reviews(&[("alice", A)]).expect(Success, &[("backend", Approved)]).says("1 scope approved"),
        case("logins compare case-insensitively", ONE).reviews(&[("ALICE", A)]).expect(Success, &[("backend", Approved)]),
        case("unlisted approval does not count", ONE).reviews(&[("mallory", A)]).expect(Pending, &[("backend", P)]),
        case("require 2, one approval", TWO).reviews(&[("alice", A)]).expect(Pending, &[("backend", P)]).says("1 scope pending: backend needs 1 more (bob, carol)"),
        case("require 2, two approvals", TWO).reviews(&[("alice", A), ("carol", A)]).expect(Success, &[("backend", Approved)]),
        case("the same person twice counts once", TWO).reviews(&[("alice", A), ("alice", A)]).expect(Pending, &[("backend", P)]),
        // Latest review per person.
        case("approve then request changes: rejected", ONE).reviews(&[("alice", A), ("alice", CR)]).expect(Failure, &[("backend", Rejected)]).says("1 scope rejected: backend has changes requested by alice"),
        case("request changes then approve: approved", ONE).reviews(&[("alice", CR), ("alice", A)]).expect(Success, &[("backend", Approved)]),
        case("a later comment keeps the approval", ONE).reviews(&[("alice", A), ("alice", C)]).expect(Success, &[("backend", Approved)]),
        case("a dismissed approval does not count", ONE).reviews(&[("alice", A), ("alice", D)]).expect(Pending, &[("backend", P)]),
        case("a dismissed change request no longer rejects", ONE).reviews(&[("bob", CR), ("bob", D), ("alice", A)]).expect(Success, &[("backend", Approved)]),
        case("change request from someone who does not count is ignored", ONE).reviews(&[("alice", A), ("mallory", CR)]).expect(Success, &[("backend", Approved)]),
        case("a change request blocks despite enough approvals", ONE).reviews(&[("alice", A), ("bob", CR)]).expect(Failure, &[("backend", Rejected)]),
        // Bots, author, author_value, alternates, wildcard.
        case("bots never count, even for \"*\"", "[[scopes]]\nname = \"x\"\npaths = [\"**\"]\nreviewers = [\"*\"]\nrequire = 1\n").reviews(&[("renovate[bot]", A)]).expect(Pending, &[("x", P)]).says("1 scope pending: x needs 1 more (anyone)"),
        case("wildcard: anyone approves", "[[scopes]]\nname = \"x\"\npaths = [\"**\"]\nreviewers = [\"*\"]\nrequire = 1\n").reviews(&[("zed", A)]).expect(Success, &[("x", Approved)]),
        case("the author's own approval does not count", ONE).author("alice").reviews(&[("alice", A)]).expect(Pending, &[("backend", P)]).says("1 scope pending: backend needs 1 more (bob)"),
        case("author_value counts the author when listed", AUTHOR_VALUE).expect(Success, &[("backend", Approved)]),
        case("author_value does not count an unlisted author", AUTHOR_VALUE).author("zed").expect(Pending, &[("backend", P)]),
        case("alternates count toward approval", "[[scopes]]\nname = \"x\"\npaths = [\"**\"]\nreviewers = [\"alice\"]\nalternates = [\"bob\"]\nrequire = 1\n").reviews(&[("bob", A)]).expect(Success, &[("x", Approved)]),
        case("a scope only the author could approve says so", "[[scopes]]\nname = \"x\"\npaths = [\"**\"]\nreviewers = [\"author\"]\nrequire = 1\n").expect(Pending, &[("x", P)]).says("1 scope pending: x needs 1 more (nobody) — PR author is the only reviewer/alternate and cannot self-approve"),
        // Ownership.
        case("last primary scope owns the file", "[[scopes]]\nname = \"first\"\npaths = [\"**\"]\nreviewers = [\"alice\"]\nrequire = 1\n\n[[scopes]]\nname = \"second\"\npaths = [\"src/**\"]\nreviewers = [\"bob\"]\nrequire = 1\n").reviews(&[("bob", A)]).expect(Success, &[("second", Approved)]),
        case("approved global approves the file", GLOBAL).reviews(&[("lead", A)]).expect(Success, &[("backend", P), ("leads", Approved)]).says("1 scope approved, 1 pending (every file approved)"),
        case("pending global, approved primary: approved", GLOBAL).reviews(&[("alice", A)]).expect(Success, &[("backend", Approved), ("leads", P)]),
        case("rejected global rejects", GLOBAL).reviews(&[("alice", A), ("lead", CR)]).expect(Failure, &[("backend", Approved), ("leads", Rejected)]),
        case("global alone on a file needs its own approval", GLOBAL).files(&["README.md"]).expect(Pending, &[("leads", P)]),
        case("append and primary: both needed", APPEND).reviews(&[("alice", A)]).expect(Pending, &[("security", P), ("backend", Approved)]),
        case("append and primary both approved", APPEND).reviews(&[("alice", A), ("sec", A)]).expect(Success, &[("security", Approved), ("backend", Approved)]),
        case("nested config replaces its parent", ONE).files(&["web/app.js"]).expect(Pending, &[("web", P)]),
        // unless.
        case("all unless checks succeeded: waived", UNLESS).expect(Success, &[("deps", Waived)]).says("1 scope waived"),
        case("one unless check missing: pending", UNLESS).expect(Pending, &[("deps", P)]),
        case("a failed unless check does not waive", UNLESS).expect(Pending, &[("deps", P)]),
        case("an unfinished unless check does not waive", UNLESS).expect(Pending, &[("deps", P)]),
        case("unless needs the right producer", UNLESS).expect(Pending, &[("deps", P)]),
        // Draft.
        case("a draft is pending even when approved", ONE).reviews(&[("alice", A)]).expect(Pending, &[("backend", Approved)]).says("Draft is not ready for review"),
        // Large-scale change.
        case("over 300 files: one large-scale scope", LSC).files(&many).expect(Pending, &[("Large-scale change", P)]).says("Large-scale change: 1 scope pending: Large-scale change needs 1 more (lead)"),
        case("over 3000 lines: large-scale", LSC).reviews(&[("lead", A)]).expect(Success, &[("Large-scale change", Approved)]),
        case("limits can be raised", LSC).files(&many).reviews(&[("alice", A)]).expect(Success, &[("all", Approved)]),
        // authors.
        case("authors: scope applies to listed authors", "[[scopes]]\nname = \"deps\"\npaths = [\"**\"]\nauthors = [\"dependabot[bot]\"]\nreviewers = [\"alice\"]\nrequire = 1\n").author("dependabot[bot]").expect(Pending, &[("deps", P)]),
        case("authors: other authors skip the scope", "[[scopes]]\nname = \"deps\"\npaths = [\"**\"]\nauthors = [\"dependabot[bot]\"]\nreviewers = [\"alice\"]\nrequire = 1\n").expect(Success, &[]),
        case("authors: !name excludes", "[[scopes]]\nname = \"x\"\npaths = [\"**\"]\nauthors = [\"!intern\"]\nreviewers = [\"alice\"]\nrequire = 1\n").author("intern").expect(Success, &[]),
        // Teams.
        case("team members count", "[[scopes]]\nname = \"core\"\npaths = [\"**\"]\nreviewers = [\"@org/core\"]\nrequire = 1\n").reviews(&[("carol", A)]).expect(Success, &[("core", Approved)]),
        case("team with a member removed", "[[scopes]]\nname = \"core\"\npaths = [\"**\"]\nreviewers = [\"@org/core\", \"!carol\"]\nrequire = 1\n").reviews(&[("carol", A)]).expect(Pending, &[("core", P)]).says("1 scope pending: core needs 1 more (erin)"),
        // Code scopes.
        case("code scope owns only matching lines", CODE).expect(Pending, &[("all", P)]),
        case("code scope joins the owners of a matching file", CODE).reviews(&[("alice", A)]).expect(Pending, &[("all", Approved), ("sql", P)]),
        case("code scope approved with the file's scope", CODE).reviews(&[("alice", A), ("dba", A)]).expect(Success, &[("all", Approved), ("sql", Approved)]),
        // Requests.
        case("request: deterministic, skips author and alternates", REQUEST).files(&["src/a.rs"]).expect(Pending, &[("backend", P)]).requests(&["bob", "alice"]),
        case("request counts people already requested", REQUEST).files(&["src/a.rs"]).expect(Pending, &[("backend", P)]).requests(&["bob"]),
        case("request counts earlier scopes' picks and adds cc", REQUEST).files(&["src/api/x.rs"]).expect(Pending, &[("backend", P), ("api", P)]).requests(&["bob", "alice", "frank"]),
        case("approved scopes request nobody", REQUEST).files(&["src/a.rs"]).reviews(&[("carol", A)]).expect(Success, &[("backend", Approved)]).requests(&[]),
    ]
    .into_iter()
    .map(|mut c| {
        // Per-row setup that the builder above does not express.
        match c.name {
            "nested config replaces its parent" => {
                c.configs.push(("web/CODEREVIEW.toml", "[[scopes]]\nname = \"web\"\npaths = [\"**\"]\nreviewers = [\"wendy\"]\nrequire = 1\n"));
            }
            "all unless checks succeeded: waived" => {
                c.checks = vec![("bot-app", "safe", "completed", Some("success")), ("ci", "tests", "completed", Some("success"))];
            }
            "one unless check missing: pending" => c.checks = vec![("bot-app", "safe", "completed", Some("success"))],
            "a failed unless check does not waive" => {
                c.checks = vec![("bot-app", "safe", "completed", Some("success")), ("ci", "tests", "completed", Some("failure"))];
            }
            "an unfinished unless check does not waive" => {
                c.checks = vec![("bot-app", "safe", "completed", Some("success")), ("ci", "tests", "in_progress", None)];
            }
            "unless needs the right producer" => {
                c.checks = vec![("bot-app", "safe", "completed", Some("success")), ("other", "tests", "completed", Some("success"))];
            }
            "a draft is pending even when approved" => c.draft = true,
            "over 3000 lines: large-scale" => c.files = vec![big(3001)],
            "limits can be raised" => c.limits = LargeScaleLimits { max_files: 1000, max_lines: 3000 },
            "team members count" | "team with a member removed" => {
                c.teams = Some(vec![("org/core", vec!["carol", "erin"])]);
            }
            "code scope owns only matching lines" => {
                c.files = vec![diff_file("db/m.sql", &[(LineKind::Added, 3, "ALTER TABLE x")])];
            }
            "code scope joins the owners of a matching file" | "code scope approved with the file's scope" => {
                c.files = vec![diff_file("db/m.sql", &[(LineKind::Context, 2, "-- x"), (LineKind::Removed, 3, "DROP TABLE users;")])];
            }
            "request counts people already requested" => c.requested = vec!["carol"],
            _ => {}
        }
        c
    })
    .collect()
}

#[test]
fn review_rules_table() {
    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let e = run(c);
        let got: Vec<(String, ScopeState)> =
            e.scopes.iter().map(|s| (s.name.clone(), s.state)).collect();
        let want: Vec<(String, ScopeState)> =
            c.scopes.iter().map(|(n, s)| (n.to_string(), *s)).collect();
        if e.overall != c.overall || got != want {
            failures.push(format!(
                "{}: got {:?} {got:?}, want {:?} {want:?}",
                c.name, e.overall, c.overall
            ));
            continue;
        }
        let description = report::description(&e);
        assert!(
            description.chars().count() <= 140,
            "{}: {description}",
            c.name
        );
        if let Some(d) = c.description
            && description != d
        {
            failures.push(format!(
                "{}: description {description:?}, want {d:?}",
                c.name
            ));
        }
        if let Some(r) = &c.to_request
            && e.to_request != *r
        {
            failures.push(format!(
                "{}: requested {:?}, want {r:?}",
                c.name, e.to_request
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn requests_are_stable_and_depend_on_the_pull_request_number() {
    let config = "[[scopes]]\nname = \"x\"\npaths = [\"**\"]\nreviewers = [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\", \"h\"]\nrequire = 1\nrequest = 1\n";
    let c = case("seeded", config);
    let set = compile(&c);
    let mut picks = std::collections::BTreeSet::new();
    for number in 1..40 {
        let mut pr = pull_request(&c);
        pr.number = number;
        let first = evaluate(&set, &pr, LargeScaleLimits::default())
            .unwrap()
            .to_request;
        let again = evaluate(&set, &pr, LargeScaleLimits::default())
            .unwrap()
            .to_request;
        assert_eq!(first, again, "same PR, same pick");
        assert_eq!(first.len(), 1);
        picks.insert(first[0].clone());
    }
    assert!(picks.len() > 3, "picks spread over reviewers: {picks:?}");
}

#[test]
fn scope_labels_are_added_and_stale_ones_removed() {
    let config = "[[scopes]]\nname = \"backend\"\npaths = [\"src/**\"]\nlabels = [\"backend\"]\n\n[[scopes]]\nname = \"docs\"\npaths = [\"docs/**\"]\nlabels = [\"docs\"]\n";
    let mut c = case("labels", config);
    c.labels = vec!["docs", "keep-me"];
    let e = run(&c);
    assert_eq!(e.labels_to_add, ["backend"]);
    assert_eq!(e.labels_to_remove, ["docs"]);
}

#[test]
fn large_scale_change_without_reviewers_is_an_error() {
    let mut c = case("lsc", ONE);
    c.files = vec![file("a"); 301];
    let err = evaluate(&compile(&c), &pull_request(&c), c.limits).unwrap_err();
    assert_eq!(
        err.0,
        "Large-scale change: configuration required (no reviewers defined)"
    );
}

#[test]
fn descriptions_stay_within_140_characters() {
    let mut config = String::new();
    for i in 0..30 {
        config.push_str(&format!(
            "[[scopes]]\nname = \"scope-with-a-long-name-{i}\"\npaths = [\"**\"]\nreviewers = [\"reviewer-{i}-a\", \"reviewer-{i}-b\"]\nrequire = 1\nownership = \"append\"\n\n"
        ));
    }
    let config: &'static str = Box::leak(config.into_boxed_str());
    let e = run(&case("long", config));
    let d = report::description(&e);
    assert_eq!(d.chars().count(), 140, "{d}");
    assert!(d.ends_with('…'));
    assert!(d.starts_with(
        "30 scopes pending: scope-with-a-long-name-0 needs 1 more (reviewer-0-a, reviewer-0-b)"
    ));
}
