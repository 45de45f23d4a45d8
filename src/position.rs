//! Positions in text files, so that every error about a config or rules file can say
//! `file:line:column`.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A place in a text file, 1-based line and column (column counted in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The file.
    pub file: PathBuf,
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` of `text`, read from `file`.
    pub fn at(file: &Path, text: &str, offset: usize) -> Self {
        let offset = offset.min(text.len());
        let before = text.get(..offset).unwrap_or(text);
        let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
        Position {
            file: file.to_owned(),
            line,
            column,
        }
    }

    /// The position where `span` starts.
    pub fn of_span(file: &Path, text: &str, span: Range<usize>) -> Self {
        Self::at(file, text, span.start)
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// Line starts of a text, so that positions of many spans cost a binary search each instead of
/// a scan from the start (rule files have thousands of rules).
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes `text`.
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// 1-based line of byte `offset`.
    pub fn line(&self, offset: usize) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }
}

/// Turns a TOML syntax or type error into a position and a one-line message.
pub fn toml_error(file: &Path, text: &str, err: &toml::de::Error) -> (Position, String) {
    let pos = err.span().map_or_else(
        || Position::at(file, text, 0),
        |s| Position::of_span(file, text, s),
    );
    let message = err.message().trim().replace('\n', " ");
    (pos, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_count_from_one() {
        let text = "a = 1\nbé = 2\n";
        let p = Position::at(Path::new("f.toml"), text, text.find('=').unwrap());
        assert_eq!((p.line, p.column), (1, 3));
        let second = text.rfind('=').unwrap();
        let p = Position::at(Path::new("f.toml"), text, second);
        assert_eq!((p.line, p.column), (2, 4));
        assert_eq!(p.to_string(), "f.toml:2:4");
    }

    #[test]
    fn line_index_agrees_with_position() {
        let text = "a\nbb\n\nccc";
        let idx = LineIndex::new(text);
        for offset in 0..=text.len() {
            assert_eq!(
                idx.line(offset),
                Position::at(Path::new("f"), text, offset).line,
                "{offset}"
            );
        }
    }

    #[test]
    fn offsets_past_the_end_are_clamped() {
        let p = Position::at(Path::new("f"), "ab", 99);
        assert_eq!((p.line, p.column), (1, 3));
    }
}
