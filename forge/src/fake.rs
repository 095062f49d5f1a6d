//! An in-memory [`Forge`] for tests: each method answers a configured value (or a configured
//! error), every call is counted, and every write is recorded for the test to read back.
//!
//! It sits behind the `fake` cargo feature, which crates enable in their dev-dependencies
//! (`codereview-forge = { path = "../forge", features = ["fake"] }`): the evaluation's branches
//! (no rules, invalid rules, a team the token cannot read, dry runs, refused writes...) are
//! tested in-process against it, without HTTP, while the release binaries do not carry it.
//! The wiremock suites keep testing what only a real HTTP exchange shows (paging, retries,
//! authentication headers, request counts).

use crate::{CommitStatus, Forge, ForgeError, PrFacts};
use codereview_policy::config::{ConfigFile, Teams};
use codereview_policy::diff::FileDiff;
use codereview_policy::review::ReviewerFacts;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// The [`Forge`] methods, to configure an error for one or count its calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    /// [`Forge::pull_request`].
    PullRequest,
    /// [`Forge::team_members`].
    TeamMembers,
    /// [`Forge::changed_files`].
    ChangedFiles,
    /// [`Forge::post_status`].
    PostStatus,
    /// [`Forge::request_reviewers`].
    RequestReviewers,
    /// [`Forge::find_comment`].
    FindComment,
    /// [`Forge::create_comment`].
    CreateComment,
    /// [`Forge::edit_comment`].
    EditComment,
    /// [`Forge::update_labels`].
    UpdateLabels,
    /// [`Forge::reviewer_facts`].
    ReviewerFacts,
    /// [`Forge::checklist_answers`].
    ChecklistAnswers,
    /// [`Forge::config_files`].
    ConfigFiles,
}

/// One [`Forge::update_labels`] call, as made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelUpdate {
    /// The labels the caller said are there now.
    pub current: Vec<String>,
    /// Labels to add.
    pub add: Vec<String>,
    /// Labels to remove.
    pub remove: Vec<String>,
}

/// What was written through the fake, in call order per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// Every status posted (also those answered with a configured error).
    pub statuses: Vec<CommitStatus>,
    /// Every reviewer request.
    pub reviewer_requests: Vec<Vec<String>>,
    /// Every label update.
    pub labels: Vec<LabelUpdate>,
    /// Bodies of the comments created.
    pub comments_created: Vec<String>,
    /// (id, body) of the comments edited.
    pub comments_edited: Vec<(u64, String)>,
}

#[derive(Debug, Default)]
struct State {
    calls: BTreeMap<Method, usize>,
    errors: BTreeMap<Method, ForgeError>,
    written: Written,
    team_requests: Vec<BTreeSet<String>>,
    /// (people, balanced) of each [`Forge::reviewer_facts`] call.
    reviewer_fact_requests: Vec<(Vec<String>, bool)>,
}

/// An in-memory forge holding one pull request. Build it with [`FakeForge::new`] and the
/// `with_*` methods; read back [`FakeForge::calls`] and [`FakeForge::written`].
#[derive(Debug, Default)]
pub struct FakeForge {
    facts: PrFacts,
    teams: Teams,
    changed_files: Vec<FileDiff>,
    comment: Option<(u64, String)>,
    away: Vec<String>,
    open_requests: BTreeMap<String, u32>,
    checklist_answers: BTreeMap<String, String>,
    config_files: Vec<ConfigFile>,
    state: Mutex<State>,
}

impl FakeForge {
    /// A forge whose pull request has these facts; no teams, no API diff, no comment.
    pub fn new(facts: PrFacts) -> Self {
        FakeForge {
            facts,
            ..FakeForge::default()
        }
    }

    /// What [`Forge::team_members`] answers (whatever teams are asked for).
    pub fn with_teams(mut self, teams: Teams) -> Self {
        self.teams = teams;
        self
    }

    /// What [`Forge::changed_files`] answers.
    pub fn with_changed_files(mut self, files: Vec<FileDiff>) -> Self {
        self.changed_files = files;
        self
    }

