//! Evaluation of a CRD's CEL rules (`x-kubernetes-validations`) as the API server does.
//!
//! Owns compiling every rule of one served version's schema once (when the CRDs are
//! loaded), setting aside the rules this evaluator cannot run so that they are reported
//! instead of silently passed, and evaluating the rest against a document: each rule
//! with `self` bound to the value of its schema node, per item for rules under `items`
//! and per value for rules under `additionalProperties`; a rule whose node is absent from
//! the document is not evaluated. Transition rules (those that read `oldSelf`) are not
//! evaluated: meshgen's documents are created, and there is no old object on create.
//!
//! The evaluator is the `kube-cel` crate (see Cargo.toml): the `cel` interpreter with the
//! Kubernetes CEL libraries, schema defaults applied before evaluation, field names
//! escaped and `date-time`/`duration` formats typed as the API server does. It never
//! prints and reads no file.

use std::collections::BTreeMap;

use kube_cel::cel::{Context, ExecutionError, Program};
use kube_cel::{CompiledSchema, ErrorKind, KubeCelExt, RootContext, ValidationError, Validator};
use serde_json::Value;

use super::Violation;

/// The CEL rules of one served version's schema, compiled once.
pub(super) struct Rules {
    /// The schema tree with every evaluable rule compiled; the others taken out.
    compiled: CompiledSchema,
    /// `apiVersion`, `apiGroup` and `kind`, bound for the rules of the root node.
    root: RootContext,
}

/// A rule of a loaded CRD that this evaluator cannot run, so documents are not checked
/// against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unevaluable {
    /// The CRD's group and kind, e.g. `gateway.networking.k8s.io HTTPRoute`.
    pub kind: String,
    /// Where the rule sits, as a path of the documents it checks (`*` for each item
    /// or map value), e.g. `/spec/rules/*`.
    pub node: String,
    /// The rule's CEL expression.
    pub rule: String,
    /// Why it cannot be evaluated.
    pub why: String,
}

/// Compiles CEL rules, remembering which function names the evaluator declares.
pub(super) struct Compiler {
    /// A context with every function the evaluator registers, to probe names in.
    context: Context<'static>,
    /// Function name → whether the evaluator declares it.
    declared: BTreeMap<String, bool>,
    /// Rules compiled so far, counting each distinct schema once.
    pub(super) evaluable: usize,
    /// Rules set aside so far.
    pub(super) unevaluable: Vec<Unevaluable>,
}

impl Compiler {
    /// A compiler with the Kubernetes CEL libraries.
    pub(super) fn new() -> Compiler {
        Compiler {
            context: Context::default().with_all(),
            declared: BTreeMap::new(),
            evaluable: 0,
            unevaluable: Vec::new(),
        }
    }

    /// Compiles every rule of a served version's schema (`None`: no schema, no rules).
    /// `kind` is the CRD's group and kind, for the report of rules set aside.
    pub(super) fn compile(
        &mut self,
        schema: Option<&Value>,
        api_version: &str,
        kind: &str,
    ) -> Rules {
        let mut compiled = kube_cel::compile_schema(schema.unwrap_or(&Value::Null));
        let group = api_version.split_once('/').map_or("", |(group, _)| group);
        let label = format!("{group} {kind}");
        self.sort(&mut compiled, &label, &mut String::new());
        Rules {
            compiled,
            root: RootContext {
                api_version: api_version.to_owned(),
                api_group: group.to_owned(),
                kind: kind.to_owned(),
            },
        }
    }

