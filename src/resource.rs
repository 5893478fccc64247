//! Resources: the identity of a Kubernetes object (apiVersion, kind, namespace,
//! name) and a rendered document parsed back to prove it is exactly that one
//! object, held as rendered or packed (`Packer`) until its file is written.
//! Owns no templates and no ordering.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use compact_str::CompactString;
use granit_parser::{Event, Parser, ScalarStyle};
use serde::Serialize;

use crate::model::parse_duration;

mod subset;

/// apiVersion, kind, namespace and name: what `kubectl` and Argo CD key objects by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceId {
    /// `apiVersion`, `kind` and `metadata.namespace`, held once for every
    /// identity that has them.
    scope: &'static Scope,
    /// `metadata.name`, held inline when short (most are).
    pub name: CompactString,
}

/// An apiVersion, a kind and a namespace (`None` for cluster-scoped kinds).
/// Each is made once in a process and kept (`Scope::of`): hundreds of
/// thousands of identities of a large build are of a few dozen types in
/// one namespace, and a folder `diff --against` reads holds at most as many
/// scopes as documents. Ordered as identities are: by apiVersion, kind,
/// then namespace.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Scope {
    api_version: Box<str>,
    kind: Box<str>,
    namespace: Option<Box<str>>,
}

impl Scope {
    /// The one `Scope` of `api_version`, `kind` and `namespace`.
    fn of(api_version: &str, kind: &str, namespace: Option<&str>) -> &'static Self {
        thread_local! {
            /// The scope of the last identity made on this thread: a build
            /// makes its identities a group of one type at a time.
            static LAST: Cell<Option<&'static Scope>> = const { Cell::new(None) };
        }
        /// Every scope made so far.
        static ALL: Mutex<BTreeSet<&'static Scope>> = Mutex::new(BTreeSet::new());
        if let Some(last) = LAST.get()
            && *last.api_version == *api_version
            && *last.kind == *kind
            && last.namespace.as_deref() == namespace
        {
            return last;
        }
        let wanted = Self {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: namespace.map(Box::from),
        };
        let mut all = ALL.lock().unwrap_or_else(PoisonError::into_inner);
        let found = match all.get(&wanted) {
            Some(&found) => found,
            None => {
                let made: &'static Self = Box::leak(Box::new(wanted));
                all.insert(made);
                made
            }
        };
        LAST.set(Some(found));
        found
    }
}

impl ResourceId {
    /// A namespaced resource.
    pub fn namespaced(api_version: &str, kind: &str, namespace: &str, name: &str) -> Self {
        Self {
            scope: Scope::of(api_version, kind, Some(namespace)),
            name: name.into(),
        }
    }

    /// A cluster-scoped resource.
    pub fn cluster(api_version: &str, kind: &str, name: &str) -> Self {
        Self {
            scope: Scope::of(api_version, kind, None),
            name: name.into(),
        }
    }

    /// `apiVersion`, e.g. `networking.istio.io/v1alpha3`.
    pub fn api_version(&self) -> &'static str {
        &self.scope.api_version
    }

    /// `kind`.
    pub fn kind(&self) -> &'static str {
        &self.scope.kind
    }

    /// `metadata.namespace`; `None` for cluster-scoped kinds.
    pub fn namespace(&self) -> Option<&'static str> {
        self.scope.namespace.as_deref()
    }
}

impl Serialize for ResourceId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let fields = if self.namespace().is_some() { 4 } else { 3 };
        let mut out = serializer.serialize_struct("ResourceId", fields)?;
        out.serialize_field("apiVersion", self.api_version())?;
        out.serialize_field("kind", self.kind())?;
        if let Some(namespace) = self.namespace() {
            out.serialize_field("namespace", namespace)?;
        }
        out.serialize_field("name", self.name.as_str())?;
        out.end()
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.namespace() {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind(), self.name),
            None => write!(f, "{} {}", self.kind(), self.name),
        }
    }
}

