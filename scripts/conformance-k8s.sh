#!/usr/bin/env bash
# usage: scripts/conformance-k8s.sh FILE...
#
# Validates every document of the given multi-document YAML files with
# kubernetes-validate in strict mode (unknown fields fail) against Kubernetes 1.33
# (the version is fixed in scripts/conformance_k8s.py). Kinds it has no schema for
# (the Istio CRDs) are skipped and listed. Prints
#   conformance-k8s: N documents checked, N failed
# and exits 1 on any failure, 2 when a file cannot be read or parsed or the tools are
# missing (run scripts/install-tools.sh first).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${MESHGEN_TOOLS_DIR:-$root/.tools}"
python="$tools/venv/bin/python"
if [[ ! -x "$python" ]]; then
  echo "conformance-k8s: $python not found: run scripts/install-tools.sh" >&2
  exit 2
fi
exec "$python" "$root/scripts/conformance_k8s.py" "$@"
