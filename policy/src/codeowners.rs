//! Coming from CODEOWNERS: convert a GitHub or GitLab `CODEOWNERS` file into a `CODEREVIEW.toml`
//! whose matching is the same, so a team can switch without re-deciding who owns what.
//!
//! **GitHub** (gitignore-like patterns, the last matching line wins): each line becomes one scope,
//! in order, with the default ownership, which is the same rule (the last matching scope owns the
//! file). A pattern with a leading or middle `/` is anchored at the root, otherwise it matches at
//! any depth; a trailing `/` means everything below; a pattern whose last segment is not exactly
//! `*` also matches everything below a directory of that name; `*` stays within a segment, `**`
//! crosses them; `\` escapes; there are no character classes and no `!` negation.
//!
//! **GitLab** (Ruby `File.fnmatch` with `FNM_PATHNAME | FNM_DOTMATCH`): a pattern without a leading
//! `/` matches at any depth (`/**/` is put in front), a trailing `/` means everything below, other
//! patterns match files only; `[...]` classes work. Sections (`[Name]`, `[Name][N]` needing N
//! approvals, `^[Name]` optional, default owners after the header) are independent: a file gets the
//! owners of the last matching line **of each section**. The largest section keeps the default
//! ownership (last match wins); the lines of every other section become `append` scopes (joint
//! owners) whose paths exclude the later lines of the same section, so that at most one line per
//! section owns a file there too.
//!
//! What has no equivalent is said, never silently changed: e-mail owners and GitLab roles
//! (`@@developer`) are dropped with a warning (the config wants usernames), and so are `!` and
//! unusable patterns. Matching in `CODEREVIEW.toml` ignores case, where GitHub's does not.

use crate::config::{ConfigFile, RawSet};
use std::fmt::Write as _;

/// Which forge's CODEOWNERS dialect a file is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// GitHub: gitignore-like patterns, no sections.
    GitHub,
    /// GitLab: fnmatch patterns, sections.
    GitLab,
}

impl Flavor {
    /// The forge's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::GitHub => "GitHub",
            Flavor::GitLab => "GitLab",
        }
    }
}

/// Where GitHub and GitLab look for the file, in the order `init --from-codeowners` tries them.
pub const LOCATIONS: [&str; 4] = [
    ".github/CODEOWNERS",
    "CODEOWNERS",
    "docs/CODEOWNERS",
    ".gitlab/CODEOWNERS",
];

/// GitLab's dialect when the file is under `.gitlab/` or has a section header, else GitHub's.
pub fn detect_flavor(path: &str, text: &str) -> Flavor {
    if path.starts_with(".gitlab/") || path.contains("/.gitlab/") {
        return Flavor::GitLab;
    }
    let sections = text.lines().filter_map(|l| parse_section(l.trim())).count();
    if sections > 0 {
        Flavor::GitLab
    } else {
        Flavor::GitHub
    }
}

/// One owner as the config writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    /// A username (`@name` in CODEOWNERS, `name` in the config).
    User(String),
    /// `@org/team` or `@group/subgroup`, kept as is.
    Team(String),
}

impl Owner {
    fn as_config(&self) -> String {
        match self {
            Owner::User(u) => u.clone(),
            Owner::Team(t) => t.clone(),
        }
    }
}

/// A GitLab section header.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Section {
    name: String,
    optional: bool,
    approvals: u32,
    default_owners: Vec<String>,
}

/// One pattern line.
#[derive(Debug, Clone)]
struct Rule {
    line: usize,
    text: String,
    pattern: String,
    owners: Vec<String>,
    /// Index into the sections (GitLab; 0 = the default section before any header).
    section: usize,
}

/// The result of a conversion.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// The `CODEREVIEW.toml` text, already checked to be a valid config.
    pub toml: String,
    /// What could not be carried over, one line each, naming the CODEOWNERS line.
    pub warnings: Vec<String>,
    /// How many scopes the config has.
    pub scopes: usize,
}

/// Why a CODEOWNERS file could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConvertError(pub String);

