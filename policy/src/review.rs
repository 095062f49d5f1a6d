//! Review evaluation: pull request facts + compiled configs → a state per scope, per file, and
//! one overall verdict. Pure: no HTTP, no git, no clock, so every rule is unit-tested with an
//! in-memory pull request (see the tests at the bottom and `action/tests/review_rules.rs`).
//!
//! The rules (DESIGN §2):
//! - the latest review *with a state* per person counts; comment-only reviews are skipped and a
//!   dismissed review counts as none; bots (`name[bot]`) never count;
//! - points = approvals from people who count toward the scope (`reviewers`, `alternates`,
//!   anyone for `"*"`), plus `author_value` when the author is a listed reviewer;
//! - a scope whose `unless` checks all completed successfully on the head commit is waived;
//!   otherwise a change request from someone who counts rejects it (an explicit block wins over
//!   approvals, as on GitHub); otherwise it is approved with enough points, else pending;
//! - per file: one owner → its state; several → any rejected → rejected, any approved global →
//!   approved, all primary/append owners approved → approved, else pending;
//! - overall: failure when a file is rejected, pending when a file is pending or the pull
//!   request is a draft, success otherwise (also when nothing matched);
//! - a large-scale change (too many files or lines) is reviewed as one scope covering everything.

use crate::config::{ConfigSet, LargeScaleChange, Ownership, Scope};
use crate::diff::FileDiff;
use crate::matching::{Content, Matcher};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What a reviewer said last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// Approved.
    Approved,
    /// Requested changes.
    ChangesRequested,
    /// Commented only (does not change a previous verdict).
    Commented,
    /// Dismissed (no longer counts).
    Dismissed,
    /// Not submitted yet.
    Pending,
}

/// One submitted review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// The reviewer's login.
    pub user: String,
    /// Its state.
    pub state: ReviewState,
    /// The commit it was submitted on, when known.
    pub commit: Option<String>,
    /// Submission time (RFC 3339); reviews are ordered by it, then by input order.
    pub submitted_at: Option<String>,
    /// The text submitted with it (GitHub: the review body; GitLab: the approver's comment
    /// holding a checklist), where a scope's [checklist](crate::checklist) is answered.
    pub body: String,
}

/// One check run on the head commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRun {
    /// The producing app's slug (`producer` in `unless = ["producer/name"]`).
    pub app: String,
    /// The check's name.
    pub name: String,
    /// `completed` when done.
    pub status: String,
    /// `success`, `failure`, ... once completed.
    pub conclusion: Option<String>,
}

/// Everything evaluation needs to know about a pull/merge request.
#[derive(Debug, Clone, Default)]
pub struct PullRequest {
    /// Its number (seeds deterministic reviewer selection).
    pub number: u64,
    /// The author's login.
    pub author: String,
    /// Head commit.
    pub head_sha: String,
    /// Whether it is a draft.
    pub draft: bool,
    /// Current labels.
    pub labels: Vec<String>,
    /// Users currently requested to review.
    pub requested_reviewers: Vec<String>,
    /// Submitted reviews, oldest first.
    pub reviews: Vec<Review>,
    /// Check runs on the head commit.
    pub check_runs: Vec<CheckRun>,
    /// The changed files with their hunks.
    pub files: Vec<FileDiff>,
    /// What is known about the people who could be asked to review (filled in only for
    /// [`Evaluation::request_candidates`], so it costs nothing when nobody is to be requested).
    pub reviewer_facts: ReviewerFacts,
}

/// Availability and load of possible reviewers, as the forge reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewerFacts {
    /// People who said they are away (GitHub status "busy" / `indicatesLimitedAvailability`,
    /// GitLab `availability: busy`): not requested while someone else can be.
    pub away: Vec<String>,
    /// Open review requests per person in the repository (lowercased login → count). `Some`
    /// selects the balanced strategy: the fewest open requests first, ties in the
    /// deterministic order; `None` keeps PullApprove's deterministic pick.
    pub open_requests: Option<BTreeMap<String, u32>>,
}

/// Limits beyond which a change is reviewed as one large-scale change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LargeScaleLimits {
    /// More changed files than this is large-scale (default 300).
    pub max_files: usize,
    /// More changed lines (added + removed) than this is large-scale (default 3000).
    pub max_lines: usize,
}

