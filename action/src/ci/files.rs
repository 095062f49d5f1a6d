//! The job report on disk: GitHub's step summary and outputs files, GitLab's summary file and
//! dotenv report. `status` and `merge_group` only produce a [`JobReport`]; where it goes is the
//! CI's business.

use crate::status::JobReport;
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

/// Where the job summary and outputs go, if anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Publish {
    /// Append the Markdown summary here (`GITHUB_STEP_SUMMARY`).
    pub summary_file: Option<PathBuf>,
    /// Append `key=value` outputs here (`GITHUB_OUTPUT`).
    pub output_file: Option<PathBuf>,
}

/// Append the summary and the `key=value` outputs to the files (both are appended to: other
/// steps of the job write there too).
pub fn append(publish: &Publish, report: &JobReport) -> std::io::Result<()> {
    if let Some(path) = &publish.summary_file {
        let mut f = OpenOptions::new().create(true).append(true).open(path)?;
        writeln!(f, "{}", report.markdown)?;
    }
    if let Some(path) = &publish.output_file {
        let mut f = OpenOptions::new().create(true).append(true).open(path)?;
        f.write_all(outputs_text(report).as_bytes())?;
    }
    Ok(())
}

/// The outputs as `key=value` lines.
pub fn outputs_text(report: &JobReport) -> String {
    report
        .outputs
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect()
}

/// GitLab CI's dotenv report (`artifacts:reports:dotenv`) wants `KEY=value` with keys of ASCII
/// letters, digits and `_`: `state` → `CODEREVIEW_STATE`, `approved-scopes` →
/// `CODEREVIEW_APPROVED_SCOPES`. Lines that are not `key=value` are dropped.
pub fn dotenv_from_outputs(outputs: &str) -> String {
    let mut by_key = BTreeMap::new();
    let mut order = Vec::new();
    for line in outputs.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key: String = key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        let key = format!("CODEREVIEW_{key}");
        if by_key.insert(key.clone(), value.to_string()).is_none() {
            order.push(key);
        }
    }
    order
        .iter()
        .map(|k| format!("{k}={}\n", by_key[k]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_become_a_dotenv_report() {
        assert_eq!(
            dotenv_from_outputs(
                "state=pending\napproved-scopes=a,Large-scale change\npending-scopes=\nnot a pair\n"
            ),
            "CODEREVIEW_STATE=pending\nCODEREVIEW_APPROVED_SCOPES=a,Large-scale change\nCODEREVIEW_PENDING_SCOPES=\n"
        );
    }

    #[test]
    fn the_report_is_appended_to_the_runner_files() {
        let dir = tempfile::tempdir().unwrap();
        let publish = Publish {
            summary_file: Some(dir.path().join("summary.md")),
            output_file: Some(dir.path().join("output.txt")),
        };
        std::fs::write(dir.path().join("output.txt"), "other=1\n").unwrap();
        let report = JobReport {
            markdown: "## codereview".into(),
            outputs: vec![
                ("state".into(), "success".into()),
                ("a-b".into(), "".into()),
            ],
        };
        append(&publish, &report).unwrap();
        let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
        assert_eq!(read("summary.md"), "## codereview\n");
        assert_eq!(read("output.txt"), "other=1\nstate=success\na-b=\n");
        append(&Publish::default(), &report).unwrap();
    }
}