    /// Counts the rules of a schema tree and takes out those that cannot be evaluated.
    fn sort(&mut self, node: &mut CompiledSchema, kind: &str, path: &mut String) {
        let here = if path.is_empty() { "/" } else { path.as_str() }.to_owned();
        for result in std::mem::take(&mut node.validations) {
            let unevaluable = |rule: &str, why: String| Unevaluable {
                kind: kind.to_owned(),
                node: here.clone(),
                rule: rule.to_owned(),
                why,
            };
            match result {
                Ok(rule) => {
                    let mut names: Vec<String> = Vec::new();
                    for program in std::iter::once(&rule.program).chain(&rule.message_program) {
                        let references = program.references();
                        names.extend(references.functions().into_iter().map(str::to_owned));
                    }
                    names.sort_unstable();
                    let missing = names.into_iter().find(|name| !self.declares(name));
                    if let Some(name) = missing {
                        let why = format!("the evaluator has no function or macro `{name}`");
                        self.unevaluable.push(unevaluable(&rule.rule.rule, why));
                    } else {
                        self.evaluable += 1;
                        node.validations.push(Ok(rule));
                    }
                }
                Err(error) => {
                    let rule = match &error {
                        kube_cel::CompilationError::Parse { rule, .. }
                        | kube_cel::CompilationError::MessageExpressionParse { rule, .. } => {
                            rule.as_str()
                        }
                        _ => "",
                    };
                    self.unevaluable.push(unevaluable(rule, error.to_string()));
                }
            }
        }
        let length = path.len();
        let mut children: Vec<(&String, &mut CompiledSchema)> =
            node.properties.iter_mut().collect();
        children.sort_by(|a, b| a.0.cmp(b.0));
        for (name, child) in children {
            path.push('/');
            path.push_str(&name.replace('~', "~0").replace('/', "~1"));
            self.sort(child, kind, path);
            path.truncate(length);
        }
        for child in node.items.iter_mut().chain(&mut node.additional_properties) {
            path.push_str("/*");
            self.sort(child, kind, path);
            path.truncate(length);
        }
        let branches = node.all_of.iter_mut();
        for branch in branches.chain(&mut node.one_of).chain(&mut node.any_of) {
            self.sort(branch, kind, path);
        }
    }

    /// Whether the evaluator declares a function (operators, named `_+_`, `!_`, `@in`…
    /// in the parsed expression, always are).
    fn declares(&mut self, name: &str) -> bool {
        if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return true;
        }
        if let Some(known) = self.declared.get(name) {
            return *known;
        }
        // A call without arguments fails at once: with a complaint about the
        // arguments when the function exists, as an undeclared reference when not.
        let known = match Program::compile(&format!("{name}()")) {
            Ok(probe) => !matches!(
                probe.execute(&self.context),
                Err(ExecutionError::UndeclaredReference(_))
            ),
            Err(_) => false,
        };
        self.declared.insert(name.to_owned(), known);
        known
    }
}

/// Evaluates the compiled rules of a document's version against it.
pub(super) fn evaluate(validator: &Validator, rules: &Rules, doc: &Value) -> Vec<Violation> {
    let result =
        validator.validate_compiled_with_context(&rules.compiled, doc, None, Some(&rules.root));
    let Err(errors) = result else {
        return Vec::new();
    };
    errors.iter().map(|error| violation(doc, error)).collect()
}

/// The violation a failed rule (or one that could not be evaluated) makes.
fn violation(doc: &Value, error: &ValidationError) -> Violation {
    let message = match error.kind {
        // The rule's message, messageExpression or "failed rule: <rule>".
        ErrorKind::ValidationFailure => error.message.clone(),
        // A rule the API server would run and that failed here: an error, as there.
        _ => format!("CEL rule could not be evaluated: {}", error.message),
    };
    Violation {
        instance_path: pointer(doc, &error.field_path),
        message,
        rule: Some(error.rule.clone()),
        reason: error.reason.clone(),
    }
}