impl Default for LargeScaleLimits {
    fn default() -> Self {
        LargeScaleLimits {
            max_files: 300,
            max_lines: 3000,
        }
    }
}

/// A scope's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ScopeState {
    /// Enough approvals.
    Approved,
    /// Requirement waived by successful `unless` checks.
    Waived,
    /// Someone who counts requested changes.
    Rejected,
    /// Waiting for approvals.
    Pending,
}

impl ScopeState {
    /// Approved or waived.
    pub fn is_satisfied(self) -> bool {
        matches!(self, ScopeState::Approved | ScopeState::Waived)
    }

    /// A word for summaries.
    pub fn word(self) -> &'static str {
        match self {
            ScopeState::Approved => "approved",
            ScopeState::Waived => "waived",
            ScopeState::Rejected => "rejected",
            ScopeState::Pending => "pending",
        }
    }
}

/// The result for one matched scope.
#[derive(Debug, Clone, Serialize)]
pub struct ScopeResult {
    /// The scope (effective definition).
    #[serde(skip)]
    pub scope: Scope,
    /// Its name.
    pub name: String,
    /// Ownership mode.
    pub ownership: Ownership,
    /// Verdict.
    pub state: ScopeState,
    /// Points so far.
    pub points: u32,
    /// Points needed.
    pub required: u32,
    /// People whose approval counted.
    pub approved_by: Vec<String>,
    /// People whose change request rejects it.
    pub rejected_by: Vec<String>,
    /// Approvals that do not count because the scope's checklist was not completed with them:
    /// (login, what is missing, e.g. "checking 'Migrations reviewed'").
    pub incomplete_checklists: Vec<(String, Vec<String>)>,
    /// Who could still approve (`["*"]` for anyone), author and bots excluded.
    pub can_approve: Vec<String>,
    /// The successful checks that waived it.
    pub waived_by: Vec<String>,
    /// Files it owns (wholly or some lines).
    pub files: Vec<String>,
    /// Why it can never pass, when that is so.
    pub problem: Option<String>,
}

impl ScopeResult {
    /// Who could still approve it: [`ScopeResult::can_approve`] without those whose approval
    /// already counts (`"*"`, anyone, stays).
    pub fn still_can_approve(&self) -> impl Iterator<Item = &String> {
        self.can_approve
            .iter()
            .filter(|c| !self.approved_by.iter().any(|a| a.eq_ignore_ascii_case(c)))
    }
}

/// The result for one changed file.
#[derive(Debug, Clone, Serialize)]
pub struct FileResult {
    /// Path.
    pub path: String,
    /// Owning scopes' names.
    pub scopes: Vec<String>,
    /// Its state; `None` when no scope owns it (it does not block).
    pub state: Option<ScopeState>,
}

/// A changed file whose lines could not all be checked: every `code` scope whose paths match
/// it owns it (fail closed), and the summary says why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnreadFile {
    /// Path.
    pub path: String,
    /// Why its lines were not (all) read.
    pub reason: crate::unread::Unread,
    /// The `code` scopes that own it for that reason.
    pub scopes: Vec<String>,
}

/// The overall verdict, as a commit status state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Overall {
    /// Everything approved (or nothing needed review).
    Success,
    /// Waiting for reviews, or a draft.
    Pending,
    /// Rejected, or the configuration is invalid.
    Failure,
}

impl Overall {
    /// The commit-status state name.
    pub fn as_str(self) -> &'static str {
        match self {
            Overall::Success => "success",
            Overall::Pending => "pending",
            Overall::Failure => "failure",
        }
    }
}

