//! Every validation error the engine can produce, one table row each, with the exact file, line,
//! column, scope and message a user would see from `codereview check`.
//!
//! DESIGN §2: "Every error names file, line and column, and the scope." The rows below pin that
//! promise down: a regression in a span (an error pointing at the wrong line) or a message fails
//! here. The second half runs the real binary in throwaway git repositories to check what reaches
//! the terminal and the exit codes of §3.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed run, with its location

use codereview_policy::config::{ConfigError, ConfigFile, RawSet, Teams};
use std::path::Path;
use std::process::{Command, Output};

/// How a row's message is compared.
#[derive(Debug, Clone, Copy)]
enum Msg {
    /// The whole message.
    Exact(&'static str),
    /// A substring, for messages that quote a third-party parser verbatim.
    Contains(&'static str),
}

/// One invalid configuration and the single error it must produce.
struct Case {
    /// What is wrong, in words.
    what: &'static str,
    /// The repository's config files.
    files: &'static [(&'static str, &'static str)],
    /// Team memberships, when the compile knows them (CI mode); `None` is the offline `check`.
    teams: Option<&'static [(&'static str, &'static [&'static str])]>,
    file: &'static str,
    line: usize,
    column: usize,
    scope: Option<&'static str>,
    message: Msg,
}

const ROOT: &str = "CODEREVIEW.toml";

use Msg::{Contains, Exact};

