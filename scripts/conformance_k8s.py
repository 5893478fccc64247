"""Strict kubernetes-validate check of every document in multi-document YAML files.

Run through scripts/conformance-k8s.sh, which picks the Python of .tools/venv.
PyYAML reads YAML 1.1 as Kubernetes does, so an unquoted `yes` or `0755` would be
caught as the wrong type too.
"""

import sys
from collections import Counter

import kubernetes_validate as kv
import yaml

# Fixed target: a released Kubernetes minor that kubernetes-validate 1.37.0 ships
# schemas for (it has 1.25 to 1.37).
KUBERNETES_VERSION = "1.33"


def describe(index, doc):
    """Document number, kind and name, for messages."""
    name = (doc.get("metadata") or {}).get("name", "?")
    return f"document {index} ({doc.get('kind', '?')}/{name})"


def main(paths):
    if not paths:
        print("usage: conformance-k8s.sh FILE...", file=sys.stderr)
        return 2
    checked = failed = 0
    broken_files = 0
    skipped = Counter()
    for path in paths:
        try:
            with open(path, encoding="utf-8") as file:
                docs = [doc for doc in yaml.safe_load_all(file) if doc is not None]
        except (OSError, yaml.YAMLError) as error:
            print(f"conformance-k8s: {path}: cannot be read as YAML: {error}", file=sys.stderr)
            broken_files += 1
            continue
        for index, doc in enumerate(docs, start=1):
            if not isinstance(doc, dict) or not {"apiVersion", "kind"} <= doc.keys():
                print(f"FAIL {path}: document {index} has no apiVersion and kind")
                checked += 1
                failed += 1
                continue
            try:
                kv.validate(doc, KUBERNETES_VERSION, strict=True)
            except kv.SchemaNotFoundError:
                skipped[f"{doc['apiVersion']} {doc['kind']}"] += 1
                continue
            except kv.ValidationError as error:
                where = "/" + "/".join(str(part) for part in error.absolute_path)
                print(f"FAIL {path}: {describe(index, doc)}: {where}: {error.message}")
                failed += 1
            checked += 1
    if skipped:
        kinds = ", ".join(f"{kind} ({count})" for kind, count in sorted(skipped.items()))
        total = sum(skipped.values())
        print(f"conformance-k8s: skipped {total} documents of kinds with no schema: {kinds}")
    print(f"conformance-k8s: {checked} documents checked, {failed} failed")
    if broken_files:
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
