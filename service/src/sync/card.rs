//! A parent's facts from the forge's [`PrCard`], read with the live review state's facts in
//! the same request: the parent then costs no second read of the pull request or its status.

use codereview_forge::PrCard;

use super::model::{PrFacts, PrState, ReviewStatus};

/// The parent facts and the `context` status of a pull request, from the facts the live review
/// state read (`number`, `author`, `head_sha`, `draft`, `base_ref`) and its card.
pub fn parent_facts(
    facts: &codereview_forge::PrFacts,
    card: &PrCard,
    context: &str,
) -> (PrFacts, Option<ReviewStatus>) {
    let pr = &facts.pr;
    let state = match card.state.as_str() {
        "merged" => PrState::Merged,
        "closed" => PrState::Closed,
        _ if pr.draft => PrState::Draft,
        _ => PrState::Open,
    };
    let status = card
        .statuses
        .iter()
        .find(|s| s.context == context)
        .map(|s| ReviewStatus {
            state: s.state.clone(),
            description: s.description.clone(),
        });
    let parent = PrFacts {
        number: i64::try_from(pr.number).unwrap_or_default(),
        title: card.title.clone(),
        author: pr.author.clone(),
        url: card.url.clone(),
        base: facts.base_ref.clone(),
        head: card.head_ref.clone(),
        head_sha: Some(pr.head_sha.clone()).filter(|s| !s.is_empty()),
        additions: card.additions,
        deletions: card.deletions,
        files: card.changed_files,
        state,
    };
    (parent, status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use codereview_forge::StatusContext;
    use codereview_policy::review::PullRequest;

    fn facts(draft: bool) -> codereview_forge::PrFacts {
        codereview_forge::PrFacts {
            pr: PullRequest {
                number: 2,
                author: "Codertocat".into(),
                head_sha: "abc".into(),
                draft,
                ..PullRequest::default()
            },
            base_sha: "b".into(),
            base_ref: "master".into(),
            card: None,
        }
    }

    fn card(state: &str) -> PrCard {
        PrCard {
            title: "Update the README".into(),
            url: "https://github.com/o/r/pull/2".into(),
            state: state.into(),
            head_ref: "changes".into(),
            additions: Some(1),
            deletions: Some(1),
            changed_files: Some(1),
            statuses: vec![
                StatusContext {
                    context: "ci".into(),
                    state: "failure".into(),
                    description: None,
                },
                StatusContext {
                    context: "codereview".into(),
                    state: "success".into(),
                    description: Some("1 scope approved".into()),
                },
            ],
        }
    }

    #[test]
    fn the_card_becomes_the_parents_facts_and_our_status() {
        let (parent, status) = parent_facts(&facts(false), &card("open"), "codereview");
        assert_eq!(parent.number, 2);
        assert_eq!(parent.title, "Update the README");
        assert_eq!(
            (parent.base.as_str(), parent.head.as_str()),
            ("master", "changes")
        );
        assert_eq!(parent.head_sha.as_deref(), Some("abc"));
        assert_eq!(parent.state, PrState::Open);
        let status = status.unwrap();
        assert_eq!(status.state, "success");
        assert_eq!(status.description.as_deref(), Some("1 scope approved"));
        assert!(
            parent_facts(&facts(false), &card("open"), "other")
                .1
                .is_none()
        );
    }

    #[test]
    fn drafts_merged_and_closed() {
        assert_eq!(
            parent_facts(&facts(true), &card("open"), "c").0.state,
            PrState::Draft
        );
        assert_eq!(
            parent_facts(&facts(true), &card("merged"), "c").0.state,
            PrState::Merged
        );
        assert_eq!(
            parent_facts(&facts(false), &card("closed"), "c").0.state,
            PrState::Closed
        );
    }
}