/// Everything evaluation concluded.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// The verdict.
    pub overall: Overall,
    /// Whether the pull request is a draft.
    pub draft: bool,
    /// Whether it was reviewed as a large-scale change.
    pub large_scale: bool,
    /// Matched scopes in declaration order.
    pub scopes: Vec<ScopeResult>,
    /// Changed files.
    pub files: Vec<FileResult>,
    /// Reviewers to request now, in order.
    pub to_request: Vec<String>,
    /// Everyone a pick for `request` could choose from (eligible, not yet requested, reviewed
    /// or voted): whose availability and load matter. Empty when nobody is to be requested.
    pub request_candidates: Vec<String>,
    /// Candidates left out because they are away (see [`ReviewerFacts::away`]).
    pub away: Vec<String>,
    /// Away people requested anyway because every candidate of their scope was away.
    pub requested_while_away: Vec<String>,
    /// Labels to add.
    pub labels_to_add: Vec<String>,
    /// Labels to remove (scope labels of scopes no longer matched).
    pub labels_to_remove: Vec<String>,
    /// Whether any scope of the rules has `instructions` or a `checklist`: only then is the
    /// PR's instructions comment looked for and kept current (other repositories pay no extra
    /// API call).
    pub instructions_in_use: bool,
    /// Files whose changed lines could not all be read, in the order of the diff.
    pub unread_files: Vec<UnreadFile>,
    /// Changed files / lines, for the summary.
    pub changed_files: usize,
    /// Added + removed lines.
    pub changed_lines: usize,
}

/// Evaluation that cannot produce a verdict (reported as a failure status).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvaluationError(pub String);

/// Evaluate a pull request against compiled (team-expanded) configs.
pub fn evaluate(
    configs: &ConfigSet,
    pr: &PullRequest,
    limits: LargeScaleLimits,
) -> Result<Evaluation, EvaluationError> {
    let changed_lines: usize = pr.files.iter().map(|f| f.additions + f.deletions).sum();
    let large_scale = pr.files.len() > limits.max_files || changed_lines > limits.max_lines;
    let votes = latest_votes(&pr.reviews);

    // (scope definition, owned files) per matched scope name, declaration order.
    let mut matched: Vec<(Scope, Vec<String>)> = Vec::new();
    let mut file_owners: Vec<(String, Vec<String>)> = Vec::new();
    let mut unread_files = Vec::new();
    if large_scale {
        let lsc: LargeScaleChange = configs.large_scale_change();
        let root = configs
            .root()
            .map_or("CODEREVIEW.toml", |c| c.path.as_str());
        let scope = lsc.as_scope(root).map_err(EvaluationError)?;
        let files: Vec<String> = pr.files.iter().map(|f| f.path.clone()).collect();
        for f in &files {
            file_owners.push((f.clone(), vec![scope.name.clone()]));
        }
        matched.push((scope, files));
    } else {
        let for_author = configs.for_author(&pr.author);
        let matcher = Matcher::new(&for_author).map_err(|e| EvaluationError(e.to_string()))?;
        let mut order: BTreeMap<(usize, usize), usize> = BTreeMap::new();
        let mut by_name: HashMap<String, usize> = HashMap::new();
        let mut per_file = Vec::new();
        for f in &pr.files {
            let fm = matcher.match_file(&f.path, Content::of_diff(f));
            if let (Some(ci), Some(u)) = (fm.config, &fm.unread) {
                unread_files.push(UnreadFile {
                    path: f.path.clone(),
                    reason: u.reason,
                    scopes: u
                        .scopes
                        .iter()
                        .map(|&s| matcher.scope(ci, s).name.clone())
                        .collect(),
                });
            }
            let names: Vec<String> = match fm.config {
                Some(ci) => fm
                    .all_scopes()
                    .into_iter()
                    .map(|s| {
                        order.entry((ci, s)).or_insert(0);
                        matcher.scope(ci, s).name.clone()
                    })
                    .collect(),
                None => Vec::new(),
            };
            per_file.push((f.path.clone(), fm.config, fm.all_scopes(), names));
        }
        // Declaration order: config order, then scope order.
        for &(ci, si) in order.keys() {
            let scope = matcher.scope(ci, si);
            if !by_name.contains_key(&scope.name) {
                by_name.insert(scope.name.clone(), matched.len());
                matched.push((scope.clone(), Vec::new()));
            }
        }
        for (path, _, _, names) in per_file {
            let mut unique: Vec<String> = Vec::new();
            for n in names {
                if !unique.contains(&n) {
                    matched[by_name[&n]].1.push(path.clone());
                    unique.push(n);
                }
            }
            file_owners.push((path, unique));
        }
    }

    let scopes: Vec<ScopeResult> = matched
        .into_iter()
        .map(|(scope, files)| evaluate_scope(scope, files, pr, &votes))
        .collect();
    let state_of: HashMap<&str, (ScopeState, Ownership)> = scopes
        .iter()
        .map(|s| (s.name.as_str(), (s.state, s.ownership)))
        .collect();
    let files: Vec<FileResult> = file_owners
        .into_iter()
        .map(|(path, names)| {
            let owners: Vec<(ScopeState, Ownership)> =
                names.iter().map(|n| state_of[n.as_str()]).collect();
            FileResult {
                path,
                state: file_state(&owners),
                scopes: names,
            }
        })
        .collect();

    let overall = if files.iter().any(|f| f.state == Some(ScopeState::Rejected)) {
        Overall::Failure
    } else if pr.draft || files.iter().any(|f| f.state == Some(ScopeState::Pending)) {
        Overall::Pending
    } else {
        Overall::Success
    };

    let requests = reviewers_to_request(&scopes, &files, pr, &votes);
    let (labels_to_add, labels_to_remove) = label_changes(configs, &scopes, pr, large_scale);
    Ok(Evaluation {
        overall,
        draft: pr.draft,
        large_scale,
        scopes,
        files,
        to_request: requests.to_request,
        request_candidates: requests.candidates,
        away: requests.away,
        requested_while_away: requests.requested_while_away,
        labels_to_add,
        labels_to_remove,
        instructions_in_use: configs
            .configs
            .iter()
            .flat_map(|c| &c.scopes)
            .any(|s| !s.instructions.trim().is_empty() || s.checklist.is_some()),
        unread_files,
        changed_files: pr.files.len(),
        changed_lines,
    })
}