    /// The comment [`Forge::find_comment`] finds when its body starts with the marker.
    pub fn with_comment(mut self, id: u64, body: impl Into<String>) -> Self {
        self.comment = Some((id, body.into()));
        self
    }

    /// People [`Forge::reviewer_facts`] reports away (when asked about them).
    pub fn with_away(mut self, people: &[&str]) -> Self {
        self.away = people.iter().map(|p| p.to_string()).collect();
        self
    }

    /// Open review requests per person, reported by [`Forge::reviewer_facts`] when balanced.
    pub fn with_open_requests(mut self, counts: &[(&str, u32)]) -> Self {
        self.open_requests = counts.iter().map(|(p, n)| (p.to_lowercase(), *n)).collect();
        self
    }

    /// `login`'s checklist answer, as [`Forge::checklist_answers`] finds it.
    pub fn with_checklist_answer(mut self, login: &str, text: &str) -> Self {
        self.checklist_answers
            .insert(login.to_lowercase(), text.to_string());
        self
    }

    /// What [`Forge::config_files`] answers (whatever the revision).
    pub fn with_config_files(mut self, files: &[(&str, &str)]) -> Self {
        self.config_files = files
            .iter()
            .map(|(path, text)| ConfigFile {
                path: path.to_string(),
                text: text.to_string(),
            })
            .collect();
        self
    }

    /// The (people, balanced) arguments of each [`Forge::reviewer_facts`] call.
    pub fn reviewer_fact_requests(&self) -> Vec<(Vec<String>, bool)> {
        self.lock().reviewer_fact_requests.clone()
    }

    /// Make `method` fail with `error` (writes are still recorded, as a request was sent).
    pub fn with_error(self, method: Method, error: ForgeError) -> Self {
        self.lock().errors.insert(method, error);
        self
    }

    /// How many times `method` was called.
    pub fn calls(&self, method: Method) -> usize {
        self.lock().calls.get(&method).copied().unwrap_or(0)
    }

    /// Every call made, by method.
    pub fn all_calls(&self) -> BTreeMap<Method, usize> {
        self.lock().calls.clone()
    }

    /// Everything written so far.
    pub fn written(&self) -> Written {
        self.lock().written.clone()
    }

    /// The team sets [`Forge::team_members`] was asked for, in call order.
    pub fn team_requests(&self) -> Vec<BTreeSet<String>> {
        self.lock().team_requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .expect("a test thread panicked holding the fake")
    }

    /// Count the call, run `record` on the state, and answer the configured error or `value`.
    fn call<T>(
        &self,
        method: Method,
        record: impl FnOnce(&mut State),
        value: impl FnOnce() -> T,
    ) -> Result<T, ForgeError> {
        let mut state = self.lock();
        *state.calls.entry(method).or_default() += 1;
        record(&mut state);
        match state.errors.get(&method) {
            Some(e) => Err(e.clone()),
            None => Ok(value()),
        }
    }
}

impl Forge for FakeForge {
    async fn pull_request(&self) -> Result<PrFacts, ForgeError> {
        self.call(Method::PullRequest, |_| {}, || self.facts.clone())
    }

    async fn team_members(&self, teams: &BTreeSet<String>) -> Result<Teams, ForgeError> {
        self.call(
            Method::TeamMembers,
            |s| s.team_requests.push(teams.clone()),
            || self.teams.clone(),
        )
    }

    async fn changed_files(&self) -> Result<Vec<FileDiff>, ForgeError> {
        self.call(Method::ChangedFiles, |_| {}, || self.changed_files.clone())
    }

    async fn post_status(&self, status: &CommitStatus) -> Result<(), ForgeError> {
        self.call(
            Method::PostStatus,
            |s| s.written.statuses.push(status.clone()),
            || (),
        )
    }

    async fn request_reviewers(&self, logins: &[String]) -> Result<(), ForgeError> {
        self.call(
            Method::RequestReviewers,
            |s| s.written.reviewer_requests.push(logins.to_vec()),
            || (),
        )
    }

    async fn find_comment(&self, marker: &str) -> Result<Option<(u64, String)>, ForgeError> {
        self.call(
            Method::FindComment,
            |_| {},
            || {
                self.comment
                    .clone()
                    .filter(|(_, body)| body.starts_with(marker))
            },
        )
    }

