//! Problems found in a routine file, each pointing at the text.
//!
//! Every problem is collected (not only the first) and rendered as
//!
//! ```text
//! error: routines/x.toml:12:1: unknown key `colour` in step 3 "Cat-cow"
//!    |
//! 12 | colour = "red"
//!    | ^^^^^^
//!    = help: did you mean `count`?
//! ```

use std::fmt;
use std::ops::Range;

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The routine cannot be used until it is fixed.
    Error,
    /// The routine works, but probably not as meant.
    Warning,
}

/// One problem at one place in a routine file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Byte range of the offending text in the file.
    pub span: Range<usize>,
    /// What is wrong, naming the value.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(span: Range<usize>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            span,
            message: message.into(),
            help: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(span: Range<usize>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(span, message)
        }
    }

    /// Adds the fix.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// Every problem found in one routine file, with the text to point into.
#[derive(Clone, Debug)]
pub struct Report {
    /// The file as named by the user.
    pub file: String,
    /// The file's text (lossily decoded if it was not UTF-8).
    pub source: String,
    /// The problems, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// A report on `file` with no problems yet.
    pub fn new(file: impl Into<String>, source: impl Into<String>) -> Self {
        Report {
            file: file.into(),
            source: source.into(),
            diagnostics: Vec::new(),
        }
    }

    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }

    /// Sorts problems by position, errors first at one position, and drops
    /// exact repeats.
    pub fn sort(&mut self) {
        self.diagnostics.sort_by_key(|d| (d.span.start, d.severity));
        self.diagnostics.dedup();
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        line_col(&self.source, offset)
    }
}

pub use crate::timeline::printable;

/// 1-based line and column (in characters) of byte `offset` in `source`.
/// For many positions in one text, build a [`Lines`] once instead.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    Lines::new(source).line_col(offset)
}

/// Where each line of a text starts, so that finding the line of a position
/// is a binary search, not a scan from the top: a routine with 100,000
/// steps, or as many problems, is checked and reported in linear time.
pub struct Lines<'a> {
    source: &'a str,
    starts: Vec<usize>,
    /// The last position asked for and its column, so that positions asked
    /// for in file order along one long line are counted on from there.
    last: std::cell::Cell<(usize, usize)>,
}

impl<'a> Lines<'a> {
    /// Indexes `source` (one pass).
    pub fn new(source: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines {
            source,
            starts,
            last: std::cell::Cell::new((0, 1)),
        }
    }

    /// 1-based line and column (in characters) of byte `offset`.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(self.source, offset.min(self.source.len()));
        let line = self.starts.partition_point(|&start| start <= offset);
        let line_start = self.starts[line - 1];
        let (last, last_col) = self.last.get();
        let col = if (line_start..=offset).contains(&last) {
            last_col + self.source[last..offset].chars().count()
        } else {
            self.source[line_start..offset].chars().count() + 1
        };
        self.last.set((offset, col));
        // A byte-order mark is no column an editor shows.
        let bom = line == 1 && offset > 0 && self.source.starts_with('\u{feff}');
        (line, col - usize::from(bom))
    }

    /// The text of 1-based line `line`, without its line break.
    fn text(&self, line: usize) -> &'a str {
        let Some(&start) = self.starts.get(line - 1) else {
            return "";
        };
        let end = self
            .starts
            .get(line)
            .map_or(self.source.len(), |&next| next - 1);
        let text = &self.source[start..end];
        text.strip_suffix('\r').unwrap_or(text)
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines = Lines::new(&self.source);
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write_diagnostic(f, &self.file, &lines, d)?;
        }
        Ok(())
    }
}

fn write_diagnostic(
    f: &mut fmt::Formatter<'_>,
    file: &str,
    lines: &Lines<'_>,
    d: &Diagnostic,
) -> fmt::Result {
    let source = lines.source;
    let (line, col) = lines.line_col(d.span.start);
    let label = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let file = printable(file);
    writeln!(f, "{label}: {file}:{line}:{col}: {}", printable(&d.message))?;
    let text = lines.text(line);
    if !text.trim().is_empty() {
        let gutter = line.to_string().len();
        let pad = " ".repeat(gutter);
        // Underline the span on this line only; at least one caret.
        let start = floor_char_boundary(source, d.span.start.min(source.len()));
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let end = floor_char_boundary(source, d.span.end.clamp(start, line_end));
        let width = source[start..end].chars().count().max(1);
        let lead: String = source[line_start..start]
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        writeln!(f, "{pad} |")?;
        writeln!(f, "{line} | {}", printable(text))?;
        writeln!(f, "{pad} | {lead}{}", "^".repeat(width))?;
    }
    if let Some(help) = &d.help {
        let pad = " ".repeat(line.to_string().len());
        writeln!(f, "{pad} = help: {}", printable(help))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_is_no_column() {
        let src = "\u{feff}title = 5\nx";
        let lines = Lines::new(src);
        assert_eq!(lines.line_col(3), (1, 1));
        assert_eq!(lines.line_col(11), (1, 9));
        assert_eq!(lines.line_col(13), (2, 1));
    }

    #[test]
    fn control_characters_are_printed_as_escapes() {
        let src = "title = \"a\u{1b}[2J\"\n";
        let mut r = Report::new("r.toml", src);
        r.diagnostics
            .push(Diagnostic::error(8..15, "bad title \"a\u{1b}[2J\u{0}\"").help("x\u{7}"));
        let shown = r.to_string();
        assert!(
            !shown.chars().any(|c| c.is_control() && c != '\n'),
            "{shown:?}"
        );
        assert!(shown.contains("bad title \"a\\u{1b}[2J\\u{0}\""), "{shown}");
        assert!(shown.contains("help: x\\u{7}"), "{shown}");
    }

    #[test]
    fn lines_find_positions_in_any_order() {
        let src = "ab\r\ncé\n\nxyz";
        let lines = Lines::new(src);
        for offset in [9, 0, 6, 4, 8, 999, 5, 1, 10] {
            assert_eq!(
                lines.line_col(offset),
                line_col_by_scan(src, offset),
                "{offset}"
            );
        }
        assert_eq!(lines.text(1), "ab");
        assert_eq!(lines.text(2), "cé");
        assert_eq!(lines.text(3), "");
        assert_eq!(lines.text(4), "xyz");
        assert_eq!(lines.text(5), "");
    }

    /// The definition `Lines` must agree with.
    fn line_col_by_scan(source: &str, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(source, offset.min(source.len()));
        let before = &source[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (
            before.matches('\n').count() + 1,
            source[line_start..offset].chars().count() + 1,
        )
    }

    #[test]
    fn line_and_column_count_characters() {
        let src = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        // "bé" is 3 bytes; the space after it is column 3.
        assert_eq!(line_col(src, 9), (2, 3));
        assert_eq!(line_col(src, 999), (3, 1));
    }

    #[test]
    fn renders_with_caret_and_help() {
        let mut r = Report::new("r.toml", "title = 1\ncolour = \"red\"\n");
        r.diagnostics
            .push(Diagnostic::error(10..16, "unknown key `colour`").help("did you mean `color`?"));
        assert_eq!(
            r.to_string(),
            "error: r.toml:2:1: unknown key `colour`\n  |\n2 | colour = \"red\"\n  | ^^^^^^\n  = help: did you mean `color`?\n"
        );
    }
}