/// Convert `text` (the CODEOWNERS file at `source`, a repository-relative path) into a root
/// `CODEREVIEW.toml`.
pub fn convert(text: &str, source: &str, flavor: Flavor) -> Result<Conversion, ConvertError> {
    let mut warnings = Vec::new();
    let (sections, rules) = parse(text, flavor, source, &mut warnings);
    let mut scopes: Vec<ScopeOut> = Vec::new();
    // GitLab: the largest section keeps "last match wins"; the others become joint owners.
    let primary = match flavor {
        Flavor::GitHub => 0,
        Flavor::GitLab => {
            let mut counts = vec![0usize; sections.len()];
            for r in &rules {
                counts[r.section] += 1;
            }
            let mut best = 0;
            for (i, c) in counts.iter().enumerate() {
                if *c > counts[best] {
                    best = i;
                }
            }
            best
        }
    };
    let mut globs_of: Vec<Option<Vec<String>>> = Vec::with_capacity(rules.len());
    for r in &rules {
        let globs = match flavor {
            Flavor::GitHub => github_globs(&r.pattern),
            Flavor::GitLab => gitlab_globs(&r.pattern),
        };
        match globs {
            Ok(g) => globs_of.push(Some(g)),
            Err(why) => {
                warnings.push(format!(
                    "{source}:{}: `{}` skipped: {why}",
                    r.line, r.pattern
                ));
                globs_of.push(None);
            }
        }
    }
    let mut names: Vec<String> = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let Some(globs) = &globs_of[i] else { continue };
        let section = &sections[r.section];
        let mut notes = Vec::new();
        let raw_owners = if r.owners.is_empty() {
            section.default_owners.clone()
        } else {
            r.owners.clone()
        };
        let mut owners: Vec<Owner> = Vec::new();
        for o in &raw_owners {
            match classify_owner(o, flavor) {
                Ok(owner) => {
                    if !owners.contains(&owner) {
                        owners.push(owner);
                    }
                }
                Err(why) => {
                    warnings.push(format!("{source}:{}: owner `{o}` dropped: {why}", r.line));
                    notes.push(format!("owner `{o}` dropped: {why}"));
                }
            }
        }
        let mut paths = globs.clone();
        let append = flavor == Flavor::GitLab && r.section != primary;
        if append {
            // Later lines of the same section win over this one.
            for (j, later) in rules.iter().enumerate().skip(i + 1) {
                if later.section == r.section
                    && let Some(g) = &globs_of[j]
                {
                    paths.extend(g.iter().map(|g| format!("!{g}")));
                }
            }
        }
        let mut require = if owners.is_empty() {
            0
        } else if flavor == Flavor::GitLab {
            if section.optional {
                0
            } else {
                section.approvals
            }
        } else {
            1
        };
        let people = owners
            .iter()
            .filter(|o| matches!(o, Owner::User(_)))
            .count();
        if people == owners.len() && require as usize > people {
            let why = format!(
                "the section needs {require} approvals but this line has {people} owners: require lowered to {people}"
            );
            warnings.push(format!("{source}:{}: {why}", r.line));
            notes.push(why);
            require = people as u32;
        }
        let base = match flavor {
            Flavor::GitLab if r.section != 0 => format!("{}: {}", section.name, r.pattern),
            _ => r.pattern.clone(),
        };
        let mut name = base.replace(',', ";");
        if names.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
            name = format!("{name} (line {})", r.line);
        }
        names.push(name.clone());
        scopes.push(ScopeOut {
            name,
            origin: format!("{source} line {}: {}", r.line, r.text),
            notes,
            paths,
            reviewers: owners.iter().map(Owner::as_config).collect(),
            require,
            append,
        });
    }
    let toml = render(source, flavor, &scopes);
    validate(&toml).map_err(|e| {
        ConvertError(format!(
            "the config converted from {source} is not valid ({e}); please report this"
        ))
    })?;
    Ok(Conversion {
        toml,
        warnings,
        scopes: scopes.len(),
    })
}

/// One scope to write.
struct ScopeOut {
    name: String,
    origin: String,
    notes: Vec<String>,
    paths: Vec<String>,
    reviewers: Vec<String>,
    require: u32,
    append: bool,
}