/// One rendered Kubernetes object.
#[derive(Debug, Clone)]
pub struct Resource {
    /// Who it is.
    pub id: ResourceId,
    /// The YAML document (`text`).
    text: Text,
}

/// How a document's text is held. A build keeps every document until its
/// file is written, and a large mesh's output is several times its
/// scenario; documents of one template differ in a few names, so the
/// groups a build keeps are held compressed (`Packer`): 6 to 9 times smaller.
#[derive(Clone)]
enum Text {
    /// As rendered.
    Plain(Box<str>),
    /// LZ4-compressed, its length first, at `start..end` of a block that
    /// holds its batch's documents one after another.
    Packed {
        block: Arc<PackedBlock>,
        start: u32,
        end: u32,
    },
}

/// The packed documents of one batch, in one heap block rather than one
/// each (a large build keeps hundreds of thousands of them), and the
/// dictionary they are compressed against: the start of a document of the
/// same template.
struct PackedBlock {
    dictionary: Arc<[u8]>,
    bytes: Box<[u8]>,
}

impl PackedBlock {
    /// The document packed at `start..end`.
    fn unpack(&self, start: u32, end: u32) -> String {
        let at = |offset: u32| usize::try_from(offset).expect("a u32 offset fits in usize");
        let unpacked = lz4_flex::block::decompress_size_prepended_with_dict(
            &self.bytes[at(start)..at(end)],
            &self.dictionary,
        )
        .expect("a document packed in this process unpacks");
        String::from_utf8(unpacked).expect("a packed document is UTF-8")
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Plain(text) => text.fmt(f),
            Self::Packed { start, end, .. } => {
                write!(f, "<{} bytes packed>", end.saturating_sub(*start))
            }
        }
    }
}

impl Resource {
    /// Parses `text` back and checks that it is one mapping whose apiVersion,
    /// kind, metadata.name and metadata.namespace are exactly `id`'s and whose
    /// `metadata.annotations` hold every pair of `annotations`.
    ///
    /// The whole document is read, so it must be valid YAML; a mapping with a
    /// repeated key, an anchor, an alias or a tag is refused as well, since
    /// meshgen's formatter writes none of them. Documents in the plain block
    /// style meshgen writes are read by a fast line reader (`subset`); any
    /// other text goes event by event through the full YAML parser.
    pub fn parse(
        id: ResourceId,
        text: String,
        annotations: &[(&str, &str)],
    ) -> Result<Self, String> {
        let found = match subset::read_identity(&text) {
            Some(found) => {
                debug_assert_eq!(
                    Ok(&found),
                    read_identity(&text).as_ref(),
                    "the subset reader and the full parser disagree on {text:?}"
                );
                found
            }
            None => read_identity(&text)?,
        };
        let found_id = (
            found.api_version.as_deref(),
            found.kind.as_deref(),
            found.namespace.as_deref(),
            found.name.as_deref(),
        );
        let wanted = (
            Some(id.api_version()),
            Some(id.kind()),
            id.namespace(),
            Some(id.name.as_str()),
        );
        if found_id != wanted {
            return Err(format!(
                "expected {id} ({}), found {found_id:?}",
                id.api_version()
            ));
        }
        for (key, value) in annotations {
            let written = found.annotations.iter().find(|(k, _)| k == key);
            if written.map(|(_, v)| v.as_ref()) != Some(*value) {
                return Err(format!(
                    "it does not write the annotation `{key}: \"{value}\"` under \
                     metadata.annotations"
                ));
            }
        }
        Ok(Self {
            id,
            text: Text::Plain(text.into_boxed_str()),
        })
    }

