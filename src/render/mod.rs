//! Render: plans as text (for people), Markdown (for pull-request comments)
//! or JSON (for machines), to any writer.
//!
//! Renderers decide nothing; they print a `Plan` as it is. Text output is
//! snapshot-tested, so a change in wording is a reviewed diff. `json` holds
//! the other documents of `--output json` (validate, apply, errors).

pub mod json;
mod markdown;
mod text;

pub use markdown::{error_markdown, plan_markdown, MarkdownTitle};
pub use text::{plan_text, Style};

use crate::plan::Plan;
use std::io::{self, Write};

/// The plan as pretty JSON (the same form `plan --out` saves).
pub fn plan_json(plan: &Plan, w: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, plan)?;
    writeln!(w)
}