/// The latest verdict (approved / changes requested) per person, lowercased login → (login,
/// state). Comment-only reviews are skipped; a dismissal removes the earlier verdict; bots
/// never count.
pub fn latest_votes(reviews: &[Review]) -> BTreeMap<String, (String, ReviewState)> {
    let mut ordered: Vec<(usize, &Review)> = reviews.iter().enumerate().collect();
    ordered.sort_by(|(ia, a), (ib, b)| a.submitted_at.cmp(&b.submitted_at).then(ia.cmp(ib)));
    let mut votes = BTreeMap::new();
    for (_, r) in ordered {
        if crate::config::compile::is_bot(&r.user) {
            continue;
        }
        let key = r.user.to_lowercase();
        match r.state {
            ReviewState::Approved | ReviewState::ChangesRequested => {
                votes.insert(key, (r.user.clone(), r.state));
            }
            ReviewState::Dismissed => {
                votes.remove(&key);
            }
            ReviewState::Commented | ReviewState::Pending => {}
        }
    }
    votes
}

fn evaluate_scope(
    scope: Scope,
    files: Vec<String>,
    pr: &PullRequest,
    votes: &BTreeMap<String, (String, ReviewState)>,
) -> ScopeResult {
    let author = pr.author.to_lowercase();
    let mut approved_by = Vec::new();
    let mut rejected_by = Vec::new();
    let mut incomplete_checklists = Vec::new();
    for (key, (login, state)) in votes {
        if *key == author || !scope.counts_toward(login) {
            continue;
        }
        match state {
            ReviewState::Approved => match checklist_gaps(&scope, &pr.reviews, key) {
                Some(gaps) => incomplete_checklists.push((login.clone(), gaps)),
                None => approved_by.push(login.clone()),
            },
            ReviewState::ChangesRequested => rejected_by.push(login.clone()),
            _ => {}
        }
    }
    let points = approved_by.len() as u32 + scope.author_points(&pr.author);
    let waived_by = waiving_checks(&scope, &pr.check_runs);
    let state = if !scope.unless.is_empty() && waived_by.len() == scope.unless.len() {
        ScopeState::Waived
    } else if !rejected_by.is_empty() {
        ScopeState::Rejected
    } else if points >= scope.require {
        ScopeState::Approved
    } else {
        ScopeState::Pending
    };
    let can_approve = if scope.reviewers.iter().any(|r| r == "*") {
        vec!["*".to_string()]
    } else {
        let mut seen = BTreeSet::new();
        scope
            .reviewers
            .iter()
            .chain(&scope.alternates)
            .filter(|r| {
                r.to_lowercase() != author
                    && !r.starts_with('!')
                    && !crate::config::compile::is_bot(r)
                    && seen.insert(r.to_lowercase())
            })
            .cloned()
            .collect()
    };
    let problem = unsolvable(&scope, &pr.author, &can_approve);
    ScopeResult {
        name: scope.name.clone(),
        ownership: scope.ownership,
        required: scope.require,
        scope,
        state,
        points,
        approved_by,
        rejected_by,
        incomplete_checklists,
        can_approve,
        waived_by,
        files,
        problem,
    }
}