/// Turns the evaluator's field path (`spec.rules[0].matches[1]`, with a rule's
/// `fieldPath` such as `.spec.x` or `['a.b']` appended) into a JSON pointer, reading
/// the document to tell a key that holds dots from a path.
fn pointer(doc: &Value, path: &str) -> String {
    let mut out = String::new();
    let mut node = Some(doc);
    let mut rest = path;
    loop {
        rest = rest.strip_prefix('.').unwrap_or(rest);
        if rest.is_empty() {
            return out;
        }
        let (segment, after) = if let Some(inner) = rest.strip_prefix('[') {
            bracket(inner)
        } else {
            let keys = node
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|o| o.keys());
            // The longest key of the document that the path continues with.
            let known = keys
                .filter(|key| {
                    rest.strip_prefix(key.as_str())
                        .is_some_and(|after| after.is_empty() || after.starts_with(['.', '[']))
                })
                .max_by_key(|key| key.len());
            let end =
                known.map_or_else(|| rest.find(['.', '[']).unwrap_or(rest.len()), String::len);
            (&rest[..end], &rest[end..])
        };
        node = node.and_then(|value| match value {
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            other => other.get(segment),
        });
        out.push('/');
        out.push_str(&segment.replace('~', "~0").replace('/', "~1"));
        rest = after;
    }
}

/// Reads a bracketed segment after its `[`: `0]`, `'key']` or `"key"]`.
fn bracket(inner: &str) -> (&str, &str) {
    for quote in ['\'', '"'] {
        if let Some(quoted) = inner.strip_prefix(quote)
            && let Some(end) = quoted.find(&format!("{quote}]"))
        {
            return (&quoted[..end], &quoted[end + 2..]);
        }
    }
    match inner.find(']') {
        Some(end) => (&inner[..end], &inner[end + 1..]),
        None => (inner, ""),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn field_paths_become_json_pointers() {
        let doc = json!({"spec": {"rules": [{"matches": [{}, {"path": {}}]}],
            "labels": {"app.kubernetes.io/name": "x"}, "a~b": 1}});
        let cases = [
            ("", ""),
            ("spec", "/spec"),
            (
                "spec.rules[0].matches[1].path",
                "/spec/rules/0/matches/1/path",
            ),
            (
                "spec.labels.app.kubernetes.io/name",
                "/spec/labels/app.kubernetes.io~1name",
            ),
            (
                "spec.labels['app.kubernetes.io/name']",
                "/spec/labels/app.kubernetes.io~1name",
            ),
            ("spec.a~b", "/spec/a~0b"),
            ("spec.rules[0].absent.deeper", "/spec/rules/0/absent/deeper"),
            (
                "spec.rules[0].matches[1].path.value",
                "/spec/rules/0/matches/1/path/value",
            ),
        ];
        for (path, expected) in cases {
            assert_eq!(pointer(&doc, path), expected, "{path}");
        }
    }

    #[test]
    fn rules_the_evaluator_lacks_are_set_aside_and_named() {
        let schema = json!({
            "type": "object",
            "x-kubernetes-validations": [
                {"rule": "self.a.size() > 0 && self.a.lowerAscii() == self.a && !(-1 > 0)"},
                {"rule": "self.a in ['a', 'b'] ? self.a[0] != 'c' : self.a.matches('^x')"},
                {"rule": "cel.bind(x, self.a, x == 'a')"},
                {"rule": "self.a.nope()"},
                {"rule": "self.a ==", "message": "does not parse"},
            ],
            "properties": {"a": {"type": "string",
                "x-kubernetes-validations": [{"rule": "self.startsWith('a')", "messageExpression": "nope(self)"}]}}
        });
        let mut compiler = Compiler::new();
        compiler.compile(Some(&schema), "example.com/v1", "Widget");
        assert_eq!(compiler.evaluable, 2);
        let found: Vec<(&str, &str, &str)> = compiler
            .unevaluable
            .iter()
            .map(|u| (u.node.as_str(), u.rule.as_str(), u.why.as_str()))
            .collect();
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(
            found
                .iter()
                .all(|(node, _, _)| *node == "/" || *node == "/a")
        );
        assert!(found[0].2.contains("`bind`"), "{found:#?}");
        assert!(found[1].2.contains("`nope`"), "{found:#?}");
        assert_eq!(found[2].1, "self.a ==");
        assert_eq!(
            found[3],
            (
                "/a",
                "self.startsWith('a')",
                "the evaluator has no function or macro `nope`"
            )
        );
    }
}
