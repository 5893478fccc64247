#!/usr/bin/env bash
# Installs the conformance tools into the repo-local, git-ignored folder .tools/:
#
#   .tools/venv          Python venv with kubernetes-validate (the Kubernetes JSON
#                        schemas ship inside the package: it never goes online)
#                        for scripts/conformance-k8s.sh
#   .tools/node_modules  @kubernetes-models/istio (precompiled ajv validators built from
#                        Istio's CRDs) and yaml, for scripts/conformance-istio-npm.mjs
#
# Needs python3 (with venv) and npm; reaches only PyPI and the npm registry. Every
# version is pinned. Safe to run again: it only installs what is missing or stale,
# then checks offline that the tools work. MESHGEN_TOOLS_DIR overrides .tools/.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${MESHGEN_TOOLS_DIR:-$root/.tools}"

# kubernetes-validate 1.37.0 ships schemas for Kubernetes 1.25 to 1.37.
kubernetes_validate_version=1.37.0
# Its dependencies, pinned as pip resolved them for Python 3.11.
python_pins=(
  "kubernetes-validate==$kubernetes_validate_version"
  attrs==26.1.0
  importlib_resources==7.1.0
  jsonschema==4.26.0
  jsonschema-specifications==2025.9.1
  packaging==26.3
  PyYAML==6.0.3
  referencing==0.37.0
  rpds-py==2026.9.1
  typing_extensions==4.16.0
)
# @kubernetes-models/istio 3.0.1 is generated from Istio 1.29.2's crd-all.gen.yaml
# (IstioOperator from 1.18.0). It declares node >= 22 but runs on node 20.
npm_pins=(@kubernetes-models/istio@3.0.1 yaml@2.9.1)

log() { printf 'install-tools: %s\n' "$*"; }

install_python() {
  local venv="$tools/venv"
  if "$venv/bin/python" -c "
import sys, kubernetes_validate.version as v
sys.exit(v.__version__ != '$kubernetes_validate_version')" 2>/dev/null; then
    log "kubernetes-validate $kubernetes_validate_version already in $venv"
    return
  fi
  log "creating $venv with kubernetes-validate $kubernetes_validate_version"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${python_pins[@]}"
}

install_npm() {
  local installed
  installed="$(node -e "
    const p = require('$tools/node_modules/@kubernetes-models/istio/package.json');
    const y = require('$tools/node_modules/yaml/package.json');
    console.log('@kubernetes-models/istio@' + p.version + ' yaml@' + y.version)" 2>/dev/null || true)"
  if [[ "$installed" == "${npm_pins[*]}" ]]; then
    log "${npm_pins[*]} already in $tools/node_modules"
    return
  fi
  log "installing ${npm_pins[*]} into $tools/node_modules"
  npm install --prefix "$tools" --save-exact --no-audit --no-fund --loglevel=error "${npm_pins[@]}"
}

# Offline self-check: a valid Namespace passes, an unknown field fails, a CRD kind is
# unknown to kubernetes-validate; the npm models load and know VirtualService.
self_check() {
  "$tools/venv/bin/python" - <<'EOF'
import kubernetes_validate as kv
ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bookinfo"}}
kv.validate(ns, "1.33", strict=True)
try:
    kv.validate(dict(ns, spek={}), "1.33", strict=True)
    raise SystemExit("install-tools: kubernetes-validate accepted an unknown field")
except kv.ValidationError:
    pass
try:
    kv.validate({"apiVersion": "networking.istio.io/v1", "kind": "Gateway"}, "1.33", strict=True)
    raise SystemExit("install-tools: kubernetes-validate knows Gateway?")
except kv.SchemaNotFoundError:
    pass
EOF
  node --input-type=module -e "
    const m = await import('file://$tools/node_modules/@kubernetes-models/istio/index.js');
    if (!m.networkingIstioIo.v1alpha3.VirtualService) process.exit(1);"
  log "self-check passed (offline)"
}

mkdir -p "$tools"
install_python
install_npm
self_check
