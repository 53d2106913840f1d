//! Outline: where each mapping entry and list item of a YAML text starts and
//! ends, so that after a deserialization error the offending entry can be
//! blanked out and the file parsed again (see `parse_file`).
//!
//! Blanking replaces characters with spaces and keeps every line break, so
//! every other value keeps its line and column. When the entry was the only
//! one of a block collection, `{}` or `[]` stands in for it, so the parent
//! still holds an (empty) collection rather than null.

use granit_parser::{Event, Parser, ScanError, Span};

/// A node's extent in characters (end exclusive) and shape.
#[derive(Debug)]
struct Node {
    start: usize,
    end: usize,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// A scalar (or alias), with its text.
    Scalar(String),
    Map {
        flow: bool,
        entries: Vec<(Node, Node)>,
    },
    Seq {
        flow: bool,
        items: Vec<Node>,
    },
}

/// Which part of the file an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Aim {
    /// A key (unknown, duplicate): its entry.
    Key,
    /// A mapping lacks a key; serde-saphyr points at the mapping's last key
    /// (or at the mapping itself when it is empty): the entry holding it.
    Missing,
    /// A value: the entry or item holding the value that starts there.
    Value,
}

/// What to blank: a character range, its key path, and what stands in for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    start: usize,
    end: usize,
    /// Keys from the top (`[i]` for list items), e.g. `processes.web.ports`.
    pub path: Vec<String>,
    placeholder: Option<&'static str>,
}

/// The outline of a document.
pub(super) struct Outline {
    root: Option<Node>,
    chars: Vec<char>,
    /// Character index of each line's start.
    line_starts: Vec<usize>,
}

/// One entry or item, found while walking the outline.
struct Slot<'a> {
    path: Vec<String>,
    key_start: Option<usize>,
    value: &'a Node,
    start: usize,
    end: usize,
    depth: usize,
    /// The holding collection is in flow style (`{…}`, `[…]`).
    flow: bool,
    /// The holding collection has no other entry: its placeholder.
    sole: Option<&'static str>,
}

impl Outline {
    /// Outline `text`; `Err` on a YAML syntax error.
    pub(super) fn parse(text: &str) -> Result<Outline, ScanError> {
        let mut events = Vec::new();
        let mut parser = Parser::new_from_str(text);
        while let Some(ev) = parser.next_event() {
            let (ev, span) = ev?;
            match ev {
                Event::StreamStart | Event::DocumentStart(..) | Event::DocumentEnd | Event::Anchor(..) => {}
                Event::StreamEnd => break,
                ev => events.push((ev, span)),
            }
        }
        let mut it = events.into_iter().peekable();
        let root = node(&mut it);
        let chars: Vec<char> = text.chars().collect();
        let mut line_starts = vec![0];
        line_starts.extend(chars.iter().enumerate().filter(|(_, c)| **c == '\n').map(|(i, _)| i + 1));
        Ok(Outline { root, chars, line_starts })
    }

    /// Character index of a 1-based line and column.
    fn index(&self, line: u32, col: u32) -> Option<usize> {
        let start = self.line_starts.get((line as usize).checked_sub(1)?)?;
        Some(start + (col as usize).checked_sub(1)?)
    }

    /// The entry or item an error at `line:col` is about.
    pub(super) fn target(&self, aim: Aim, line: u32, col: u32) -> Option<Target> {
        let pos = self.index(line, col)?;
        let mut slots = Vec::new();
        if let Some(root) = &self.root {
            walk(root, &mut Vec::new(), 0, &mut slots);
        }
        let deepest = |f: &dyn Fn(&Slot) -> bool| slots.iter().filter(|s| f(s)).max_by_key(|s| s.depth);
        let slot = match aim {
            Aim::Key => deepest(&|s| s.key_start == Some(pos)),
            Aim::Missing => deepest(&|s| match &s.value.kind {
                Kind::Map { entries, .. } => s.value.start == pos || entries.iter().any(|(k, _)| k.start == pos),
                _ => false,
            }),
            Aim::Value => deepest(&|s| s.value.start == pos).or_else(|| deepest(&|s| s.start <= pos && pos < s.end)),
        }?;
        let (mut start, mut end) = (slot.start, slot.end.min(self.chars.len()));
        let chars = &self.chars;
        if slot.key_start.is_some() {
            // An empty value ends at its key: the `:` goes too.
            let mut i = end;
            while i < chars.len() && chars[i] == ' ' {
                i += 1;
            }
            if chars.get(i) == Some(&':') {
                end = i + 1;
            }
        }
        if slot.flow {
            // The following comma goes too (a trailing comma is fine in YAML).
            let mut i = end;
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
            if chars.get(i) == Some(&',') {
                end = i + 1;
            }
        } else if slot.key_start.is_none() {
            // A block list item: its `- ` too.
            let mut i = start;
            while i > 0 && chars[i - 1] == ' ' {
                i -= 1;
            }
            if i > 0 && chars[i - 1] == '-' {
                start = i - 1;
            }
        }
        let placeholder = slot.sole.filter(|_| !slot.flow && end - start >= 2);
        Some(Target { start, end, path: slot.path.clone(), placeholder })
    }

