//! How deeply a routine's TOML nests tables, lists and dotted keys,
//! measured on the text before it is parsed.
//!
//! The TOML parser stops at its own recursion limit with a message that
//! names neither the limit nor, for dotted keys, the place (it said 1:1).
//! Measuring first lets the error point at the bracket or dot that goes one
//! level too deep. [`MAX_NESTING`] is below the parser's limits (80 nested
//! lists; a little more for dotted keys), so the parser never meets them.

/// The deepest a value may sit: each `[table]` header segment, dotted key
/// segment, list and inline table is one level. A routine needs four or
/// five (`[[step]]`, a key, a list of phrases).
pub const MAX_NESTING: usize = 64;

/// Where the text first goes deeper than [`MAX_NESTING`]: the byte offset
/// of the bracket, brace or key that does, if any.
///
/// A lexical scan, not a parser: strings and comments are skipped, and a
/// text that is not TOML is left for the parser to report.
pub fn too_deep(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    // Inside each open list or inline table, the level of its elements.
    let mut open: Vec<(u8, usize)> = Vec::new();
    // The level of the keys of the current `[table]`.
    let mut table = 0;
    let mut level = 0;
    let mut mode = Mode::LineStart;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'#' => {
                i = end_of_line(bytes, i);
                continue;
            }
            b'"' | b'\'' => {
                if mode == Mode::LineStart {
                    mode = Mode::Key;
                    level = table + 1;
                    if level > MAX_NESTING {
                        return Some(i);
                    }
                }
                i = end_of_string(bytes, i);
                continue;
            }
            b'\n' if open.is_empty() => mode = Mode::LineStart,
            b' ' | b'\t' | b'\r' | b'\n' => {}
            b'[' if mode == Mode::LineStart => {
                // A `[table]` or `[[table]]` header: one level a segment.
                mode = Mode::Header;
                level = 1;
                if bytes.get(i + 1) == Some(&b'[') {
                    i += 1;
                }
            }
            b']' if mode == Mode::Header => {
                table = level;
                mode = Mode::AfterHeader;
            }
            b'.' if matches!(mode, Mode::Header | Mode::Key) => {
                level += 1;
                if level > MAX_NESTING {
                    return Some(i);
                }
            }
            b'=' if mode == Mode::Key => mode = Mode::Value,
            b'[' | b'{' if mode == Mode::Value => {
                level += 1;
                open.push((b, level));
                if b == b'{' {
                    // Its first key is one level further in.
                    mode = Mode::Key;
                    level += 1;
                }
                if level > MAX_NESTING {
                    return Some(i);
                }
            }
            b',' if mode == Mode::Value => {
                if let Some(&(bracket, inner)) = open.last() {
                    level = inner;
                    if bracket == b'{' {
                        mode = Mode::Key;
                        level += 1;
                    }
                }
            }
            // `}` also ends an empty inline table, still waiting for a key.
            b']' | b'}' if !open.is_empty() && matches!(mode, Mode::Value | Mode::Key) => {
                mode = Mode::Value;
                open.pop();
                level = open.last().map_or(level, |&(_, inner)| inner);
            }
            _ if mode == Mode::LineStart => {
                // The first character of a key.
                mode = Mode::Key;
                level = table + 1;
                if level > MAX_NESTING {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Where the scan is on its line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Before anything but blanks.
    LineStart,
    /// In a `[table]` header.
    Header,
    /// After a header's closing bracket.
    AfterHeader,
    /// In a key, before its `=`.
    Key,
    /// In a value.
    Value,
}

/// The index of the newline ending the line at `i`, or the text's end.
fn end_of_line(bytes: &[u8], i: usize) -> usize {
    bytes[i..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |n| i + n)
}

/// The index just after the string starting at `i` (`"…"`, `'…'`, or their
/// triple-quoted forms), or the text's end; a one-line string also ends at
/// its line's end (the parser reports it).
fn end_of_string(bytes: &[u8], i: usize) -> usize {
    let quote = bytes[i];
    let basic = quote == b'"';
    let triple = bytes.get(i + 1) == Some(&quote) && bytes.get(i + 2) == Some(&quote);
    let mut j = if triple { i + 3 } else { i + 1 };
    while j < bytes.len() {
        match bytes[j] {
            b'\\' if basic => j += 1,
            b'\n' if !triple => return j,
            b if b == quote
                && (!triple
                    || (bytes.get(j + 1) == Some(&quote) && bytes.get(j + 2) == Some(&quote))) =>
            {
                return if triple { j + 3 } else { j + 1 };
            }
            _ => {}
        }
        j += 1;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routines_nest_a_few_levels() {
        for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/routines")).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            assert_eq!(too_deep(&text), None);
        }
    }

    #[test]
    fn the_level_past_the_limit_is_found() {
        let lists = |n: usize| format!("x = {}{}", "[".repeat(n), "]".repeat(n));
        // `x` is level 1; each list one more.
        assert_eq!(too_deep(&lists(MAX_NESTING - 1)), None);
        assert_eq!(too_deep(&lists(MAX_NESTING)), Some(4 + MAX_NESTING - 1));
        assert_eq!(too_deep(&lists(5000)), Some(4 + MAX_NESTING - 1));
        let dotted = |n: usize| format!("t = 1\n{} = 1\n", vec!["a"; n].join("."));
        assert_eq!(too_deep(&dotted(MAX_NESTING)), None);
        // The dot before segment 65.
        assert_eq!(
            too_deep(&dotted(MAX_NESTING + 1)),
            Some(6 + 2 * MAX_NESTING - 1)
        );
        let header = |n: usize| format!("[{}]\nb = 1\n", vec!["a"; n].join("."));
        assert_eq!(too_deep(&header(MAX_NESTING - 1)), None);
        // The header's table is at the limit; its key one past it.
        assert_eq!(too_deep(&header(MAX_NESTING)), Some(2 * MAX_NESTING + 2));
        let tables = |n: usize| format!("x = {}1{}", "{a=".repeat(n), "}".repeat(n));
        assert_eq!(too_deep(&tables(MAX_NESTING / 2 - 1)), None);
        assert!(too_deep(&tables(MAX_NESTING / 2)).is_some());
    }

    #[test]
    fn strings_comments_and_closed_brackets_do_not_count() {
        let deep = "[".repeat(200);
        for text in [
            format!("x = \"{deep}\"\n"),
            format!("x = '{deep}'\n"),
            format!("x = \"\"\"\n{deep}\n\"\"\"\n"),
            format!("x = '''\n{deep}\n'''\n"),
            format!("# {deep}\nx = 1\n"),
            format!("x = \"a\\\"{deep}\"\n"),
            "x = [[1], [2], [3]]\n".repeat(100),
            "x = [{}, {a = {}}, {b = [{}]}]\n".repeat(100),
            "[[step]]\nsay = [\"a.b.c\", \"d\"]\nhold = 1.5\n".repeat(100),
            format!("\"{}\" = 1\n", "a.".repeat(200)),
        ] {
            assert_eq!(too_deep(&text), None, "{text}");
        }
    }
}
