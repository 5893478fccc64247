//! The explanation as JSON (`meshgen explain --output json`): the request,
//! `trace` (the tree of hops) and `outcomes`, laid out as serde_json's
//! pretty printer lays out a document. The tree is written with an explicit
//! stack, not by a recursive `Serialize`: a call chain may nest as deep as
//! the scenario is long. The leaves (a hop's routing, budget, outcomes …)
//! are serialized by serde_json. Formats only; decides nothing.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{Branch, ExplainError, Explanation, Hop, MAX_JSON_DEPTH};

/// Indentation of one level, as serde_json's pretty printer indents.
const INDENT: &str = "  ";

/// Pretty JSON written piece by piece: the layout of
/// `serde_json::to_string_pretty`, one container at a time.
struct Writer {
    out: String,
    /// Per open container: whether it has no member yet.
    empty: Vec<bool>,
}

impl Writer {
    fn newline(&mut self) {
        self.out.push('\n');
        for _ in 0..self.empty.len() {
            self.out.push_str(INDENT);
        }
    }

    /// Opens an object (`{`) or an array (`[`).
    fn open(&mut self, bracket: char) {
        self.out.push(bracket);
        self.empty.push(true);
    }

    /// Closes the innermost container with `}` or `]`.
    fn close(&mut self, bracket: char) {
        if self.empty.pop() == Some(false) {
            self.newline();
        }
        self.out.push(bracket);
    }

    /// Starts a member of the innermost container: an array element, or an
    /// object's key.
    fn member(&mut self) {
        if let Some(empty) = self.empty.last_mut()
            && !std::mem::replace(empty, false)
        {
            self.out.push(',');
        }
        self.newline();
    }

    /// Starts the member `key` of the innermost object.
    fn key(&mut self, key: &str) -> Result<(), serde_json::Error> {
        self.member();
        self.out.push_str(&serde_json::to_string(key)?);
        self.out.push_str(": ");
        Ok(())
    }

    /// Writes a whole value, indented for where it goes.
    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), serde_json::Error> {
        let text = serde_json::to_string_pretty(value)?;
        let mut lines = text.split('\n');
        if let Some(first) = lines.next() {
            self.out.push_str(first);
        }
        for line in lines {
            self.newline();
            self.out.push_str(line);
        }
        Ok(())
    }

    /// `key: value`.
    fn field<T: Serialize + ?Sized>(
        &mut self,
        key: &str,
        value: &T,
    ) -> Result<(), serde_json::Error> {
        self.key(key)?;
        self.value(value)
    }
}

/// A piece of the document still to write.
enum Work<'a> {
    /// A hop object, up to its `branches` array (opened); `true` for a
    /// member of a `calls` array (the trace is the value of a key).
    Hop(Hop<'a>, bool),
    /// The rest of a hop object after its `branches`.
    HopEnd(Hop<'a>),
    /// A branch object, up to its `calls` array (opened).
    Branch(Branch<'a>),
    /// The rest of a branch object after its `calls`.
    BranchEnd { repeated: bool },
}

/// The explanation as one pretty-printed JSON document, with a final line
/// break. Outside the default mode (Istio's API with sidecars) the document
/// names the `routing_api` and `dataplane`, and each hop its
/// `enforcement` (`Enforcement`). The calls of a version reached on several paths are listed at its
/// first appearance; later appearances have `"calls": []` and
/// `"repeated": true`. A trace deeper than `MAX_JSON_DEPTH` hops is refused:
/// each hop lists the versions below it, so the document would grow with
/// the square of the depth.
pub fn render_json(e: &Explanation) -> Result<String, ExplainError> {
    let depth = e.graph.depth();
    if depth > MAX_JSON_DEPTH {
        return Err(ExplainError::TooDeepForJson(depth));
    }
    write(e).map_err(|e| ExplainError::Json(e.to_string()))
}

/// The document, once it is known to be of a reasonable size.
fn write(e: &Explanation) -> Result<String, serde_json::Error> {
    let mut w = Writer {
        out: String::new(),
        empty: Vec::new(),
    };
    w.open('{');
    w.field("scenario", &e.scenario)?;
    w.field("step", &e.step)?;
    w.field("entry", &e.entry)?;
    w.field("method", &e.method)?;
    w.field("uri", &e.uri)?;
    w.field("headers", &e.headers)?;
    if e.shows_enforcement() {
        w.field("routing_api", &e.routing_api)?;
        w.field("dataplane", &e.dataplane)?;
    }
    w.key("trace")?;
    let mut listed: BTreeSet<&str> = BTreeSet::new();
    let mut todo = vec![Work::Hop(e.trace(), false)];
    while let Some(work) = todo.pop() {
        match work {
            Work::Hop(hop, member) => {
                if member {
                    w.member();
                }
                w.open('{');
                w.field("from", hop.from())?;
                w.field("to", hop.to())?;
                w.field("budget", &hop.budget())?;
                w.field("routing", hop.routing())?;
                if let Some(enforcement) = hop.enforcement() {
                    w.field("enforcement", &enforcement)?;
                }
                w.key("branches")?;
                w.open('[');
                todo.push(Work::HopEnd(hop));
                for branch in hop.branches().into_iter().rev() {
                    todo.push(Work::Branch(branch));
                }
            }
            Work::HopEnd(hop) => {
                w.close(']');
                w.field("delay", &hop.delay())?;
                w.field("abort", &hop.abort())?;
                w.field("timeout", &hop.timeout())?;
                w.field("retries", &hop.retries())?;
                w.field("mirror", &hop.mirror())?;
                w.field("outcomes", &hop.outcomes())?;
                w.close('}');
            }
            Work::Branch(branch) => {
                w.member();
                w.open('{');
                w.field("version", branch.version())?;
                w.field("probability", &branch.probability())?;
                w.field("deployed", &branch.deployed())?;
                w.key("calls")?;
                w.open('[');
                let calls = branch.calls();
                let repeated = match branch.label() {
                    Some(version) if !calls.is_empty() => !listed.insert(version),
                    _ => false,
                };
                todo.push(Work::BranchEnd { repeated });
                if !repeated {
                    for call in calls.into_iter().rev() {
                        todo.push(Work::Hop(call, true));
                    }
                }
            }
            Work::BranchEnd { repeated } => {
                w.close(']');
                if repeated {
                    w.field("repeated", &true)?;
                }
                w.close('}');
            }
        }
    }
    w.key("outcomes")?;
    w.value(&e.outcomes)?;
    w.close('}');
    w.out.push('\n');
    Ok(w.out)
}