    /// The text with `target` blanked out.
    pub(super) fn blank(&self, target: &Target) -> String {
        let mut chars = self.chars.clone();
        let end = target.end.min(chars.len());
        for c in &mut chars[target.start.min(end)..end] {
            if *c != '\n' {
                *c = ' ';
            }
        }
        if let Some(p) = target.placeholder {
            for (i, c) in p.chars().enumerate() {
                chars[target.start + i] = c;
            }
        }
        chars.into_iter().collect()
    }
}

type Events<'a> = std::iter::Peekable<std::vec::IntoIter<(Event<'a>, Span)>>;

/// The next node of the event stream.
fn node(it: &mut Events) -> Option<Node> {
    let (ev, span) = it.next()?;
    let start = span.start.index();
    match ev {
        Event::Scalar(text, ..) => Some(Node { start, end: span.end.index(), kind: Kind::Scalar(text.into_owned()) }),
        Event::Alias(_) | Event::UnresolvedAlias(_) => {
            Some(Node { start, end: span.end.index(), kind: Kind::Scalar(String::new()) })
        }
        Event::MappingStart(style, ..) => {
            let flow = style == granit_parser::StructureStyle::Flow;
            let mut entries = Vec::new();
            loop {
                if matches!(it.peek(), Some((Event::MappingEnd, _)) | None) {
                    let close = it.next().map(|(_, s)| s.end.index());
                    let end = collection_end(
                        flow,
                        close,
                        start,
                        entries.iter().map(|(k, v): &(Node, Node)| k.end.max(v.end)),
                    );
                    return Some(Node { start, end, kind: Kind::Map { flow, entries } });
                }
                let key = node(it)?;
                let value = node(it)?;
                entries.push((key, value));
            }
        }
        Event::SequenceStart(style, ..) => {
            let flow = style == granit_parser::StructureStyle::Flow;
            let mut items = Vec::new();
            loop {
                if matches!(it.peek(), Some((Event::SequenceEnd, _)) | None) {
                    let close = it.next().map(|(_, s)| s.end.index());
                    let end = collection_end(flow, close, start, items.iter().map(|n: &Node| n.end));
                    return Some(Node { start, end, kind: Kind::Seq { flow, items } });
                }
                items.push(node(it)?);
            }
        }
        _ => node(it),
    }
}

/// A flow collection ends at its bracket; a block one with its last child
/// (its end event sits wherever the next token starts).
fn collection_end(flow: bool, close: Option<usize>, start: usize, children: impl Iterator<Item = usize>) -> usize {
    match close {
        Some(close) if flow => close,
        _ => children.max().unwrap_or(start).max(start),
    }
}

/// Every entry and item under `n`, with paths and extents.
fn walk<'a>(n: &'a Node, path: &mut Vec<String>, depth: usize, out: &mut Vec<Slot<'a>>) {
    match &n.kind {
        Kind::Scalar(_) => {}
        Kind::Map { flow, entries } => {
            let sole = (entries.len() == 1).then_some("{}");
            for (k, v) in entries {
                let key = match &k.kind {
                    Kind::Scalar(s) => s.clone(),
                    _ => "?".to_string(),
                };
                path.push(key);
                let end = k.end.max(v.end);
                out.push(Slot {
                    path: path.clone(),
                    key_start: Some(k.start),
                    value: v,
                    start: k.start,
                    end,
                    depth,
                    flow: *flow,
                    sole,
                });
                walk(v, path, depth + 1, out);
                path.pop();
            }
        }
        Kind::Seq { flow, items } => {
            let sole = (items.len() == 1).then_some("[]");
            for (i, v) in items.iter().enumerate() {
                path.push(format!("[{i}]"));
                out.push(Slot {
                    path: path.clone(),
                    key_start: None,
                    value: v,
                    start: v.start,
                    end: v.end,
                    depth,
                    flow: *flow,
                    sole,
                });
                walk(v, path, depth + 1, out);
                path.pop();
            }
        }
    }
}