    /// The YAML document, ending in a newline, without a `---` line;
    /// unpacked when it is held packed.
    pub fn text(&self) -> Cow<'_, str> {
        match &self.text {
            Text::Plain(text) => Cow::Borrowed(text),
            Text::Packed { block, start, end } => Cow::Owned(block.unpack(*start, *end)),
        }
    }

    /// The document as a JSON value, parsed on demand (for field-level diffs
    /// and schema checks, which only some commands need).
    pub fn value(&self) -> serde_json::Value {
        // The text parsed when the resource was made, so this cannot fail.
        serde_saphyr::from_str(&self.text()).unwrap_or(serde_json::Value::Null)
    }

    /// `resources`, documents of one template, held packed (`Packer`).
    pub fn pack(resources: Vec<Resource>) -> Vec<Resource> {
        Packer::default().pack(resources)
    }
}

/// Holds documents of one template compressed, a batch at a time, for as
/// long as a build keeps them: the start of the group's first document is
/// the dictionary against which every other is compressed (a copy: the
/// first stays as it is), and every `BLOCK_DOCUMENTS` of them share a heap
/// block. Their texts read the same.
#[derive(Default)]
pub struct Packer {
    /// Up to `DICTIONARY_BYTES` of the group's first document.
    dictionary: Option<Arc<[u8]>>,
}

/// The most of a group's first document its dictionary holds: every
/// document's compression reads the whole dictionary first, so a template
/// that writes large documents must not make each one cost that much again.
/// meshgen's documents are a few hundred bytes.
const DICTIONARY_BYTES: usize = 4096;

/// How many packed documents share a heap block: a few tens of KiB, each
/// compressed by one thread.
const BLOCK_DOCUMENTS: usize = 256;

impl Packer {
    /// `resources`, the group's next documents, packed (on every core, for many).
    pub fn pack(&mut self, mut resources: Vec<Resource>) -> Vec<Resource> {
        let rest = match (&self.dictionary, resources.first()) {
            (None, Some(first)) => {
                let Text::Plain(text) = &first.text else {
                    return resources;
                };
                let start = &text.as_bytes()[..text.len().min(DICTIONARY_BYTES)];
                self.dictionary = Some(Arc::from(start));
                &mut resources[1..]
            }
            _ => &mut resources[..],
        };
        let Some(dictionary) = &self.dictionary else {
            return resources;
        };
        let batches: Vec<&[Resource]> = rest.chunks(BLOCK_DOCUMENTS).collect();
        let packed = crate::parallel::map(&batches, |batch| pack_batch(batch, dictionary));
        // The counts of the dictionary and of each block are raised here, on
        // one thread: raised by every thread at once, they would bounce
        // between the cores.
        for (batch, (bytes, ends)) in rest.chunks_mut(BLOCK_DOCUMENTS).zip(packed) {
            let block = Arc::new(PackedBlock {
                dictionary: Arc::clone(dictionary),
                bytes: bytes.into_boxed_slice(),
            });
            for (resource, range) in batch.iter_mut().zip(ends) {
                if let Some((start, end)) = range {
                    resource.text = Text::Packed {
                        block: Arc::clone(&block),
                        start,
                        end,
                    };
                }
            }
        }
        resources
    }
}

/// The plain texts of `batch` LZ4-compressed against `dictionary`, one after
/// another, and where each one is (`None` for a document that stays as it
/// is: already packed, or a text too large to pack).
fn pack_batch(batch: &[Resource], dictionary: &[u8]) -> (Vec<u8>, Vec<Option<(u32, u32)>>) {
    let mut bytes = Vec::new();
    let ranges = (batch.iter())
        .map(|resource| {
            let Text::Plain(text) = &resource.text else {
                return None;
            };
            let start = bytes.len();
            compress(text, dictionary, &mut bytes)?;
            Some((u32::try_from(start).ok()?, u32::try_from(bytes.len()).ok()?))
        })
        .collect();
    (bytes, ranges)
}