fn render(source: &str, flavor: Flavor, scopes: &[ScopeOut]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Converted from {source} ({} CODEOWNERS) by `codereview init --from-codeowners`.",
        flavor.name()
    );
    match flavor {
        Flavor::GitHub => s.push_str(
            "# One scope per CODEOWNERS line, in the same order: as in CODEOWNERS, the last matching\n\
             # scope owns a file and needs one approval from its owners.\n",
        ),
        Flavor::GitLab => s.push_str(
            "# One scope per CODEOWNERS line, in the same order. As in GitLab, the last matching line\n\
             # of each section owns a file: one section keeps the default ownership, the others are\n\
             # `append` scopes (joint owners) that exclude the later lines of their section.\n",
        ),
    }
    s.push_str(
        "# Matching ignores case here. Changes over 300 files or 3000 lines are reviewed as one\n\
         # large-scale change: add [large_scale_change] reviewers = [...] to say who approves them.\n",
    );
    for scope in scopes {
        s.push_str("\n[[scopes]]\n");
        let _ = writeln!(s, "# {}", scope.origin.replace('\n', " "));
        for note in &scope.notes {
            let _ = writeln!(s, "# WARNING: {note}");
        }
        let _ = writeln!(s, "name = {}", quote(&scope.name));
        let _ = writeln!(s, "paths = {}", list(&scope.paths));
        let _ = writeln!(s, "reviewers = {}", list(&scope.reviewers));
        let _ = writeln!(s, "require = {}", scope.require);
        let request = u32::from(scope.require > 0);
        let _ = writeln!(s, "request = {request}");
        if scope.append {
            s.push_str("ownership = \"append\"\n");
        }
    }
    s
}

fn validate(toml: &str) -> Result<(), String> {
    let raw = RawSet::parse([ConfigFile {
        path: crate::config::CONFIG_FILENAME.to_string(),
        text: toml.to_string(),
    }])
    .map_err(|e| e.to_string())?;
    raw.compile(None).map(|_| ()).map_err(|e| e.to_string())
}

/// A TOML basic string.
fn quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| quote(i)).collect();
    format!("[{}]", quoted.join(", "))
}

// ---- Parsing ----

fn parse(
    text: &str,
    flavor: Flavor,
    source: &str,
    warnings: &mut Vec<String>,
) -> (Vec<Section>, Vec<Rule>) {
    let mut sections = vec![Section {
        name: String::new(),
        optional: false,
        approvals: 1,
        default_owners: Vec::new(),
    }];
    let mut current = 0;
    let mut rules = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if flavor == Flavor::GitLab
            && let Some(section) = parse_section(trimmed)
        {
            // Sections with the same name (ignoring case) are one section.
            current = match sections
                .iter()
                .position(|s| !s.name.is_empty() && s.name.eq_ignore_ascii_case(&section.name))
            {
                Some(existing) => existing,
                None => {
                    sections.push(section);
                    sections.len() - 1
                }
            };
            continue;
        }
        let (pattern, rest) = split_pattern(trimmed);
        let owners = owner_tokens(rest);
        if pattern.is_empty() {
            warnings.push(format!("{source}:{line}: no pattern; line skipped"));
            continue;
        }
        rules.push(Rule {
            line,
            text: trimmed.to_string(),
            pattern,
            owners,
            section: current,
        });
    }
    (sections, rules)
}

/// `[Name]`, `^[Name]`, `[Name][N]`, each optionally followed by default owners.
fn parse_section(line: &str) -> Option<Section> {
    let (optional, rest) = match line.strip_prefix('^') {
        Some(r) => (true, r),
        None => (false, line),
    };
    let rest = rest.strip_prefix('[')?;
    let close = rest.find(']')?;
    let name = rest[..close].trim().to_string();
    if name.is_empty() {
        return None;
    }
    let mut rest = &rest[close + 1..];
    let mut approvals = 1;
    if let Some(r) = rest.strip_prefix('[') {
        let close = r.find(']')?;
        approvals = r[..close].trim().parse().ok()?;
        rest = &r[close + 1..];
    }
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return None;
    }
    Some(Section {
        name,
        optional,
        approvals,
        default_owners: owner_tokens(rest),
    })
}

