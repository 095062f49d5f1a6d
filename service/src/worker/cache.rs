//! In-memory helpers of the worker: a small cache with expiry for lookups (names, ids,
//! identities; never persisted) and one async lock per key, so events of one pull request
//! are handled one at a time in a process.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use codereview_forge::evaluate::{Early, Memo};
use codereview_policy::config::ConfigSet;
use codereview_policy::diff::FileDiff;

use crate::domain::Forge;

/// A small in-memory cache with expiry (lookups only; nothing here is persisted).
pub(crate) struct TtlCache<K, V> {
    map: Mutex<HashMap<K, (Instant, V)>>,
    ttl: Option<Duration>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub(crate) fn new(ttl: Option<Duration>) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let map = self.map.lock().ok()?;
        let (at, v) = map.get(key)?;
        match self.ttl {
            Some(ttl) if at.elapsed() > ttl => None,
            _ => Some(v.clone()),
        }
    }

    pub(crate) fn put(&self, key: K, value: V) {
        if let Ok(mut map) = self.map.lock() {
            if map.len() > 10_000 {
                map.clear();
            }
            map.insert(key, (Instant::now(), value));
        }
    }
}

/// How long the rules at a commit (their teams expanded) and a change's files are kept: a
/// team's membership may change, so not forever.
pub(crate) const REVIEW_MEMO_TTL: Duration = Duration::from_secs(10 * 60);

/// Changes with more files than this are read again rather than kept (memory).
const MAX_KEPT_FILES: usize = 1000;

/// The live review state's inputs that do not change for given commits, in memory only: a
/// pull request's next event then reads just its facts ([`codereview_forge::evaluate::Memo`]).
pub(crate) struct ReviewMemo {
    rules: TtlCache<(Forge, String, String), Result<ConfigSet, Early>>,
    files: TtlCache<(Forge, String, String, String), Vec<FileDiff>>,
    away: TtlCache<(Forge, String), bool>,
}

impl Default for ReviewMemo {
    fn default() -> Self {
        Self {
            rules: TtlCache::new(Some(REVIEW_MEMO_TTL)),
            files: TtlCache::new(Some(REVIEW_MEMO_TTL)),
            away: TtlCache::new(Some(REVIEW_MEMO_TTL)),
        }
    }
}

impl ReviewMemo {
    /// The memo of one repository.
    pub(crate) fn of<'a>(&'a self, forge: Forge, repo: &'a str) -> RepoMemo<'a> {
        RepoMemo {
            memo: self,
            forge,
            repo,
        }
    }
}

/// [`ReviewMemo`] seen from one repository (commit ids are only unique within it).
pub(crate) struct RepoMemo<'a> {
    memo: &'a ReviewMemo,
    forge: Forge,
    repo: &'a str,
}

impl RepoMemo<'_> {
    /// Whether `login` (lower-case) said on the forge they are away, if asked lately.
    pub(crate) fn away(&self, login: &str) -> Option<bool> {
        self.memo.away.get(&(self.forge, login.to_string()))
    }

    /// Keeps what the forge said of `login`'s availability.
    pub(crate) fn keep_away(&self, login: &str, away: bool) {
        self.memo.away.put((self.forge, login.to_string()), away);
    }
}

impl Memo for RepoMemo<'_> {
    fn rules(&self, base_sha: &str) -> Option<Result<ConfigSet, Early>> {
        let key = (self.forge, self.repo.to_string(), base_sha.to_string());
        self.memo.rules.get(&key)
    }

    fn keep_rules(&self, base_sha: &str, rules: &Result<ConfigSet, Early>) {
        let key = (self.forge, self.repo.to_string(), base_sha.to_string());
        self.memo.rules.put(key, rules.clone());
    }

    fn files(&self, base_sha: &str, head_sha: &str) -> Option<Vec<FileDiff>> {
        let key = (
            self.forge,
            self.repo.to_string(),
            base_sha.to_string(),
            head_sha.to_string(),
        );
        self.memo.files.get(&key)
    }

    fn keep_files(&self, base_sha: &str, head_sha: &str, files: &[FileDiff]) {
        if files.len() > MAX_KEPT_FILES || head_sha.is_empty() {
            return;
        }
        let key = (
            self.forge,
            self.repo.to_string(),
            base_sha.to_string(),
            head_sha.to_string(),
        );
        self.memo.files.put(key, files.to_vec());
    }
}

/// One async mutex per key (a PR), created on demand and dropped when unused.
#[derive(Default)]
pub(crate) struct KeyedLocks {
    locks: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

impl KeyedLocks {
    pub(crate) async fn lock(&self, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut map = self.locks.lock().expect("lock map poisoned");
            if map.len() > 1024 {
                map.retain(|_, w| w.strong_count() > 0);
            }
            match map.get(key).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    map.insert(key.to_string(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_their_ttl_and_never_without_one() {
        let short = TtlCache::new(Some(Duration::from_millis(20)));
        short.put("a", 1);
        assert_eq!(short.get(&"a"), Some(1));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(short.get(&"a"), None, "expired");
        let forever = TtlCache::new(None);
        forever.put("a", 1);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(forever.get(&"a"), Some(1));
    }

    #[test]
    fn a_full_cache_starts_over_instead_of_growing() {
        let cache = TtlCache::new(None);
        for i in 0..=10_001 {
            cache.put(i, i);
        }
        assert_eq!(cache.get(&0), None, "cleared once past 10,000 entries");
        assert_eq!(cache.get(&10_001), Some(10_001));
    }

    #[tokio::test]
    async fn one_key_is_held_by_one_task_at_a_time_and_others_are_free() {
        let locks = Arc::new(KeyedLocks::default());
        let held = locks.lock("pr-1").await;
        // Another key is not blocked.
        let other = tokio::time::timeout(Duration::from_millis(100), locks.lock("pr-2")).await;
        assert!(other.is_ok());
        // The same key waits until the first guard is dropped.
        let waiting = {
            let locks = Arc::clone(&locks);
            tokio::spawn(async move {
                let _guard = locks.lock("pr-1").await;
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        drop(held);
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("released")
            .expect("no panic");
    }
}