/// Appends `text` LZ4-compressed against `dictionary` to `out`, its length
/// first (as `lz4_flex::block::decompress_size_prepended_with_dict` reads
/// it); `None`, with `out` unchanged, for a text of 4 GiB or more, which
/// that length cannot give.
fn compress(text: &str, dictionary: &[u8], out: &mut Vec<u8>) -> Option<()> {
    thread_local! {
        /// Room for the largest output so far, reused by every call: the
        /// library's own would zero a new one each time.
        static OUTPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    let length = u32::try_from(text.len()).ok()?;
    OUTPUT.with_borrow_mut(|output| {
        let room = lz4_flex::block::get_maximum_output_size(text.len());
        if output.len() < room {
            output.resize(room, 0);
        }
        let written =
            lz4_flex::block::compress_into_with_dict(text.as_bytes(), output, dictionary).ok()?;
        out.extend_from_slice(&length.to_le_bytes());
        out.extend_from_slice(&output[..written]);
        Some(())
    })
}

#[cfg(test)]
impl Resource {
    /// A resource of `text` as it is, not parsed back: for the tests of what
    /// reads documents.
    pub(crate) fn unchecked(id: ResourceId, text: &str) -> Self {
        Self {
            id,
            text: Text::Plain(text.into()),
        }
    }
}

/// Words YAML 1.1 (which Kubernetes still speaks) reads as booleans or null.
const YAML_1_1_WORDS: &[&str] = &["y", "n", "yes", "no", "true", "false", "on", "off", "null"];

/// Whether `text`, written as a plain (unquoted) YAML scalar, reads back as
/// this same string in YAML 1.1 and 1.2: it starts with a letter or `/`, holds
/// only characters that cannot start structure, and is no YAML 1.1 keyword;
/// or it is a Go duration such as `7s` (never a number in any YAML schema).
/// meshgen's formatter writes a string plain only then, and the parse-back
/// takes a plain identity value as a string only then.
pub fn plain_scalar_is_string(text: &str) -> bool {
    let bytes = text.as_bytes();
    match bytes.first() {
        // Only a duration starts with a digit.
        Some(first) if first.is_ascii_digit() => {
            bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'.')
                && parse_duration(text).is_some()
        }
        Some(first) if first.is_ascii_alphabetic() || *first == b'/' => {
            bytes.iter().all(|&b| PLAIN_BYTES[usize::from(b)])
                && !text.ends_with(':')
                && (text.len() > LONGEST_YAML_1_1_WORD
                    || !YAML_1_1_WORDS.iter().any(|w| w.eq_ignore_ascii_case(text)))
        }
        _ => false,
    }
}

/// The length of the longest of `YAML_1_1_WORDS`.
const LONGEST_YAML_1_1_WORD: usize = {
    let mut longest = 0;
    let mut i = 0;
    while i < YAML_1_1_WORDS.len() {
        if YAML_1_1_WORDS[i].len() > longest {
            longest = YAML_1_1_WORDS[i].len();
        }
        i += 1;
    }
    longest
};

/// Per byte, whether it may stand in a plain scalar meshgen writes (and the
/// parse-back's fast lane reads): an ASCII letter or digit, or one of
/// `._/@:+=-`. Looked up, not tested: every value of every document is
/// checked byte by byte.
const PLAIN_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric()
            || matches!(b, b'.' | b'_' | b'/' | b'@' | b':' | b'+' | b'=' | b'-');
        byte += 1;
    }
    table
};

/// The identity fields a document holds, as the parse-back read them.
#[derive(Debug, Default, PartialEq)]
struct Found<'a> {
    api_version: Option<Cow<'a, str>>,
    kind: Option<Cow<'a, str>>,
    namespace: Option<Cow<'a, str>>,
    name: Option<Cow<'a, str>>,
    annotations: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Found<'a> {
    /// Records the scalar `value` of `key` in a mapping at `place` when that
    /// is an identity field. An identity value counts only as a string (it was
    /// `quoted`, or reads as one plain): `name: null` or `wave: 2` is not the
    /// string Kubernetes wants.
    fn record(&mut self, place: Place, key: &str, value: Cow<'a, str>, quoted: bool) {
        let slot = match (place, key) {
            (Place::Root, "apiVersion") => &mut self.api_version,
            (Place::Root, "kind") => &mut self.kind,
            (Place::Metadata, "namespace") => &mut self.namespace,
            (Place::Metadata, "name") => &mut self.name,
            (Place::Annotations, _) => {
                if quoted || plain_scalar_is_string(&value) {
                    self.annotations.push((Cow::Owned(key.to_owned()), value));
                }
                return;
            }
            _ => return,
        };
        if quoted || plain_scalar_is_string(&value) {
            *slot = Some(value);
        }
    }
}