    async fn create_comment(&self, body: &str) -> Result<(), ForgeError> {
        self.call(
            Method::CreateComment,
            |s| s.written.comments_created.push(body.to_string()),
            || (),
        )
    }

    async fn edit_comment(&self, id: u64, body: &str) -> Result<(), ForgeError> {
        self.call(
            Method::EditComment,
            |s| s.written.comments_edited.push((id, body.to_string())),
            || (),
        )
    }

    async fn update_labels(
        &self,
        current: &[String],
        add: &[String],
        remove: &[String],
    ) -> Result<(), ForgeError> {
        self.call(
            Method::UpdateLabels,
            |s| {
                s.written.labels.push(LabelUpdate {
                    current: current.to_vec(),
                    add: add.to_vec(),
                    remove: remove.to_vec(),
                })
            },
            || (),
        )
    }
    async fn config_files(&self, _rev: &str) -> Result<Vec<ConfigFile>, ForgeError> {
        self.call(Method::ConfigFiles, |_| {}, || self.config_files.clone())
    }

    async fn reviewer_facts(
        &self,
        people: &[String],
        balanced: bool,
    ) -> Result<ReviewerFacts, ForgeError> {
        let asked = |p: &String| people.iter().any(|q| q.eq_ignore_ascii_case(p));
        self.call(
            Method::ReviewerFacts,
            |s| s.reviewer_fact_requests.push((people.to_vec(), balanced)),
            || ReviewerFacts {
                away: self.away.iter().filter(|p| asked(p)).cloned().collect(),
                open_requests: balanced.then(|| {
                    people
                        .iter()
                        .map(|p| {
                            let key = p.to_lowercase();
                            let n = self.open_requests.get(&key).copied().unwrap_or(0);
                            (key, n)
                        })
                        .collect()
                }),
            },
        )
    }

    async fn checklist_answers(
        &self,
        approvers: &[String],
    ) -> Result<BTreeMap<String, String>, ForgeError> {
        self.call(
            Method::ChecklistAnswers,
            |_| {},
            || {
                approvers
                    .iter()
                    .filter_map(|a| {
                        let key = a.to_lowercase();
                        Some((key.clone(), self.checklist_answers.get(&key)?.clone()))
                    })
                    .collect()
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use codereview_policy::review::Overall;

    fn status() -> CommitStatus {
        CommitStatus {
            sha: "abc".into(),
            state: Overall::Success,
            description: "ok".into(),
            context: "codereview".into(),
            target_url: None,
        }
    }

    #[tokio::test]
    async fn answers_counts_and_records() {
        let facts = PrFacts {
            base_sha: "base".into(),
            ..PrFacts::default()
        };
        let forge = FakeForge::new(facts)
            .with_comment(5, "<!-- m -->\nold")
            .with_error(Method::RequestReviewers, ForgeError::Api("no".into()));
        assert_eq!(forge.pull_request().await.unwrap().base_sha, "base");
        assert_eq!(
            forge.find_comment("<!-- m -->").await.unwrap(),
            Some((5, "<!-- m -->\nold".into()))
        );
        assert_eq!(forge.find_comment("<!-- other -->").await.unwrap(), None);
        forge.post_status(&status()).await.unwrap();
        let refused = forge.request_reviewers(&["alice".into()]).await;
        assert_eq!(refused, Err(ForgeError::Api("no".into())));
        forge
            .update_labels(&["a".into()], &["b".into()], &[])
            .await
            .unwrap();
        forge.edit_comment(5, "new").await.unwrap();
        assert_eq!(forge.calls(Method::FindComment), 2);
        assert_eq!(forge.calls(Method::CreateComment), 0);
        let written = forge.written();
        assert_eq!(written.statuses, vec![status()]);
        assert_eq!(written.reviewer_requests, vec![vec!["alice".to_string()]]);
        assert_eq!(written.labels[0].add, vec!["b".to_string()]);
        assert_eq!(written.comments_edited, vec![(5, "new".to_string())]);
    }
}
