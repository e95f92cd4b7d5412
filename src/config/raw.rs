//! The config as written: serde_yaml's document tree, and where each key of
//! it stands in the file, taken from a YAML parser's own events (so a key
//! in a flow mapping, `{a: 1}`, is placed as well as one on its own line).

use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, Parser, Span};
use serde_yaml::Value;

/// A parsed config text: the tree and the place of its keys.
pub(super) struct Raw {
    pub doc: Value,
    pub positions: Positions,
}

/// Why the text is not YAML, and on which line.
#[derive(Debug)]
pub(super) struct Invalid {
    pub line: Option<usize>,
    pub message: String,
}

/// A place in the text, both 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pos {
    pub line: usize,
    pub column: usize,
}

impl From<Span> for Pos {
    fn from(span: Span) -> Pos {
        Pos {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

/// A key written a second time in one mapping.
#[derive(Debug)]
struct Repeat {
    /// Where the mapping starts (as serde_yaml places its errors).
    mapping: Pos,
    key: String,
    at: Pos,
}

/// Where each key path of the document is written (the first time it is),
/// and every later time a mapping repeats a key. The paths are a tree: a
/// key is stored once, under its parent's key, so a deep document costs no
/// more than a flat one.
#[derive(Debug, Default)]
pub(super) struct Positions {
    /// (the parent key's node, or [`TOP`]; the key) → the key's node.
    nodes: HashMap<(usize, String), usize>,
    /// Where each node's key is written, by node.
    places: Vec<Pos>,
    repeats: Vec<Repeat>,
}

/// The parent of the top mapping's keys.
const TOP: usize = usize::MAX;

impl Raw {
    /// Parses config text. A syntax error names the line serde_yaml gives,
    /// except a duplicate key, which serde_yaml places at the start of its
    /// mapping: it is placed at the duplicate.
    pub fn parse(text: &str) -> Result<Raw, Invalid> {
        match serde_yaml::from_str(text) {
            Ok(doc) => Ok(Raw {
                doc,
                positions: Positions::of(text),
            }),
            Err(e) => Err(invalid(text, &e)),
        }
    }
}

fn invalid(text: &str, e: &serde_yaml::Error) -> Invalid {
    let msg = e.to_string();
    let message = msg.split(" at line ").next().unwrap_or(&msg).to_string();
    let line = e.location().map(|l| {
        let mapping = Pos {
            line: l.line(),
            column: l.column(),
        };
        duplicate_key(&message)
            .and_then(|key| Positions::of(text).repeat(mapping, key))
            .map_or(l.line(), |at| at.line)
    });
    Invalid { line, message }
}

/// How serde_yaml names the key of a "duplicate entry with key …" message:
/// `"text"`, `` `true` `` or `12`.
fn duplicate_key(msg: &str) -> Option<&str> {
    Some(msg.split_once("duplicate entry with key ")?.1)
}

impl Positions {
    /// The positions of the keys of `text`'s first document. Text the event
    /// parser refuses keeps the positions read before the refusal.
    pub fn of(text: &str) -> Positions {
        let mut index = Indexer::default();
        for event in Parser::new_from_str(text) {
            let Ok((event, span)) = event else { break };
            if !index.event(event, span) {
                break;
            }
        }
        index.positions
    }

    /// Where the key `path` (from the top, through mappings only) is
    /// written.
    pub fn key(&self, path: &[&str]) -> Option<Pos> {
        let mut node = TOP;
        for k in path {
            node = *self.nodes.get(&(node, k.to_string()))?;
        }
        self.places.get(node).copied()
    }

    /// The node of `key` under `parent`, added at `at` if it is new.
    fn add(&mut self, parent: usize, key: &str, at: Pos) -> usize {
        let next = self.places.len();
        let node = *self.nodes.entry((parent, key.to_string())).or_insert(next);
        if node == next {
            self.places.push(at);
        }
        node
    }

    /// The line of `path`, else of its nearest ancestor that is written.
    pub fn line_of(&self, path: &[&str]) -> Option<usize> {
        (1..=path.len())
            .rev()
            .find_map(|n| self.key(&path[..n]))
            .map(|p| p.line)
    }

    /// The first repeat of the key serde_yaml shows as `shown` in the
    /// mapping that starts at `mapping`.
    fn repeat(&self, mapping: Pos, shown: &str) -> Option<Pos> {
        self.repeats
            .iter()
            .filter(|r| r.mapping.line == mapping.line && shows_as(&r.key, shown))
            .min_by_key(|r| r.mapping.column.abs_diff(mapping.column))
            .map(|r| r.at)
    }
}

/// Whether serde_yaml's rendering `shown` of a key is the key `key`.
fn shows_as(key: &str, shown: &str) -> bool {
    shown == format!("{key:?}") || shown == format!("`{key}`") || shown == key
}

/// A collection being read. `node` is where its keys go in the tree of
/// paths: none below a sequence or a complex key, which no path reaches.
#[derive(Debug)]
enum Frame {
    Mapping {
        start: Pos,
        node: Option<usize>,
        seen: HashSet<String>,
        awaiting: Awaiting,
    },
    Sequence,
}

/// What a mapping reads next.
#[derive(Debug)]
enum Awaiting {
    Key,
    /// The value of the key just read, whose node it is, if any.
    Value(Option<usize>),
}

/// Builds [`Positions`] from parser events.
#[derive(Debug, Default)]
struct Indexer {
    frames: Vec<Frame>,
    positions: Positions,
}

impl Indexer {
    /// Takes one event; false once the first document is over.
    fn event(&mut self, event: Event, span: Span) -> bool {
        match event {
            Event::Scalar(text, ..) => self.scalar(&text, span.into()),
            Event::Alias(_) => self.node_done(),
            Event::MappingStart(..) => {
                let node = self.child_node();
                self.frames.push(Frame::Mapping {
                    start: span.into(),
                    node,
                    seen: HashSet::new(),
                    awaiting: Awaiting::Key,
                });
            }
            Event::SequenceStart(..) => self.frames.push(Frame::Sequence),
            Event::MappingEnd | Event::SequenceEnd => {
                self.frames.pop();
                self.node_done();
            }
            Event::DocumentEnd => return false,
            _ => {}
        }
        true
    }

    /// A scalar: a key of the mapping being read, or a value.
    fn scalar(&mut self, text: &str, at: Pos) {
        let Some(Frame::Mapping {
            start,
            node,
            seen,
            awaiting: awaiting @ Awaiting::Key,
        }) = self.frames.last_mut()
        else {
            return self.node_done();
        };
        if !seen.insert(text.to_string()) {
            self.positions.repeats.push(Repeat {
                mapping: *start,
                key: text.to_string(),
                at,
            });
        }
        let key = node.map(|parent| self.positions.add(parent, text, at));
        *awaiting = Awaiting::Value(key);
    }

    /// The node of the mapping that starts now: the key it is the value
    /// of; the top for the top one.
    fn child_node(&self) -> Option<usize> {
        match self.frames.last() {
            None => Some(TOP),
            Some(Frame::Mapping {
                awaiting: Awaiting::Value(key),
                ..
            }) => *key,
            Some(_) => None,
        }
    }

    /// A node ended: the collection being read moves on past it (a
    /// mapping from a key, complex or not, to its value, or from a value to
    /// the next key).
    fn node_done(&mut self) {
        if let Some(Frame::Mapping { awaiting, .. }) = self.frames.last_mut() {
            *awaiting = match awaiting {
                Awaiting::Key => Awaiting::Value(None),
                Awaiting::Value(_) => Awaiting::Key,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, path: &[&str]) -> Option<(usize, usize)> {
        Positions::of(text).key(path).map(|p| (p.line, p.column))
    }

    #[test]
    fn block_and_flow_keys_have_their_line_and_column() {
        let text = "a:\n  b: 1\n  c: {d: 2,\n      e: [3]}\n'f g': x\n";
        assert_eq!(at(text, &["a"]), Some((1, 1)));
        assert_eq!(at(text, &["a", "b"]), Some((2, 3)));
        assert_eq!(at(text, &["a", "c"]), Some((3, 3)));
        assert_eq!(at(text, &["a", "c", "d"]), Some((3, 7)));
        assert_eq!(at(text, &["a", "c", "e"]), Some((4, 7)));
        assert_eq!(at(text, &["f g"]), Some((5, 1)));
        assert_eq!(at(text, &["a", "d"]), None);
    }

    #[test]
    fn keys_inside_sequences_are_not_taken_for_keys_of_the_mapping_around() {
        let text = "a:\n  - b: 1\n  - {c: 2}\nd: {e: [{f: 1}], g: 2}\n";
        assert_eq!(at(text, &["a", "b"]), None);
        assert_eq!(at(text, &["a", "c"]), None);
        assert_eq!(at(text, &["d", "f"]), None);
        assert_eq!(at(text, &["d", "g"]), Some((4, 18)));
    }

    #[test]
    fn a_complex_key_is_skipped_with_what_is_below_it() {
        let text = "? [k]\n: {v: 1}\n? {x: 1}\n: 2\nafter: {y: 3}\n";
        let p = Positions::of(text);
        assert_eq!(p.key(&["v"]), None);
        assert_eq!(p.key(&["x"]), None);
        assert_eq!(p.key(&["after", "y"]).map(|p| p.line), Some(5));
    }

    #[test]
    fn a_path_not_written_takes_the_line_of_its_nearest_written_ancestor() {
        let p = Positions::of("a:\n  b: *x\n");
        assert_eq!(p.line_of(&["a", "b", "c", "d"]), Some(2));
        assert_eq!(p.line_of(&["z"]), None);
        assert_eq!(p.line_of(&[]), None);
    }

    #[test]
    fn the_first_key_of_a_path_written_twice_is_the_one_placed() {
        let p = Positions::of("a:\n  b: 1\n  b: 2\n");
        assert_eq!(p.key(&["a", "b"]).map(|p| p.line), Some(2));
        assert_eq!(
            p.repeat(Pos { line: 2, column: 3 }, "\"b\"")
                .map(|p| p.line),
            Some(3)
        );
    }

    #[test]
    fn text_the_event_parser_refuses_keeps_what_came_before() {
        let p = Positions::of("a: 1\nb: [\n");
        assert_eq!(p.key(&["a"]).map(|p| p.line), Some(1));
    }

    #[test]
    fn a_duplicate_key_that_is_not_a_string_is_placed_too() {
        let e = Raw::parse("a: 1\n1: x\nb: 2\n1: y\n").err().unwrap();
        assert_eq!(e.line, Some(4), "{e:?}");
        let e = Raw::parse("true: x\nb: 2\ntrue: y\n").err().unwrap();
        assert_eq!(e.line, Some(3), "{e:?}");
    }
}