/// What the approval of `key` (lowercased login) lacks for `scope`'s checklist, or `None` when
/// the scope has no checklist or the approving review answered it completely. The answer is
/// read from that person's latest approving review.
fn checklist_gaps(scope: &Scope, reviews: &[Review], key: &str) -> Option<Vec<String>> {
    let checklist = scope.checklist.as_ref()?;
    let body = reviews
        .iter()
        .filter(|r| r.state == ReviewState::Approved && r.user.to_lowercase() == key)
        .max_by(|a, b| a.submitted_at.cmp(&b.submitted_at))
        .map_or("", |r| r.body.as_str());
    let answers = crate::checklist::answer(body, &scope.name, &checklist.items);
    let gaps = crate::checklist::missing(&checklist.items, &answers);
    (!gaps.is_empty()).then_some(gaps)
}

/// Names (`producer/name`) of `unless` checks that completed successfully on the head commit.
fn waiving_checks(scope: &Scope, runs: &[CheckRun]) -> Vec<String> {
    scope
        .unless
        .iter()
        .filter(|c| {
            runs.iter().any(|r| {
                r.app.to_lowercase() == c.producer
                    && r.name == c.name
                    && r.status == "completed"
                    && r.conclusion.as_deref() == Some("success")
            })
        })
        .map(|c| format!("{}/{}", c.producer, c.name))
        .collect()
}

/// Why a scope can never pass for this author, if so.
fn unsolvable(scope: &Scope, author: &str, can_approve: &[String]) -> Option<String> {
    if scope.require == 0 || can_approve.iter().any(|r| r == "*") {
        return None;
    }
    if can_approve
        .iter()
        .any(|r| crate::config::compiled::is_unexpanded_ref(r))
    {
        return None;
    }
    let possible = can_approve.len() as u32 + scope.author_points(author);
    if possible >= scope.require {
        return None;
    }
    if can_approve.is_empty() {
        Some("PR author is the only reviewer/alternate and cannot self-approve".to_string())
    } else {
        Some(format!(
            "require={} but only {possible} possible approvals (excluding author)",
            scope.require
        ))
    }
}

fn file_state(owners: &[(ScopeState, Ownership)]) -> Option<ScopeState> {
    match owners {
        [] => None,
        [(state, _)] => Some(*state),
        _ => {
            if owners.iter().any(|(s, _)| *s == ScopeState::Rejected) {
                return Some(ScopeState::Rejected);
            }
            if owners
                .iter()
                .any(|(s, o)| *o == Ownership::Global && s.is_satisfied())
            {
                return Some(ScopeState::Approved);
            }
            let mut primary = owners
                .iter()
                .filter(|(_, o)| *o != Ownership::Global)
                .peekable();
            if primary.peek().is_some() && primary.all(|(s, _)| s.is_satisfied()) {
                return Some(ScopeState::Approved);
            }
            Some(ScopeState::Pending)
        }
    }
}

