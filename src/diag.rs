//! Diagnostics: an error in the user's input, with where and what to do.
//!
//! Every validation problem becomes a `Diagnostic` naming the file (relative
//! to the repository), line and column, what was expected, and a hint when
//! one exists. `berth validate` prints them all at once; with `--output
//! json` they are the `diagnostics` of the error document.

use schemars::JsonSchema;
use serde::Serialize;
use std::fmt;

/// One problem in the repository's files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Diagnostic {
    /// Repository-relative path, e.g. `apps/web.yaml`.
    pub file: String,
    /// 1-based; 0 when the problem is about the file as a whole.
    pub line: u32,
    pub col: u32,
    /// What is wrong and what was expected, one line.
    pub message: String,
    /// What to do about it, e.g. "did you mean `image`?".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Source excerpt with a caret, when available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
}

impl Diagnostic {
    pub fn new(file: impl Into<String>, line: u32, col: u32, message: impl Into<String>) -> Self {
        Diagnostic { file: file.into(), line, col, message: message.into(), hint: None, snippet: None }
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    /// First line `file:line:col: message`, then the hint and snippet indented.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}:{}: {}", self.file, self.line, self.col, self.message)?;
        } else {
            write!(f, "{}: {}", self.file, self.message)?;
        }
        if let Some(snippet) = &self.snippet {
            for l in snippet.lines() {
                write!(f, "\n    {l}")?;
            }
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// All problems found in one pass, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
