//! Configuration errors that point at the exact spot to fix.
//!
//! Every error names the file, the 1-based line and column (from the TOML parser's byte spans),
//! and the scope when there is one, so `codereview check` prints `file:line:col: message` that
//! editors and CI log viewers turn into links.

use std::fmt;
use std::ops::Range;

/// One problem in one `CODEREVIEW*.toml` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Repository-relative path of the file, e.g. `backend/CODEREVIEW.toml`.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The scope the error is about, when it is about one.
    pub scope: Option<String>,
    /// What is wrong, in one sentence.
    pub message: String,
}

impl ConfigError {
    /// An error at byte `span` of `text` (the file's contents).
    pub fn at(
        file: &str,
        text: &str,
        span: Option<Range<usize>>,
        scope: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = span.map_or((1, 1), |s| line_col(text, s.start));
        ConfigError {
            file: file.to_string(),
            line,
            column,
            scope: scope.map(str::to_string),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if let Some(scope) = &self.scope {
            write!(f, "scope '{scope}': ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Several configuration errors, reported together so one `check` run shows everything to fix.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The first error, for one-line summaries such as a commit status description.
    pub fn first(&self) -> Option<&ConfigError> {
        self.0.first()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// 1-based (line, column) of byte offset `offset` in `text`; the column counts characters.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let offset = (0..=offset)
        .rev()
        .find(|&o| text.is_char_boundary(o))
        .unwrap_or(0);
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one_in_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(line_col(text, 9), (2, 3));
        assert_eq!(line_col(text, 1000), (3, 1));
    }

    #[test]
    fn display_is_file_line_col_message() {
        let e = ConfigError::at("CODEREVIEW.toml", "x\ny", Some(2..3), Some("api"), "bad");
        assert_eq!(e.to_string(), "CODEREVIEW.toml:2:1: scope 'api': bad");
    }
}