/// Deterministic per-PR ordering of candidates: a stable hash of (PR number, login).
fn seeded_order(number: u64, login: &str) -> u64 {
    // FNV-1a: stable across Rust versions and platforms (std's hasher is not).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in number
        .to_le_bytes()
        .iter()
        .chain(login.to_lowercase().as_bytes())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// What [`reviewers_to_request`] decided.
#[derive(Default)]
struct Requests {
    to_request: Vec<String>,
    candidates: Vec<String>,
    away: Vec<String>,
    requested_while_away: Vec<String>,
}

/// Who to request now: per scope in declaration order, up to `request` reviewers counting
/// those already requested, those who reviewed and those picked for earlier scopes; never the
/// author, bots, alternates or `"*"`. People who are away are picked only when every fresh
/// candidate of the scope is away; with load facts the fewest open requests go first. A global
/// scope requests only for files no other scope owns. `cc` people are requested too (notified,
/// never required).
fn reviewers_to_request(
    scopes: &[ScopeResult],
    files: &[FileResult],
    pr: &PullRequest,
    votes: &BTreeMap<String, (String, ReviewState)>,
) -> Requests {
    let author = pr.author.to_lowercase();
    let reviewed: BTreeSet<String> = pr.reviews.iter().map(|r| r.user.to_lowercase()).collect();
    let mut engaged: BTreeSet<String> = pr
        .requested_reviewers
        .iter()
        .map(|r| r.to_lowercase())
        .chain(reviewed)
        .chain(votes.keys().cloned())
        .collect();
    let away: BTreeSet<String> = pr
        .reviewer_facts
        .away
        .iter()
        .map(|a| a.to_lowercase())
        .collect();
    let load = |login: &str| {
        pr.reviewer_facts
            .open_requests
            .as_ref()
            .map(|l| l.get(&login.to_lowercase()).copied().unwrap_or(0))
    };
    let mut out = Requests::default();
    let eligible = |login: &str| {
        login != "*"
            && login.to_lowercase() != author
            && !crate::config::compile::is_bot(login)
            && !crate::config::compiled::is_unexpanded_ref(login)
    };
    let mut candidates_seen = BTreeSet::new();
    let mut away_seen = BTreeSet::new();
    for s in scopes {
        if s.state.is_satisfied() || s.scope.request == 0 {
            continue;
        }
        if s.ownership == Ownership::Global {
            let alone = files
                .iter()
                .any(|f| f.scopes.len() == 1 && f.scopes[0] == s.name);
            if !alone {
                continue;
            }
        }
        let candidates: Vec<&String> = s.scope.reviewers.iter().filter(|r| eligible(r)).collect();
        let already = candidates
            .iter()
            .filter(|c| engaged.contains(&c.to_lowercase()))
            .count() as u32;
        let need = s.scope.request.saturating_sub(already) as usize;
        let mut fresh: Vec<&String> = candidates
            .into_iter()
            .filter(|c| !engaged.contains(&c.to_lowercase()))
            .collect();
        if need == 0 || fresh.is_empty() {
            continue;
        }
        for c in &fresh {
            if candidates_seen.insert(c.to_lowercase()) {
                out.candidates.push((*c).clone());
            }
        }
        // Available first; then the fewest open requests (balanced); then the seeded order.
        fresh.sort_by_key(|c| {
            (
                away.contains(&c.to_lowercase()),
                load(c),
                seeded_order(pr.number, c),
                c.to_lowercase(),
            )
        });
        let available = fresh
            .iter()
            .filter(|c| !away.contains(&c.to_lowercase()))
            .count();
        for (i, c) in fresh.iter().enumerate() {
            let is_away = away.contains(&c.to_lowercase());
            if i < need && (!is_away || available == 0) {
                engaged.insert(c.to_lowercase());
                out.to_request.push((*c).clone());
                if is_away {
                    out.requested_while_away.push((*c).clone());
                }
            } else if is_away && away_seen.insert(c.to_lowercase()) {
                out.away.push((*c).clone());
            }
        }
    }
    for s in scopes {
        for c in s.scope.cc.iter().filter(|c| eligible(c)) {
            if engaged.insert(c.to_lowercase()) {
                out.to_request.push(c.clone());
            }
        }
    }
    out
}

/// Labels of matched scopes to add; labels of the config's other scopes to remove.
fn label_changes(
    configs: &ConfigSet,
    scopes: &[ScopeResult],
    pr: &PullRequest,
    large_scale: bool,
) -> (Vec<String>, Vec<String>) {
    let has = |l: &str| pr.labels.iter().any(|p| p.eq_ignore_ascii_case(l));
    let wanted: BTreeSet<String> = scopes
        .iter()
        .flat_map(|s| s.scope.labels.iter().cloned())
        .collect();
    let mut managed: BTreeSet<String> = configs
        .configs
        .iter()
        .flat_map(|c| c.scopes.iter().flat_map(|s| s.labels.iter().cloned()))
        .collect();
    if !large_scale {
        managed.extend(configs.large_scale_change().labels);
    }
    let add = wanted.iter().filter(|l| !has(l)).cloned().collect();
    let remove = managed
        .iter()
        .filter(|l| !wanted.iter().any(|w| w.eq_ignore_ascii_case(l)) && has(l))
        .cloned()
        .collect();
    (add, remove)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigFile, RawSet};

    fn configs(text: &str) -> ConfigSet {
        RawSet::parse([ConfigFile {
            path: "CODEREVIEW.toml".into(),
            text: text.into(),
        }])
        .unwrap()
        .compile(None)
        .unwrap()
    }

    fn file(path: &str) -> FileDiff {
        FileDiff {
            path: path.into(),
            additions: 1,
            ..FileDiff::default()
        }
    }

    #[test]
    fn an_approval_counts_only_with_its_checklist_completed() {
        let c = configs(
            "[[scopes]]\nname = \"backend\"\npaths = [\"**\"]\nreviewers = [\"ana\", \"li\"]\nrequire = 1\n\
             checklist = { items = [{ label = \"Migrations reviewed\" }, { label = \"Rollback plan\", notes = \"required\" }] }\n",
        );
        let approval = |user: &str, at: &str, body: &str| Review {
            user: user.into(),
            state: ReviewState::Approved,
            commit: None,
            submitted_at: Some(at.into()),
            body: body.into(),
        };
        let mut pr = PullRequest {
            author: "bob".into(),
            files: vec![file("a.sql")],
            ..PullRequest::default()
        };
        pr.reviews
            .push(approval("ana", "2026-01-01T00:00:00Z", "LGTM"));
        let e = evaluate(&c, &pr, LargeScaleLimits::default()).unwrap();
        let s = &e.scopes[0];
        assert_eq!((s.state, s.points), (ScopeState::Pending, 0));
        assert_eq!(
            s.incomplete_checklists,
            [(
                "ana".to_string(),
                vec![
                    "checking 'Migrations reviewed'".to_string(),
                    "checking 'Rollback plan'".to_string(),
                    "a note for 'Rollback plan'".to_string()
                ]
            )]
        );
        assert!(e.instructions_in_use);
        let comment = crate::report::instructions_comment(&e).unwrap();
        assert!(
            comment.post_new && comment.body.contains("#### Checklist: backend"),
            "{}",
            comment.body
        );
        assert!(
            crate::report::need(s).contains(
                "ana approved backend without checking 'Migrations reviewed', checking 'Rollback plan' and a note for 'Rollback plan'"
            ),
            "{}",
            crate::report::need(s)
        );

        // Ticking one box is not enough; the latest approving review is the answer.
        pr.reviews.push(approval(
            "ana",
            "2026-01-02T00:00:00Z",
            "- [x] Migrations reviewed\n- [x] Rollback plan — notes:",
        ));
        let e = evaluate(&c, &pr, LargeScaleLimits::default()).unwrap();
        assert_eq!(
            e.scopes[0].incomplete_checklists[0].1,
            ["a note for 'Rollback plan'"]
        );
        pr.reviews.push(approval(
            "ana",
            "2026-01-03T00:00:00Z",
            "#### Checklist: backend\n- [x] Migrations reviewed\n- [x] Rollback plan — notes: revert 4f2a",
        ));
        let e = evaluate(&c, &pr, LargeScaleLimits::default()).unwrap();
        let s = &e.scopes[0];
        assert_eq!(
            (s.state, s.approved_by.as_slice()),
            (ScopeState::Approved, ["ana".to_string()].as_slice())
        );
        assert!(s.incomplete_checklists.is_empty());
    }

    fn requesting(request: u32, reviewers: &[&str]) -> (ConfigSet, PullRequest) {
        let list: Vec<String> = reviewers.iter().map(|r| format!("\"{r}\"")).collect();
        let c = configs(&format!(
            "[[scopes]]\nname = \"all\"\npaths = [\"**\"]\nreviewers = [{}]\nrequire = 1\nrequest = {request}\n",
            list.join(", ")
        ));
        let pr = PullRequest {
            number: 7,
            author: "bob".into(),
            files: vec![file("a.txt")],
            ..PullRequest::default()
        };
        (c, pr)
    }

    #[test]
    fn away_reviewers_are_skipped_unless_everyone_is_away() {
        let (c, mut pr) = requesting(2, &["ana", "li", "mo", "bob"]);
        let e = evaluate(&c, &pr, LargeScaleLimits::default()).unwrap();
        assert_eq!(e.request_candidates, ["ana", "li", "mo"]);
        let first_pick = e.to_request.clone();
        assert_eq!(first_pick.len(), 2);

        pr.reviewer_facts.away = vec![first_pick[0].to_uppercase()];
        let e = evaluate(&c, &pr, LargeScaleLimits::default()).unwrap();
        assert_eq!(e.to_request.len(), 2);
        assert!(!e.to_request.contains(&first_pick[0]), "{:?}", e.to_request);
        assert_eq!(e.away, [first_pick[0].clone()]);
        assert!(e.requested_while_away.is_empty());

        // Only one available: request them and one away person, and say so.
        pr.reviewer_facts.away = vec!["ana".into(), "li".into()];
        let e = evaluate(&c, &pr, LargeScaleLimits::default()).unwrap();
        assert_eq!(e.to_request[0], "mo");
        assert_eq!(
            e.to_request.len(),
            1,
            "available people first, away ones not added"
        );
        assert_eq!(e.away.len(), 2);

        pr.reviewer_facts.away = vec!["ana".into(), "li".into(), "mo".into()];
        let e = evaluate(&c, &pr, LargeScaleLimits::default()).unwrap();
        assert_eq!(e.to_request.len(), 2);
        assert_eq!(e.requested_while_away, e.to_request);
        let md = crate::report::markdown(&e, &crate::report::SummaryContext::default());
        assert!(
            md.contains("although away (everyone who could review is away)"),
            "{md}"
        );
    }

    #[test]
    fn balanced_picks_the_fewest_open_requests_with_stable_ties() {
        let (c, mut pr) = requesting(2, &["ana", "li", "mo", "zoe"]);
        pr.reviewer_facts.open_requests = Some(BTreeMap::from([
            ("ana".to_string(), 5),
            ("li".to_string(), 0),
            ("mo".to_string(), 2),
            ("zoe".to_string(), 2),
        ]));
        let e = evaluate(&c, &pr, LargeScaleLimits::default()).unwrap();
        assert_eq!(e.to_request[0], "li");
        let tie = e.to_request[1].clone();
        assert!(tie == "mo" || tie == "zoe");
        for _ in 0..3 {
            assert_eq!(
                evaluate(&c, &pr, LargeScaleLimits::default())
                    .unwrap()
                    .to_request[1],
                tie
            );
        }
        // Nobody to request (request = 0): no candidates, so no availability lookup.
        let (c, pr) = requesting(0, &["ana", "li"]);
        let e = evaluate(&c, &pr, LargeScaleLimits::default()).unwrap();
        assert!(e.request_candidates.is_empty() && e.to_request.is_empty());
    }

    #[test]
    fn approval_from_a_listed_reviewer_approves() {
        let c = configs(
            "[[scopes]]\nname = \"all\"\npaths = [\"**\"]\nreviewers = [\"alice\"]\nrequire = 1\n",
        );
        let mut pr = PullRequest {
            author: "bob".into(),
            files: vec![file("a.txt")],
            ..PullRequest::default()
        };
        let e = evaluate(&c, &pr, LargeScaleLimits::default()).unwrap();
        assert_eq!(e.overall, Overall::Pending);
        pr.reviews.push(Review {
            user: "Alice".into(),
            state: ReviewState::Approved,
            commit: None,
            submitted_at: Some("2026-01-01T00:00:00Z".into()),
            body: String::new(),
        });
        let e = evaluate(&c, &pr, LargeScaleLimits::default()).unwrap();
        assert_eq!(e.overall, Overall::Success);
        assert_eq!(e.scopes[0].approved_by, ["Alice"]);
    }
}