/// One row per error the engine can produce (several for errors reachable in more than one way:
/// directly, through an alias, in `large_scale_change`).
const CASES: &[Case] = &[
    // ----- TOML syntax and types (reported by the deserializer) -----
    Case {
        what: "TOML syntax: unclosed array",
        files: &[(ROOT, "[[scopes]]\nname = \"a\"\npaths = [\"x\"\n")],
        teams: None,
        file: ROOT,
        line: 3,
        column: 13,
        scope: None,
        message: Exact("unclosed array, expected `]`"),
    },
    Case {
        what: "TOML syntax: a key written twice",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\npaths = [\"y\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 1,
        scope: None,
        message: Contains("duplicate key"),
    },
    Case {
        what: "TOML 1.1 only: \\e escape",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\ndescription = \"a\\e\"\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 17,
        scope: Some("a"),
        message: Exact(
            "invalid escape sequence '\\e' (TOML 1.0, which PullApprove reads, has no such escape)",
        ),
    },
    Case {
        what: "TOML 1.1 only: trailing comma in an inline table",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nchecklist = { items = [{ label = \"x\" }], }\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 40,
        scope: Some("a"),
        message: Contains("trailing comma in an inline table"),
    },
    Case {
        what: "TOML 1.1 only: newline inside an inline table",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nchecklist = { items = [{ label = \"x\" }]\n}\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 40,
        scope: Some("a"),
        message: Contains("newline inside an inline table"),
    },
    Case {
        what: "wrong type: paths is a string",
        files: &[(ROOT, "[[scopes]]\nname = \"a\"\npaths = \"src/**\"\n")],
        teams: None,
        file: ROOT,
        line: 3,
        column: 9,
        scope: Some("a"),
        message: Exact("invalid type: string \"src/**\", expected an array"),
    },
    Case {
        what: "wrong type: require is a string",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nrequire = \"1\"\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 11,
        scope: Some("a"),
        message: Exact("invalid type: string \"1\", expected an integer"),
    },
    Case {
        what: "wrong type: require is a float",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nrequire = 1.5\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 11,
        scope: Some("a"),
        message: Exact("invalid type: float `1.5`, expected an integer"),
    },
    Case {
        what: "wrong type: a path is a number (second scope is named)",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\n\n[[scopes]]\nname = \"b\"\npaths = [\"y\", 1]\n",
        )],
        teams: None,
        file: ROOT,
        line: 7,
        column: 15,
        scope: Some("b"),
        message: Exact("invalid type: integer `1`, expected a string"),
    },
    Case {
        what: "wrong type: template is a string",
        files: &[(ROOT, "template = \"yes\"\n")],
        teams: None,
        file: ROOT,
        line: 1,
        column: 12,
        scope: None,
        message: Exact("invalid type: string \"yes\", expected a boolean"),
    },
    Case {
        what: "wrong type: scopes holds strings",
        files: &[(ROOT, "scopes = [\"backend\"]\n")],
        teams: None,
        file: ROOT,
        line: 1,
        column: 11,
        scope: None,
        message: Exact("invalid type: string \"backend\", expected a table"),
    },
    Case {
        what: "wrong type: aliases is an array",
        files: &[(ROOT, "aliases = [\"alice\"]\n")],
        teams: None,
        file: ROOT,
        line: 1,
        column: 11,
        scope: None,
        message: Exact("invalid type: array, expected a table"),
    },
    Case {
        what: "wrong type: an alias is a string",
        files: &[(ROOT, "[aliases]\nteam = \"alice\"\n")],
        teams: None,
        file: ROOT,
        line: 2,
        column: 8,
        scope: None,
        message: Exact("invalid type: string \"alice\", expected an array"),
    },
    Case {
        what: "wrong type: checklist is an array",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nchecklist = []\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 13,
        scope: Some("a"),
        message: Exact("invalid type: array, expected a table"),
    },
    Case {
        what: "wrong type: checklist item required is a string",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nchecklist.items = [{ label = \"Tests\", required = \"yes\" }]\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 50,
        scope: Some("a"),
        message: Exact("invalid type: string \"yes\", expected a boolean"),
    },
    // ----- unknown keys -----
    Case {
        what: "unknown key at top level",
        files: &[(ROOT, "version = 2\n")],
        teams: None,
        file: ROOT,
        line: 1,
        column: 1,
        scope: None,
        message: Exact(
            "unknown field `version`, expected one of `extends`, `template`, `aliases`, `large_scale_change`, `scopes`",
        ),
    },
    Case {
        what: "unknown key in a scope",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nreviewer = [\"alice\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 1,
        scope: Some("a"),
        message: Exact(
            "unknown field `reviewer`, expected one of `name`, `paths`, `code`, `authors`, `description`, `reviewers`, `alternates`, `cc`, `require`, `author_value`, `unless`, `ownership`, `request`, `labels`, `instructions`, `checklist`",
        ),
    },
    Case {
        what: "unknown key in an inline scope",
        files: &[(
            ROOT,
            "scopes = [{ name = \"a\", paths = [\"x\"] }, { name = \"b\", paths = [\"y\"], owner = \"x\" }]\n",
        )],
        teams: None,
        file: ROOT,
        line: 1,
        column: 71,
        scope: Some("b"),
        message: Contains("unknown field `owner`, expected one of `name`, `paths`"),
    },
    Case {
        what: "unknown key in large_scale_change",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\n\n[large_scale_change]\nmin_paths = 300\n",
        )],
        teams: None,
        file: ROOT,
        line: 6,
        column: 1,
        scope: None,
        message: Exact(
            "unknown field `min_paths`, expected one of `require`, `request`, `reviewers`, `alternates`, `labels`",
        ),
    },
    Case {
        what: "unknown key in a checklist item",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\n\n[scopes.checklist]\nitems = [{ label = \"Tests\", checked = true }]\n",
        )],
        teams: None,
        file: ROOT,
        line: 6,
        column: 29,
        scope: Some("a"),
        message: Exact(
            "unknown field `checked`, expected one of `label`, `required`, `notes`, `help`",
        ),
    },
    Case {
        what: "unknown key in a checklist",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nchecklist = { items = [{ label = \"Tests\" }], title = \"x\" }\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 46,
        scope: Some("a"),
        message: Exact("unknown field `title`, expected `items`"),
    },
    // ----- required keys, names -----
    Case {
        what: "missing name",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\n\n[[scopes]]\npaths = [\"y\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 5,
        column: 1,
        scope: None,
        message: Exact("missing field `name`"),
    },
    Case {
        what: "missing paths",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"docs\"\nreviewers = [\"alice\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 1,
        column: 1,
        scope: Some("docs"),
        message: Exact("missing field `paths`"),
    },
    Case {
        what: "missing checklist items",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nchecklist = {}\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 13,
        scope: Some("a"),
        message: Exact("missing field `items`"),
    },
    Case {
        what: "empty name",
        files: &[(ROOT, "[[scopes]]\nname = \"\"\npaths = [\"x\"]\n")],
        teams: None,
        file: ROOT,
        line: 2,
        column: 8,
        scope: None,
        message: Exact("Scope name must not be empty"),
    },
    Case {
        what: "comma in name",
        files: &[(ROOT, "[[scopes]]\nname = \"api,web\"\npaths = [\"x\"]\n")],
        teams: None,
        file: ROOT,
        line: 2,
        column: 8,
        scope: Some("api,web"),
        message: Exact("Scope name cannot contain commas"),
    },
    Case {
        what: "empty paths",
        files: &[(ROOT, "[[scopes]]\nname = \"a\"\npaths = []\n")],
        teams: None,
        file: ROOT,
        line: 3,
        column: 9,
        scope: Some("a"),
        message: Exact("paths needs at least one pattern"),
    },
    Case {
        what: "duplicate scope name in one file, case-insensitively",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"api\"\npaths = [\"x\"]\n\n[[scopes]]\nname = \"API\"\npaths = [\"y\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 6,
        column: 8,
        scope: Some("API"),
        message: Exact("Duplicate scope name: API"),
    },
    Case {
        what: "duplicate scope name between a parent and its child",
        files: &[
            (
                "CODEREVIEW-base.toml",
                "template = true\n\n[[scopes]]\nname = \"docs\"\npaths = [\"**/*.md\"]\n",
            ),
            (
                ROOT,
                "extends = [\"CODEREVIEW-base.toml\"]\n\n[[scopes]]\nname = \"Docs\"\npaths = [\"docs/**\"]\n",
            ),
        ],
        teams: None,
        file: ROOT,
        line: 4,
        column: 8,
        scope: Some("Docs"),
        message: Exact("Duplicate scope name: Docs"),
    },
    // ----- extends -----
    Case {
        what: "extends names a file that is not a config",
        files: &[(ROOT, "extends = [\"base.toml\"]\n")],
        teams: None,
        file: ROOT,
        line: 1,
        column: 12,
        scope: None,
        message: Exact("Invalid extends path: base.toml. It should start with 'CODEREVIEW'."),
    },
    Case {
        what: "extends cycle (the message names the cycle)",
        files: &[
            (ROOT, "extends = [\"CODEREVIEW-a.toml\"]\n"),
            (
                "CODEREVIEW-a.toml",
                "template = true\nextends = [\"/CODEREVIEW.toml\"]\n",
            ),
        ],
        teams: None,
        file: "CODEREVIEW-a.toml",
        line: 2,
        column: 12,
        scope: None,
        message: Exact(
            "Circular reference detected in extends: CODEREVIEW.toml -> CODEREVIEW-a.toml -> CODEREVIEW.toml",
        ),
    },
    Case {
        what: "extends above the repository root",
        files: &[
            (ROOT, ""),
            (
                "api/CODEREVIEW.toml",
                "extends = [\"../../CODEREVIEW-base.toml\"]\n",
            ),
        ],
        teams: None,
        file: "api/CODEREVIEW.toml",
        line: 1,
        column: 12,
        scope: None,
        message: Exact(
            "Invalid extends path: '../../CODEREVIEW-base.toml' points above the repo root",
        ),
    },
    Case {
        what: "extends target missing",
        files: &[
            (ROOT, ""),
            (
                "api/CODEREVIEW.toml",
                "\nextends = [\"CODEREVIEW-base.toml\"]\n",
            ),
        ],
        teams: None,
        file: "api/CODEREVIEW.toml",
        line: 2,
        column: 12,
        scope: None,
        message: Exact(
            "Config not found: 'CODEREVIEW-base.toml' (resolved to 'api/CODEREVIEW-base.toml')",
        ),
    },
    // ----- aliases and teams -----
    Case {
        what: "unknown alias",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nreviewers = [\"alice\", \"$backend\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 23,
        scope: Some("a"),
        message: Exact("Unknown alias: $backend"),
    },
    Case {
        what: "unknown negated alias",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"**/*\", \"!$generated\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 3,
        column: 18,
        scope: Some("a"),
        message: Exact("Unknown alias: !$generated"),
    },
    Case {
        what: "unknown alias in large_scale_change",
        files: &[(ROOT, "[large_scale_change]\nreviewers = [\"$leads\"]\n")],
        teams: None,
        file: ROOT,
        line: 2,
        column: 14,
        scope: None,
        message: Exact("Unknown alias: $leads"),
    },
    Case {
        what: "alias cycle",
        files: &[(
            ROOT,
            "[aliases]\na = [\"alice\", \"$b\"]\nb = [\"$a\"]\n\n[[scopes]]\nname = \"s\"\npaths = [\"x\"]\nreviewers = [\"$a\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 8,
        column: 14,
        scope: Some("s"),
        message: Exact("Circular reference detected in aliases: a -> b -> a"),
    },
    Case {
        what: "unknown team when the team map is known",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nreviewers = [\"@acme/core\", \"@acme/web\"]\n",
        )],
        teams: Some(&[("acme/core", &["alice"])]),
        file: ROOT,
        line: 4,
        column: 28,
        scope: Some("a"),
        message: Exact("Unknown team: @acme/web"),
    },
    Case {
        what: "unknown negated team when the team map is known",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\ncc = [\"!@acme/interns\"]\n",
        )],
        teams: Some(&[]),
        file: ROOT,
        line: 4,
        column: 7,
        scope: Some("a"),
        message: Exact("Unknown team: !@acme/interns"),
    },
    // ----- wildcards -----
    Case {
        what: "\"*\" in alternates",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nalternates = [\"*\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 15,
        scope: Some("a"),
        message: Exact(
            "\"*\" is not supported in alternates — add it to reviewers instead (wildcard reviewers are never auto-requested)",
        ),
    },
    Case {
        what: "\"*\" in authors",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nauthors = [\"*\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 12,
        scope: Some("a"),
        message: Exact(
            "\"*\" is not supported in authors — remove it (a scope with no authors applies to any author)",
        ),
    },
    Case {
        what: "\"*\" in cc, through an alias",
        files: &[(
            ROOT,
            "[aliases]\neveryone = [\"*\"]\n\n[[scopes]]\nname = \"a\"\npaths = [\"x\"]\ncc = [\"$everyone\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 7,
        column: 7,
        scope: Some("a"),
        message: Exact("\"*\" is not supported in cc — remove it"),
    },
    Case {
        what: "\"*\" in large_scale_change alternates",
        files: &[(ROOT, "[large_scale_change]\nalternates = [\"*\"]\n")],
        teams: None,
        file: ROOT,
        line: 2,
        column: 15,
        scope: None,
        message: Contains("large_scale_change: \"*\" is not supported in alternates"),
    },
    Case {
        what: "wildcard combined with a negation",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nreviewers = [\"*\", \"!mallory\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 19,
        scope: Some("a"),
        message: Exact(
            "Negation cannot be combined with \"*\" in reviewers/alternates/cc (wildcard exclusion is not supported)",
        ),
    },
    Case {
        what: "wildcard combined with a negation in large_scale_change",
        files: &[(
            ROOT,
            "[large_scale_change]\nreviewers = [\"*\", \"!@acme/bots\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 2,
        column: 19,
        scope: None,
        message: Contains("Negation cannot be combined with \"*\""),
    },
    // ----- bots -----
    Case {
        what: "bot in reviewers",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nreviewers = [\"alice\", \"renovate[bot]\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 23,
        scope: Some("a"),
        message: Exact("reviewers: 'renovate[bot]' is a bot and cannot be listed as a reviewer"),
    },
    Case {
        what: "bot in alternates, through an alias",
        files: &[(
            ROOT,
            "[aliases]\nhelpers = [\"bob\", \"Dependabot[Bot]\"]\n\n[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nalternates = [\"$helpers\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 7,
        column: 15,
        scope: Some("a"),
        message: Exact("alternates: 'Dependabot[Bot]' is a bot and cannot be listed as a reviewer"),
    },
    Case {
        what: "bot in cc",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\ncc = [\"ci[bot]\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 7,
        scope: Some("a"),
        message: Exact("cc: 'ci[bot]' is a bot and cannot be listed as a reviewer"),
    },
    Case {
        what: "bot in large_scale_change reviewers",
        files: &[(ROOT, "[large_scale_change]\nreviewers = [\"ci[bot]\"]\n")],
        teams: None,
        file: ROOT,
        line: 2,
        column: 14,
        scope: None,
        message: Exact(
            "large_scale_change reviewers: 'ci[bot]' is a bot and cannot be listed as a reviewer",
        ),
    },
    Case {
        what: "bot in large_scale_change alternates",
        files: &[(ROOT, "[large_scale_change]\nalternates = [\"ci[bot]\"]\n")],
        teams: None,
        file: ROOT,
        line: 2,
        column: 15,
        scope: None,
        message: Exact(
            "large_scale_change alternates: 'ci[bot]' is a bot and cannot be listed as a reviewer",
        ),
    },
    // ----- counts -----
    Case {
        what: "negative require",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nrequire = -1\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 11,
        scope: Some("a"),
        message: Exact("require cannot be negative"),
    },
    Case {
        what: "negative request",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nrequest = -2\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 11,
        scope: Some("a"),
        message: Exact("request cannot be negative"),
    },
    Case {
        what: "negative author_value",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nauthor_value = -1\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 16,
        scope: Some("a"),
        message: Exact("author_value cannot be negative"),
    },
    Case {
        what: "negative large_scale_change require",
        files: &[(ROOT, "[large_scale_change]\nrequire = -1\n")],
        teams: None,
        file: ROOT,
        line: 2,
        column: 11,
        scope: None,
        message: Exact("large_scale_change: require cannot be negative"),
    },
    Case {
        what: "negative large_scale_change request",
        files: &[(ROOT, "[large_scale_change]\nrequest = -1\n")],
        teams: None,
        file: ROOT,
        line: 2,
        column: 11,
        scope: None,
        message: Exact("large_scale_change: request cannot be negative"),
    },
    Case {
        what: "global scope with the default require 0",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"security\"\npaths = [\"**/*\"]\nownership = \"global\"\nreviewers = [\"alice\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 13,
        scope: Some("security"),
        message: Exact("global scopes need require >= 1 (0 would pass every file it matches)"),
    },
    Case {
        what: "require larger than the reviewers listed",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nrequire = 3\nreviewers = [\"alice\"]\nalternates = [\"bob\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 11,
        scope: Some("a"),
        message: Exact("has require=3 but only 2 reviewers/alternates specified"),
    },
    Case {
        what: "require larger than the reviewers after alias expansion and negation",
        files: &[(
            ROOT,
            "[aliases]\nleads = [\"alice\", \"bob\"]\n\n[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nrequire = 2\nreviewers = [\"$leads\", \"!bob\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 7,
        column: 11,
        scope: Some("a"),
        message: Exact("has require=2 but only 1 reviewers/alternates specified"),
    },
    Case {
        what: "require larger than the team's members when teams are known",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nrequire = 2\nreviewers = [\"@acme/core\"]\n",
        )],
        teams: Some(&[("ACME/Core", &["alice"])]),
        file: ROOT,
        line: 4,
        column: 11,
        scope: Some("a"),
        message: Exact("has require=2 but only 1 reviewers/alternates specified"),
    },
    // ----- user list shapes -----
    Case {
        what: "email in reviewers",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nreviewers = [\"alice@example.com\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 14,
        scope: Some("a"),
        message: Exact(
            "Invalid value 'alice@example.com': email addresses are not supported here — use the platform username",
        ),
    },
    Case {
        what: "email in authors, through an alias",
        files: &[(
            ROOT,
            "[aliases]\nvendors = [\"ops@vendor.io\"]\n\n[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nauthors = [\"$vendors\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 7,
        column: 12,
        scope: Some("a"),
        message: Contains("Invalid value 'ops@vendor.io': email addresses are not supported"),
    },
    Case {
        what: "email in large_scale_change reviewers",
        files: &[(ROOT, "[large_scale_change]\nreviewers = [\"a@b.c\"]\n")],
        teams: None,
        file: ROOT,
        line: 2,
        column: 14,
        scope: None,
        message: Contains("Invalid value 'a@b.c': email addresses are not supported"),
    },
    Case {
        what: "team reference without a team",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\ncc = [\"@acme\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 7,
        scope: Some("a"),
        message: Exact("Invalid team reference '@acme': team references need the 'org/team' form"),
    },
    Case {
        what: "negated team reference with an empty segment",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nalternates = [\"!@acme//web\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 15,
        scope: Some("a"),
        message: Exact(
            "Invalid team reference '!@acme//web': team references need the 'org/team' form",
        ),
    },
    Case {
        what: "bad team reference in large_scale_change alternates",
        files: &[(ROOT, "[large_scale_change]\nalternates = [\"@-acme/x\"]\n")],
        teams: None,
        file: ROOT,
        line: 2,
        column: 15,
        scope: None,
        message: Exact(
            "Invalid team reference '@-acme/x': team references need the 'org/team' form",
        ),
    },
    // ----- unless -----
    Case {
        what: "unless without a producer",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nunless = [\"tests\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 11,
        scope: Some("a"),
        message: Exact(
            "unless: 'tests' must be 'producer/check-name' -- the App slug that produces the check, then the check's name",
        ),
    },
    Case {
        what: "unless with an empty check name",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nunless = [\"github-actions/ \"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 11,
        scope: Some("a"),
        message: Contains("unless: 'github-actions/ ' must be 'producer/check-name'"),
    },
    Case {
        what: "unless referencing PullApprove itself",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nunless = [\"PullApprove/review\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 11,
        scope: Some("a"),
        message: Exact(
            "unless: 'PullApprove/review' references PullApprove itself -- PullApprove never creates checks, it only reads them",
        ),
    },
    // ----- code regexes -----
    Case {
        what: "invalid regex",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\ncode = [\"(unclosed\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 9,
        scope: Some("a"),
        message: Contains("Invalid regex pattern '(unclosed': "),
    },
    Case {
        what: "nested quantifier regex",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\ncode = [\"^\\\\+\", \"(a+)+$\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 17,
        scope: Some("a"),
        message: Exact(
            "Regex pattern '(a+)+$' contains nested quantifiers, which can cause catastrophic backtracking.",
        ),
    },
    Case {
        what: "nested quantifier regex through an alias",
        files: &[(
            ROOT,
            "[aliases]\nslow = [\"(?:x*)*y\"]\n\n[[scopes]]\nname = \"a\"\npaths = [\"x\"]\ncode = [\"$slow\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 7,
        column: 9,
        scope: Some("a"),
        message: Contains("contains nested quantifiers"),
    },
    Case {
        what: "regex escape Python rejects",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\ncode = ['\\q']\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 9,
        scope: Some("a"),
        message: Exact("Invalid regex pattern '\\q': bad escape \\q at position 0"),
    },
    Case {
        what: "regex with a variable-width look-behind",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\ncode = ['(?<=a+)b']\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 9,
        scope: Some("a"),
        message: Exact(
            "Invalid regex pattern '(?<=a+)b': look-behind requires fixed-width pattern",
        ),
    },
    // ----- ownership, checklist, globs -----
    Case {
        what: "bad ownership value",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nownership = \"primary\"\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 13,
        scope: Some("a"),
        message: Exact("ownership must be \"\", \"append\" or \"global\", not \"primary\""),
    },
    Case {
        what: "checklist with no items",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nchecklist = { items = [] }\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 23,
        scope: Some("a"),
        message: Exact("checklist needs at least one item"),
    },
    Case {
        what: "checklist item with an empty label",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nchecklist.items = [{ label = \"Tests\" }, { label = \" \" }]\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 51,
        scope: Some("a"),
        message: Exact("checklist item label must not be empty"),
    },
    Case {
        what: "checklist item with unknown notes",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nchecklist.items = [{ label = \"Tests\", notes = \"always\" }]\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 47,
        scope: Some("a"),
        message: Exact(
            "checklist notes must be one of disabled, optional, required, required_if_checked, required_if_unchecked, not \"always\"",
        ),
    },
    Case {
        what: "brace expansion over the limit",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"src/{a,b,c,d,e,f,g,h,i,j}/{0..9}/{0..9}/{x,y}.py\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 3,
        column: 10,
        scope: Some("a"),
        message: Contains("more than 1000 patterns"),
    },
    Case {
        what: "brace expansion over the limit across a scope's paths",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"a\"\npaths = [\"{a,b,c,d,e,f,g,h,i,j}/{0..9}/{0..9}\", \"{a,b}/x\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 3,
        column: 49,
        scope: Some("a"),
        message: Exact("these paths expand to more than 1000 patterns in total"),
    },
    Case {
        what: "brace expansion over the limit through an alias",
        files: &[(
            ROOT,
            "[aliases]\nall = [\"{1..5000}\"]\n\n[[scopes]]\nname = \"a\"\npaths = [\"$all\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 6,
        column: 10,
        scope: Some("a"),
        message: Contains("more than 1000 patterns"),
    },
    // ----- where the error is reported -----
    Case {
        what: "an error in a nested config names that file",
        files: &[
            (ROOT, "[[scopes]]\nname = \"a\"\npaths = [\"**/*\"]\n"),
            (
                "services/api/CODEREVIEW.toml",
                "[[scopes]]\nname = \"api\"\npaths = [\"**/*\"]\nrequire = 1\nreviewers = []\n",
            ),
        ],
        teams: None,
        file: "services/api/CODEREVIEW.toml",
        line: 4,
        column: 11,
        scope: Some("api"),
        message: Exact("has require=1 but only 0 reviewers/alternates specified"),
    },
    Case {
        what: "an error in a template is reported where the template says it",
        files: &[
            (
                "CODEREVIEW-base.toml",
                "template = true\n\n[[scopes]]\nname = \"base\"\npaths = [\"**/*\"]\nreviewers = [\"$missing\"]\n",
            ),
            (ROOT, "extends = [\"CODEREVIEW-base.toml\"]\n"),
        ],
        teams: None,
        file: "CODEREVIEW-base.toml",
        line: 6,
        column: 14,
        scope: Some("base"),
        message: Exact("Unknown alias: $missing"),
    },
    Case {
        what: "columns count characters, not bytes",
        files: &[(
            ROOT,
            "[[scopes]]\nname = \"é\"\npaths = [\"x\"]\nreviewers = [\"José\", \"Zoë[bot]\"]\n",
        )],
        teams: None,
        file: ROOT,
        line: 4,
        column: 22,
        scope: Some("é"),
        message: Contains("'Zoë[bot]' is a bot"),
    },
];

/// Parse, validate and compile `files` the way `check` (teams unknown) or CI (teams known) does.
fn errors(files: &[(&str, &str)], teams: Option<&[(&str, &[&str])]>) -> Vec<ConfigError> {
    let raw = RawSet::parse(files.iter().map(|(path, text)| ConfigFile {
        path: path.to_string(),
        text: text.to_string(),
    }));
    let teams: Option<Teams> = teams.map(|t| {
        t.iter()
            .map(|(team, members)| {
                (
                    team.to_string(),
                    members.iter().map(|m| m.to_string()).collect(),
                )
            })
            .collect()
    });
    match raw {
        Err(e) => e.0,
        Ok(raw) => match raw.compile(teams.as_ref()) {
            Ok(_) => Vec::new(),
            Err(e) => e.0,
        },
    }
}

#[test]
fn every_validation_error_names_file_line_column_scope_and_message() {
    let mut failures = Vec::new();
    for case in CASES {
        let found = errors(case.files, case.teams);
        let [e] = found.as_slice() else {
            failures.push(format!(
                "{}: expected exactly one error, got {}:\n  {}",
                case.what,
                found.len(),
                found
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n  ")
            ));
            continue;
        };
        let message_ok = match case.message {
            Exact(m) => e.message == m,
            Contains(m) => e.message.contains(m),
        };
        let place_ok = (e.file.as_str(), e.line, e.column, e.scope.as_deref())
            == (case.file, case.line, case.column, case.scope);
        if !(message_ok && place_ok) {
            failures.push(format!(
                "{}:\n  expected {}:{}:{} scope {:?}: {:?}\n  got      {}:{}:{} scope {:?}: {:?}",
                case.what,
                case.file,
                case.line,
                case.column,
                case.scope,
                case.message,
                e.file,
                e.line,
                e.column,
                e.scope,
                e.message
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn each_row_is_invalid_only_because_of_its_defect() {
    // Guard against rows that pass by accident: the table's rows are distinct situations, and a
    // valid neighbour of a typical row compiles cleanly.
    let mut seen = std::collections::HashSet::new();
    for case in CASES {
        assert!(seen.insert(case.what), "duplicate row: {}", case.what);
    }
    let valid = "[aliases]\nleads = [\"alice\", \"bob\"]\n\n[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nrequire = 2\nreviewers = [\"$leads\"]\n";
    assert_eq!(errors(&[(ROOT, valid)], None), Vec::new());
    assert_eq!(
        errors(
            &[(
                ROOT,
                "[[scopes]]\nname = \"a\"\npaths = [\"x\"]\nreviewers = [\"@acme/core\"]\n"
            )],
            Some(&[("acme/core", &["alice"])])
        ),
        Vec::new()
    );
}

#[test]
fn errors_display_as_file_line_col_scope_message() {
    let found = errors(
        &[(
            ROOT,
            "[[scopes]]\nname = \"api\"\npaths = [\"x\"]\nrequire = -1\n",
        )],
        None,
    );
    assert_eq!(
        found.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["CODEREVIEW.toml:4:11: scope 'api': require cannot be negative"]
    );
}

#[test]
fn every_error_of_every_file_is_reported_in_one_run() {
    let found = errors(
        &[
            (
                ROOT,
                "[[scopes]]\nname = \"a\"\npaths = []\n\n[[scopes]]\nname = \"b\"\npaths = [\"x\"]\nrequest = -1\n",
            ),
            (
                "web/CODEREVIEW.toml",
                "[[scopes]]\nname = \"\"\npaths = [\"x\"]\n",
            ),
            ("api/CODEREVIEW.toml", "nope = 1\n"),
        ],
        None,
    );
    let shown: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "CODEREVIEW.toml:3:9: scope 'a': paths needs at least one pattern",
            "CODEREVIEW.toml:8:11: scope 'b': request cannot be negative",
            "web/CODEREVIEW.toml:2:8: Scope name must not be empty",
            "api/CODEREVIEW.toml:1:1: unknown field `nope`, expected one of `extends`, `template`, `aliases`, `large_scale_change`, `scopes`",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// The real binary
// ---------------------------------------------------------------------------------------------

/// A throwaway git repository holding `files`.
fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    git(dir.path(), &["init", "-q", "."]);
    for (path, text) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(full, text).expect("write");
    }
    dir
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?} failed");
}

/// Run `codereview ARGS` in `dir`, never looking above `dir` for a repository.
fn codereview(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_codereview"))
        .args(args)
        .current_dir(dir)
        .env(
            "GIT_CEILING_DIRECTORIES",
            dir.parent().expect("temp dirs have a parent"),
        )
        .output()
        .expect("codereview runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const INVALID: &[(&str, &str)] = &[
    (ROOT, "[[scopes]]\nname = \"default\"\npaths = [\"**/*\"]\n"),
    (
        "api/CODEREVIEW.toml",
        "[[scopes]]\nname = \"api\"\npaths = [\"**/*\"]\nreviewers = [\"deploy[bot]\"]\n",
    ),
    ("api/main.rs", "fn main() {}\n"),
];

#[test]
fn check_prints_file_line_col_message_on_stderr_and_exits_1() {
    let dir = repo(INVALID);
    let out = codereview(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        text(&out.stderr),
        "api/CODEREVIEW.toml:4:14: scope 'api': reviewers: 'deploy[bot]' is a bot and cannot be listed as a reviewer\n"
    );
    assert_eq!(
        text(&out.stdout),
        "CODEREVIEW.toml -> OK\napi/CODEREVIEW.toml -> ERROR\n",
        "the summary marks the file with the error"
    );
}

#[test]
fn check_of_a_valid_repo_exits_0() {
    let dir = repo(&[INVALID[0], INVALID[2]]);
    let out = codereview(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(text(&out.stdout), "CODEREVIEW.toml -> OK\n");
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn check_reports_a_toml_syntax_error_with_its_position() {
    let dir = repo(&[(ROOT, "[[scopes]]\nname = \"a\npaths = [\"x\"]\n")]);
    let out = codereview(dir.path(), &["check", "--quiet"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("CODEREVIEW.toml:2:"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(text(&out.stdout), "", "--quiet prints only errors");
}

#[test]
fn match_with_an_invalid_config_exits_1() {
    let dir = repo(INVALID);
    let out = codereview(dir.path(), &["match"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text(&out.stderr).starts_with("api/CODEREVIEW.toml:4:14: "),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn no_config_at_all_exits_1() {
    let dir = repo(&[("README.md", "hello\n")]);
    for command in ["check", "match", "coverage"] {
        let out = codereview(dir.path(), &[command]);
        assert_eq!(out.status.code(), Some(1), "{command}: {out:?}");
        assert_eq!(
            text(&out.stderr),
            "No CODEREVIEW.toml files found.\n",
            "{command}"
        );
    }
}

#[test]
fn outside_a_git_repository_exits_2_with_one_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join(ROOT), "").expect("write");
    for command in ["check", "match"] {
        let out = codereview(dir.path(), &[command]);
        assert_eq!(out.status.code(), Some(2), "{command}: {out:?}");
        let stderr = text(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{command}: {stderr}");
        assert!(stderr.contains("git repository"), "{command}: {stderr}");
    }
}