/// The pattern (up to the first unescaped whitespace, escapes kept) and the rest of the line.
fn split_pattern(line: &str) -> (String, &str) {
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
        } else if c.is_whitespace() {
            return (line[..i].to_string(), &line[i..]);
        }
    }
    (line.to_string(), "")
}

/// Whitespace-separated owners, up to an inline `#` comment.
fn owner_tokens(rest: &str) -> Vec<String> {
    rest.split_whitespace()
        .take_while(|t| !t.starts_with('#'))
        .map(str::to_string)
        .collect()
}

fn classify_owner(token: &str, flavor: Flavor) -> Result<Owner, String> {
    if token.starts_with("@@") {
        return Err(if flavor == Flavor::GitLab {
            "GitLab roles have no equivalent; list the people or a group".into()
        } else {
            "not a valid owner".into()
        });
    }
    if let Some(name) = token.strip_prefix('@') {
        let segments: Vec<&str> = name.split('/').collect();
        let valid = segments.iter().all(|s| {
            let mut chars = s.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
                && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
        if !valid {
            return Err("not a valid username or team".into());
        }
        return Ok(if segments.len() >= 2 {
            Owner::Team(token.to_string())
        } else {
            Owner::User(name.to_string())
        });
    }
    if token.contains('@') {
        return Err(
            "e-mail addresses cannot be reviewers; add the person's username to `reviewers`".into(),
        );
    }
    Err("owners start with @ (a username or a team)".into())
}

// ---- Patterns to globs ----

/// Characters our glob dialect treats specially, escaped when CODEOWNERS means them literally.
fn push_literal(out: &mut String, c: char) {
    if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\' | '!') {
        out.push('\\');
    }
    out.push(c);
}

/// Split at unescaped `/`, keeping escapes.
fn segments(pattern: &str) -> Vec<String> {
    let mut segs = vec![String::new()];
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let last = segs.last_mut().expect("one segment");
                last.push('\\');
                if let Some(n) = chars.next() {
                    last.push(n);
                }
            }
            '/' => segs.push(String::new()),
            c => segs.last_mut().expect("one segment").push(c),
        }
    }
    segs
}

/// A GitHub segment (no classes: `[` is literal) in our dialect.
fn github_segment(seg: &str) -> String {
    let mut out = String::new();
    let mut chars = seg.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    push_literal(&mut out, n);
                }
            }
            '*' | '?' => out.push(c),
            c => push_literal(&mut out, c),
        }
    }
    out
}

/// The globs (in our dialect, anchored at the root) matching what a GitHub pattern matches.
pub fn github_globs(pattern: &str) -> Result<Vec<String>, String> {
    if pattern.starts_with('!') {
        return Err("CODEOWNERS has no `!` negation (GitHub ignores such lines)".into());
    }
    if pattern.contains("***") {
        return Err("three consecutive `*` are not a valid pattern".into());
    }
    if pattern == "/" {
        return Err("`/` matches no file".into());
    }
    let mut segs = segments(pattern);
    let anchored = segs[0].is_empty();
    if anchored {
        segs.remove(0);
    }
    let trailing = segs.len() > 1 && segs.last().is_some_and(String::is_empty);
    if trailing {
        segs.pop();
    }
    if segs.iter().any(String::is_empty) {
        return Err("empty path segment (`//`)".into());
    }
    // No slash but a trailing one: the pattern matches at any depth.
    if !anchored && segs.len() == 1 && segs[0] != "**" {
        segs.insert(0, "**".into());
    }
    if trailing {
        segs.push("**".into());
    }
    let last = segs.last().cloned().unwrap_or_default();
    let body: Vec<String> = segs
        .iter()
        .map(|s| {
            if s == "**" {
                s.clone()
            } else {
                github_segment(s)
            }
        })
        .collect();
    let mut glob = body.join("/");
    if glob == "**" {
        glob = "**/*".into();
    }
    if !glob.starts_with("**") {
        glob.insert(0, '/');
    }
    Ok(if last == "*" || last == "**" {
        vec![glob]
    } else {
        // A file of that name, or anything below a directory of that name.
        vec![glob.clone(), format!("{glob}/**")]
    })
}

