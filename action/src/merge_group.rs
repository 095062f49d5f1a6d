//! GitHub merge queues: a required `codereview` status blocks the queue unless the group's head
//! commit gets one too. On `merge_group` (`checks_requested`) each pull request of the group is
//! evaluated again, as on its own pull request event, and one status goes on the group's head:
//! `success` only when every one passes, else the verdict of the first that blocks, named.
//!
//! Nothing is requested, labelled or commented here: the pull requests' own runs do that.

use crate::failure::{Failure, forge_failure};
use crate::status::{Assessment, JobReport, Settings, assess};
use codereview_forge::github::{Github, MergeGroup};
use codereview_forge::{CommitStatus, Forge};
use codereview_policy::report::{self, SummaryContext};
use codereview_policy::review::Overall;
use std::io::Write;
use std::path::Path;

/// A merge group's run: the job report to write (none in a dry run), and the failure of a
/// member (invalid rules, a team the token cannot read) to exit with once the group's status is
/// posted and the report written.
#[derive(Debug)]
pub struct GroupOutcome {
    /// The summary of every member, and the one output: `state`.
    pub report: Option<JobReport>,
    /// The first member's failure, if any.
    pub failure: Option<Failure>,
}

/// One member's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberVerdict {
    /// The pull request number.
    pub number: u64,
    /// Its verdict.
    pub state: Overall,
    /// Its status description.
    pub description: String,
}

fn rank(state: Overall) -> u8 {
    match state {
        Overall::Success => 0,
        Overall::Pending => 1,
        Overall::Failure => 2,
    }
}

/// The group's verdict: the worst member's state; the description names the pull request that
/// blocks (the first with that state), or all of them when they pass.
pub fn group_verdict(members: &[MemberVerdict]) -> (Overall, String) {
    let Some(worst) = members
        .iter()
        .max_by_key(|m| (rank(m.state), std::cmp::Reverse(m.number)))
    else {
        return (
            Overall::Failure,
            "No pull request found in the merge group".to_string(),
        );
    };
    let description = if worst.state == Overall::Success {
        let list: Vec<String> = members.iter().map(|m| format!("#{}", m.number)).collect();
        format!("Merge group approved: {}", list.join(", "))
    } else {
        format!(
            "#{} {}: {}",
            worst.number,
            if worst.state == Overall::Failure {
                "blocks"
            } else {
                "pending"
            },
            worst.description
        )
    };
    (
        worst.state,
        report::truncate(&description, report::MAX_DESCRIPTION),
    )
}

/// Evaluate every pull request of the group and post one status on its head commit.
pub async fn run(
    lookup: &Github,
    group: &MergeGroup,
    root: &Path,
    settings: &Settings,
    out: &mut dyn Write,
) -> Result<GroupOutcome, Failure> {
    let numbers = lookup
        .merge_group_pull_requests(group)
        .await
        .map_err(forge_failure)?;
    let context = settings.context.clone();
    let mut members = Vec::new();
    let mut markdown = format!(
        "## codereview: merge group `{}`\n\n",
        &group.head_sha[..group.head_sha.len().min(12)]
    );
    let mut first_failure = None;
    for number in numbers {
        let forge = lookup.for_pull_request(number);
        let (_, assessment) = assess(&forge, root, settings).await?;
        let (state, description) = assessment.verdict();
        let _ = writeln!(out, "#{number}: {}: {description}", state.as_str());
        markdown.push_str(&format!("### Pull request #{number}\n\n"));
        match assessment {
            Assessment::Evaluated {
                evaluation,
                configs_modified,
                mechanical,
                ..
            } => {
                let _ = write!(out, "{}", report::text(&evaluation));
                let ctx = SummaryContext {
                    context: context.clone(),
                    configs_modified,
                    dry_run: settings.dry_run,
                    mechanical,
                };
                markdown.push_str(&report::markdown(&evaluation, &ctx));
            }
            Assessment::Early { failure, .. } => {
                markdown.push_str(&format!("{}: {description}\n", state.as_str()));
                if first_failure.is_none() {
                    first_failure = failure;
                }
            }
        }
        markdown.push('\n');
        members.push(MemberVerdict {
            number,
            state,
            description,
        });
    }
    let (state, description) = group_verdict(&members);
    let _ = writeln!(out, "merge group: {}: {description}", state.as_str());
    if settings.dry_run {
        let _ = write!(out, "\n{markdown}");
        return Ok(GroupOutcome {
            report: None,
            failure: first_failure,
        });
    }
    lookup
        .post_status(&CommitStatus {
            sha: group.head_sha.clone(),
            state,
            description,
            context,
            target_url: settings.target_url.clone(),
        })
        .await
        .map_err(forge_failure)?;
    Ok(GroupOutcome {
        report: Some(JobReport {
            markdown,
            outputs: vec![("state".to_string(), state.as_str().to_string())],
        }),
        failure: first_failure,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(number: u64, state: Overall, description: &str) -> MemberVerdict {
        MemberVerdict {
            number,
            state,
            description: description.into(),
        }
    }

    #[test]
    fn success_only_when_every_member_passes() {
        let members = [
            member(7, Overall::Success, "1 scope approved"),
            member(9, Overall::Success, "1 scope approved"),
        ];
        assert_eq!(
            group_verdict(&members),
            (Overall::Success, "Merge group approved: #7, #9".into())
        );
    }

    #[test]
    fn the_worst_member_blocks_and_is_named() {
        let members = [
            member(7, Overall::Pending, "1 scope pending: backend needs 1 more"),
            member(8, Overall::Failure, "1 scope rejected: backend"),
            member(9, Overall::Failure, "other"),
        ];
        assert_eq!(
            group_verdict(&members),
            (
                Overall::Failure,
                "#8 blocks: 1 scope rejected: backend".into()
            )
        );
        let members = [
            member(7, Overall::Success, "ok"),
            member(8, Overall::Pending, "1 scope pending: backend needs 1 more"),
        ];
        assert_eq!(
            group_verdict(&members),
            (
                Overall::Pending,
                "#8 pending: 1 scope pending: backend needs 1 more".into()
            )
        );
    }

    #[test]
    fn an_empty_group_fails_closed() {
        assert_eq!(group_verdict(&[]).0, Overall::Failure);
    }
}