/// Where a mapping sits: the identity lives at three known paths.
#[derive(Clone, Copy, PartialEq)]
enum Place {
    Root,
    Metadata,
    Annotations,
    Elsewhere,
}

impl Place {
    /// The place of the value under `key` in a mapping at `self`.
    fn child(self, key: &str) -> Place {
        match (self, key) {
            (Place::Root, "metadata") => Place::Metadata,
            (Place::Metadata, "annotations") => Place::Annotations,
            _ => Place::Elsewhere,
        }
    }
}

/// The keys of the mappings open while a document is read, innermost last,
/// each mapping known by where its keys start. Whether a key repeats in its
/// own mapping is a scan of that mapping's keys while it has few (most of a
/// document's mappings have a handful), and one lookup in a set once it has
/// more: linear whatever the number of keys, without hashing every key.
struct OpenKeys<K> {
    keys: Vec<K>,
    /// (start of its mapping's keys, key) of every key of a mapping that has
    /// `SCANNED_KEYS` keys or more.
    set: HashSet<(usize, K)>,
}

/// The most keys of one mapping that are scanned for a repeat, not looked up.
const SCANNED_KEYS: usize = 8;

impl<K: Clone + Eq + Hash> OpenKeys<K> {
    fn new() -> Self {
        Self {
            keys: Vec::new(),
            set: HashSet::new(),
        }
    }

    /// Where the keys of a mapping opened now start.
    fn len(&self) -> usize {
        self.keys.len()
    }

    /// The last key added.
    fn last(&self) -> Option<&K> {
        self.keys.last()
    }

    /// Adds `key` to the innermost mapping, whose keys start at `from`;
    /// `Err` with the key (and nothing added) when that mapping has it already.
    fn insert(&mut self, from: usize, key: K) -> Result<(), K> {
        let open = self.keys.len() - from;
        if open <= SCANNED_KEYS && self.keys[from..].contains(&key) {
            return Err(key);
        }
        if open >= SCANNED_KEYS {
            // From its next key on, the mapping's keys are in the set.
            if open == SCANNED_KEYS {
                let keys = self.keys[from..].iter().cloned();
                self.set.extend(keys.map(|k| (from, k)));
            }
            if !self.set.insert((from, key.clone())) {
                return Err(key);
            }
        }
        self.keys.push(key);
        Ok(())
    }

    /// Closes the innermost mapping, whose keys start at `from`.
    fn close(&mut self, from: usize) {
        if self.keys.len() - from > SCANNED_KEYS {
            for key in self.keys.drain(from..) {
                self.set.remove(&(from, key));
            }
        } else {
            self.keys.truncate(from);
        }
    }
}

/// An open collection while walking a document.
enum Open {
    /// A mapping: its place, where its keys start in the key list, and
    /// whether the next node is a value (else a key or the end).
    Mapping {
        place: Place,
        keys_from: usize,
        value_next: bool,
    },
    Sequence,
}