/// A GitLab segment (Ruby fnmatch: classes work, braces are literal) in our dialect.
fn gitlab_segment(seg: &str) -> Result<String, String> {
    let mut out = String::new();
    let chars: Vec<char> = seg.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if let Some(&n) = chars.get(i + 1) {
                    push_literal(&mut out, n);
                }
                i += 2;
            }
            '*' | '?' => {
                out.push(chars[i]);
                i += 1;
            }
            '[' => {
                let Some(end) = (i + 2..chars.len()).find(|&j| chars[j] == ']') else {
                    push_literal(&mut out, '[');
                    i += 1;
                    continue;
                };
                out.push('[');
                let mut j = i + 1;
                if matches!(chars[j], '!' | '^') {
                    out.push('!');
                    j += 1;
                }
                for &c in &chars[j..end] {
                    if c == '\\' || c == '[' {
                        return Err("escapes and `[` inside a character class".into());
                    }
                    out.push(c);
                }
                out.push(']');
                i = end + 1;
            }
            c => {
                push_literal(&mut out, c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// The globs (in our dialect) matching what a GitLab pattern matches.
pub fn gitlab_globs(pattern: &str) -> Result<Vec<String>, String> {
    if pattern.starts_with('!') {
        return Err("exclusions (`!`) are not converted".into());
    }
    if pattern == "*" {
        return Ok(vec!["**/*".into()]);
    }
    let anchored = pattern.starts_with('/');
    let mut segs = segments(pattern.trim_start_matches('/'));
    let trailing = segs.len() > 1 && segs.last().is_some_and(String::is_empty);
    if trailing {
        segs.pop();
        segs.push("**".into());
        segs.push("*".into());
    }
    if segs.iter().any(String::is_empty) {
        return Err("empty path segment".into());
    }
    if !anchored {
        segs.insert(0, "**".into());
    }
    let n = segs.len();
    let mut body = Vec::with_capacity(n);
    for (i, s) in segs.iter().enumerate() {
        // fnmatch: `**/` crosses directories; a final `**` is a plain `*`.
        body.push(if s == "**" {
            if i + 1 == n { "*".into() } else { s.clone() }
        } else {
            gitlab_segment(s)?
        });
    }
    let glob = body.join("/");
    Ok(vec![if glob.starts_with("**") {
        glob
    } else {
        format!("/{glob}")
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_patterns_translate_to_equivalent_globs() {
        let cases: &[(&str, &[&str])] = &[
            ("*", &["**/*"]),
            ("*.js", &["**/*.js", "**/*.js/**"]),
            ("docs/", &["**/docs/**"]),
            ("/docs/", &["/docs/**"]),
            ("docs/*", &["/docs/*"]),
            ("apps/web", &["/apps/web", "/apps/web/**"]),
            ("/build/logs", &["/build/logs", "/build/logs/**"]),
            ("**/logs", &["**/logs", "**/logs/**"]),
            ("/docs/**", &["/docs/**"]),
            ("a/**/b", &["/a/**/b", "/a/**/b/**"]),
            ("**", &["**/*"]),
            (
                r"file\ name{x}",
                &[r"**/file name\{x\}", r"**/file name\{x\}/**"],
            ),
            ("[ab].txt", &[r"**/\[ab\].txt", r"**/\[ab\].txt/**"]),
        ];
        for (pattern, want) in cases {
            assert_eq!(github_globs(pattern).unwrap(), *want, "{pattern}");
        }
        assert!(github_globs("!x").is_err());
        assert!(github_globs("a/***").is_err());
        assert!(github_globs("/").is_err());
    }

    #[test]
    fn gitlab_patterns_translate_to_equivalent_globs() {
        let cases: &[(&str, &str)] = &[
            ("*", "**/*"),
            ("*.rb", "**/*.rb"),
            ("docs/", "**/docs/**/*"),
            ("/docs/", "/docs/**/*"),
            ("docs/index.md", "**/docs/index.md"),
            ("/docs", "/docs"),
            ("/docs/**", "/docs/*"),
            ("/a/**/b", "/a/**/b"),
            ("[!a]b/[^c]", "**/[!a]b/[!c]"),
            ("{x}", r"**/\{x\}"),
        ];
        for (pattern, want) in cases {
            assert_eq!(
                gitlab_globs(pattern).unwrap(),
                vec![want.to_string()],
                "{pattern}"
            );
        }
    }

    #[test]
    fn sections_parse_with_approvals_optional_and_default_owners() {
        assert_eq!(
            parse_section("^[Docs team][2] @a @b/c # comment"),
            Some(Section {
                name: "Docs team".into(),
                optional: true,
                approvals: 2,
                default_owners: vec!["@a".into(), "@b/c".into()],
            })
        );
        assert_eq!(parse_section("[abc].txt @x"), None);
        assert_eq!(parse_section("*.rb @x"), None);
    }

    #[test]
    fn owners_are_users_teams_or_a_clear_refusal() {
        assert_eq!(
            classify_owner("@octocat", Flavor::GitHub),
            Ok(Owner::User("octocat".into()))
        );
        assert_eq!(
            classify_owner("@acme/web", Flavor::GitHub),
            Ok(Owner::Team("@acme/web".into()))
        );
        assert!(
            classify_owner("ana@example.com", Flavor::GitHub)
                .unwrap_err()
                .contains("e-mail")
        );
        assert!(
            classify_owner("@@maintainer", Flavor::GitLab)
                .unwrap_err()
                .contains("roles")
        );
    }

    #[test]
    fn a_github_file_converts_to_a_valid_config_with_warnings_for_emails() {
        let text =
            "# comment\n* @acme/core\n/docs/ ana@example.com @bob # inline\n/vendor/\n!x @c\n";
        let c = convert(text, "CODEOWNERS", Flavor::GitHub).unwrap();
        assert_eq!(c.scopes, 3);
        assert!(c.toml.contains(
            "name = \"/docs/\"\npaths = [\"/docs/**\"]\nreviewers = [\"bob\"]\nrequire = 1\n"
        ));
        assert!(c.toml.contains(
            "name = \"/vendor/\"\npaths = [\"/vendor/**\"]\nreviewers = []\nrequire = 0\n"
        ));
        assert!(
            c.toml
                .contains("# WARNING: owner `ana@example.com` dropped")
        );
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(c.warnings[0].starts_with("CODEOWNERS:5: `!x` skipped"));
        assert!(c.warnings[1].starts_with("CODEOWNERS:3: owner `ana@example.com` dropped"));
    }

    #[test]
    fn gitlab_sections_become_joint_owners_excluding_later_lines() {
        let text = "* @a\n*.md @b\n[Docs][2] @d1 @d2\ndocs/\n/docs/old/ @e\n^[Ops]\n/ops/ @f\n";
        assert_eq!(detect_flavor("CODEOWNERS", text), Flavor::GitLab);
        let c = convert(text, "CODEOWNERS", Flavor::GitLab).unwrap();
        // The default section (2 lines) is tied with Docs and comes first: it stays primary.
        assert!(c.toml.contains("name = \"*.md\"\npaths = [\"**/*.md\"]\nreviewers = [\"b\"]\nrequire = 1\nrequest = 1\n\n"));
        assert!(c.toml.contains(
            "name = \"Docs: docs/\"\npaths = [\"**/docs/**/*\", \"!/docs/old/**/*\"]\nreviewers = [\"d1\", \"d2\"]\nrequire = 2\nrequest = 1\nownership = \"append\"\n"
        ));
        assert!(c.toml.contains("name = \"Ops: /ops/\"\npaths = [\"/ops/**/*\"]\nreviewers = [\"f\"]\nrequire = 0\nrequest = 0\nownership = \"append\"\n"));
    }
}