/// Walks every event of `text` (so all of it must parse) and reads the
/// identity fields, refusing anything but exactly one mapping document
/// without repeated keys, anchors, aliases or tags.
fn read_identity(text: &str) -> Result<Found<'_>, String> {
    let mut events = Parser::new_from_str(text);
    let mut next = move || match events.next() {
        Some(Ok((event, _))) => Ok(event),
        Some(Err(error)) => Err(format!("not valid YAML: {error}")),
        None => Err("not valid YAML: the event stream ends early".to_owned()),
    };
    if !matches!(next()?, Event::StreamStart) || !matches!(next()?, Event::DocumentStart(..)) {
        return Err("not one YAML document".to_owned());
    }
    let mut found = Found::default();
    let mut open: Vec<Open> = Vec::new();
    let mut keys: OpenKeys<Cow<'_, str>> = OpenKeys::new();
    loop {
        let event = next()?;
        // The place and role of this node, from the collection around it.
        let (place, key) = match open.last_mut() {
            None => (Place::Root, None),
            Some(Open::Sequence) => (Place::Elsewhere, None),
            Some(Open::Mapping {
                place, value_next, ..
            }) => {
                if *value_next {
                    *value_next = false;
                    let key = keys.last().map(Cow::as_ref).unwrap_or_default();
                    (place.child(key), Some((*place, key)))
                } else {
                    (*place, None)
                }
            }
        };
        match event {
            Event::MappingEnd | Event::SequenceEnd => {
                if let Some(Open::Mapping { keys_from, .. }) = open.pop() {
                    keys.close(keys_from);
                }
                if open.is_empty() {
                    break;
                }
            }
            Event::Scalar(value, style, 0, None) => match open.last_mut() {
                Some(Open::Mapping {
                    keys_from,
                    value_next,
                    ..
                }) if key.is_none() => {
                    if style == ScalarStyle::Plain && !plain_scalar_is_string(&value) {
                        return Err(format!("the mapping key `{value}` is not a string"));
                    }
                    if let Err(value) = keys.insert(*keys_from, value) {
                        return Err(format!("the key `{value}` appears twice in one mapping"));
                    }
                    *value_next = true;
                }
                None => return Err("not a YAML mapping".to_owned()),
                _ => {
                    if let Some((place, key)) = key {
                        found.record(place, key, value, style != ScalarStyle::Plain);
                    }
                }
            },
            Event::MappingStart(_, 0, None) => {
                if matches!(open.last(), Some(Open::Mapping { .. })) && key.is_none() {
                    return Err("a mapping key is not a plain string".to_owned());
                }
                open.push(Open::Mapping {
                    place,
                    keys_from: keys.len(),
                    value_next: false,
                });
            }
            Event::SequenceStart(_, 0, None) => {
                if open.is_empty() {
                    return Err("not a YAML mapping".to_owned());
                }
                if matches!(open.last(), Some(Open::Mapping { .. })) && key.is_none() {
                    return Err("a mapping key is not a plain string".to_owned());
                }
                open.push(Open::Sequence);
            }
            _ => return Err("meshgen writes no anchors, aliases or tags".to_owned()),
        }
    }
    if !matches!(next()?, Event::DocumentEnd) || !matches!(next()?, Event::StreamEnd) {
        return Err("more than one YAML document".to_owned());
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(name: &str) -> ResourceId {
        ResourceId::namespaced("v1", "ConfigMap", "ns", name)
    }

    fn config_map(name: &str, data: &str) -> Resource {
        let text = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: ns\n\
             data:\n  value: \"{data}\"\n"
        );
        Resource::parse(cm(name), text, &[]).expect("valid")
    }

    #[test]
    fn identities_of_one_type_share_it_and_serialize_as_kubernetes_keys_them() {
        let (a, b) = (
            cm("a"),
            ResourceId::namespaced("v1", "ConfigMap", "other", "b"),
        );
        assert!(std::ptr::eq(a.scope, cm("b").scope));
        assert!(!std::ptr::eq(a.scope, b.scope), "another namespace");
        assert!(a < b, "ordered by namespace after kind");
        let secret = ResourceId::namespaced("v1", "Secret", "ns", "a");
        assert!(!std::ptr::eq(a.scope, secret.scope));
        assert_ne!(a, secret);
        assert!(a < secret, "ordered by apiVersion, then kind");
        assert!(b < secret, "kind before namespace");
        assert_eq!(
            serde_json::to_string(&a).expect("json"),
            r#"{"apiVersion":"v1","kind":"ConfigMap","namespace":"ns","name":"a"}"#
        );
        let cluster = ResourceId::cluster("v1", "Namespace", "ns");
        assert_eq!(
            serde_json::to_string(&cluster).expect("json"),
            r#"{"apiVersion":"v1","kind":"Namespace","name":"ns"}"#
        );
    }

    #[test]
    fn packed_documents_read_as_rendered_across_batches() {
        let texts = |resources: &[Resource]| -> Vec<String> {
            resources.iter().map(|r| r.text().into_owned()).collect()
        };
        // Like a document the dictionary shares nothing with, beside ones it
        // shares nearly everything with.
        let odd: String = (0..2_000u32)
            .map(|i| char::from(b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26))
            .collect();
        // The second batch fills more than one block.
        let batch = |from: usize, count: usize| -> Vec<Resource> {
            (from..from + count)
                .map(|i| config_map(&format!("c{i}"), if i == 150 { &odd } else { "x" }))
                .collect()
        };
        let (first, second) = (batch(0, 100), batch(100, BLOCK_DOCUMENTS + 10));
        let expected = [texts(&first), texts(&second)].concat();
        let mut packer = Packer::default();
        let first = packer.pack(first);
        let second = packer.pack(second);
        assert_eq!([texts(&first), texts(&second)].concat(), expected);
        assert!(matches!(first[0].text, Text::Plain(_)));
        for resource in first[1..].iter().chain(&second) {
            let Text::Packed { block, start, end } = &resource.text else {
                panic!("{} is not packed", resource.id);
            };
            // Every batch is packed against the group's first document.
            assert_eq!(&*block.dictionary, expected[0].as_bytes());
            let packed = usize::try_from(end - start).expect("small");
            if resource.id.name != "c150" {
                assert!(
                    packed * 3 < resource.text().len(),
                    "{}: {packed} bytes packed",
                    resource.id,
                );
            }
        }
        // A heap block per `BLOCK_DOCUMENTS` documents, not one per document.
        let blocks: HashSet<*const PackedBlock> = (second.iter())
            .filter_map(|r| match &r.text {
                Text::Packed { block, .. } => Some(Arc::as_ptr(block)),
                Text::Plain(_) => None,
            })
            .collect();
        assert_eq!(blocks.len(), 2);
        assert!(Packer::default().pack(Vec::new()).is_empty());
    }

    #[test]
    fn a_large_first_document_gives_the_dictionary_only_its_start() {
        let large = "x".repeat(3 * DICTIONARY_BYTES);
        let resources = vec![config_map("a", &large), config_map("b", &large)];
        let expected: Vec<String> = resources.iter().map(|r| r.text().into_owned()).collect();
        let packed = Resource::pack(resources);
        let Text::Packed { block, .. } = &packed[1].text else {
            panic!("not packed");
        };
        assert_eq!(block.dictionary.len(), DICTIONARY_BYTES);
        assert!(expected[0].as_bytes().starts_with(&block.dictionary));
        let read: Vec<String> = packed.iter().map(|r| r.text().into_owned()).collect();
        assert_eq!(read, expected);
    }

    #[test]
    fn a_document_with_the_expected_identity_parses() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: ns\n";
        let resource = Resource::parse(cm("a"), text.to_owned(), &[]).expect("valid");
        assert_eq!(resource.value()["metadata"]["name"], "a");
    }

    #[test]
    fn a_second_document_or_other_identity_is_rejected() {
        let two = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: ns\n---\n\
                   apiVersion: v1\nkind: Secret\nmetadata:\n  name: b\n";
        assert!(Resource::parse(cm("a"), two.to_owned(), &[]).is_err());
        let renamed = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: ns\n";
        assert!(Resource::parse(cm("a"), renamed.to_owned(), &[]).is_err());
        let duplicate_key =
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n  namespace: ns\n";
        assert!(Resource::parse(cm("a"), duplicate_key.to_owned(), &[]).is_err());
        assert!(Resource::parse(cm("a"), "- 1\n".to_owned(), &[]).is_err());
        let broken =
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: ns\ndata: [\n";
        assert!(Resource::parse(cm("a"), broken.to_owned(), &[]).is_err());
        let annotated = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: ns\n  \
                         annotations:\n    wave: \"2\"\n";
        assert!(Resource::parse(cm("a"), annotated.to_owned(), &[("wave", "2")]).is_ok());
        assert!(Resource::parse(cm("a"), annotated.to_owned(), &[("wave", "3")]).is_err());
    }

    #[test]
    fn repeated_or_non_string_keys_anchors_aliases_and_tags_are_refused_at_any_depth() {
        let head = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: ns\n";
        for (body, why) in [
            (
                "data:\n  x:\n  - k: 1\n    k: 2\n",
                "repeated key in a nested mapping",
            ),
            ("data: &anchor\n  x: 1\nmore: *anchor\n", "anchor and alias"),
            ("data: !!str 1\n", "tag"),
            ("data:\n  ? [a, b]\n  : 1\n", "a sequence as a key"),
            ("d a: x\n: \"y\"\n", "an empty (null) key, found by fuzzing"),
            ("data:\n  1: x\n", "a number as a key"),
        ] {
            let text = format!("{head}{body}");
            assert!(Resource::parse(cm("a"), text, &[]).is_err(), "{why}");
        }
    }

    /// Below and above the number of keys that are scanned rather than
    /// looked up, a repeat is refused wherever it is, and a closed
    /// mapping's keys do not count against the next one.
    #[test]
    fn a_repeated_key_is_refused_in_a_mapping_of_any_size() {
        let head = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: ns\n";
        for size in 1..=3 * SCANNED_KEYS {
            let keys: Vec<String> = (0..size).map(|i| format!("k{i}")).collect();
            let mapping: String = keys.iter().map(|k| format!("  {k}: x\n")).collect();
            let text = format!("{head}data:\n{mapping}more:\n{mapping}");
            assert!(
                Resource::parse(cm("a"), text.clone(), &[]).is_ok(),
                "{size} keys, twice in two mappings"
            );
            for key in &keys {
                let repeated = format!("{text}  {key}: y\n");
                assert!(
                    Resource::parse(cm("a"), repeated, &[]).is_err(),
                    "{key} again after {size} keys"
                );
            }
        }
    }

    #[test]
    fn identity_values_must_read_as_strings() {
        let null_name =
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: null\n  namespace: ns\n";
        let id = ResourceId::namespaced("v1", "ConfigMap", "ns", "null");
        assert!(Resource::parse(id.clone(), null_name.to_owned(), &[]).is_err());
        let quoted = null_name.replace("name: null", "name: \"null\"");
        assert!(Resource::parse(id, quoted, &[]).is_ok());
        let number = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: ns\n  \
                      annotations:\n    wave: 2\n";
        assert!(Resource::parse(cm("a"), number.to_owned(), &[("wave", "2")]).is_err());
        let string = number.replace("wave: 2", "wave: \"2\"");
        assert!(Resource::parse(cm("a"), string, &[("wave", "2")]).is_ok());
    }

    #[test]
    fn identity_is_read_only_at_its_own_paths() {
        // A name under spec is not metadata.name.
        let nested = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: ns\n\
                      spec:\n  metadata:\n    name: a\n";
        assert!(Resource::parse(cm("a"), nested.to_owned(), &[]).is_err());
        let flow = "{apiVersion: v1, kind: ConfigMap, metadata: {name: a, namespace: ns}}\n";
        assert!(Resource::parse(cm("a"), flow.to_owned(), &[]).is_ok());
        assert!(Resource::parse(cm("a"), "just a string\n".to_owned(), &[]).is_err());
        assert!(Resource::parse(cm("a"), String::new(), &[]).is_err());
    }

    #[test]
    fn deep_nesting_is_walked_without_recursion() {
        let depth = 50_000;
        let text = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: ns\n\
             data: {}{}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        // Whatever the parser's own limits say, the walk itself must not overflow.
        let _ = Resource::parse(cm("a"), text, &[]);
    }
}
