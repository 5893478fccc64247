#!/usr/bin/env bash
# Installs the conformance tools into the repo-local, git-ignored folder .tools/:
#
#   .tools/venv          Python venv with kubernetes-validate (the Kubernetes JSON
#                        schemas ship inside the package: it never goes online)
#                        for scripts/conformance-k8s.sh
#   .tools/node_modules  @kubernetes-models/istio (precompiled ajv validators built from
#                        Istio's CRDs) and yaml, for scripts/conformance-istio-npm.mjs;
#                        @kubernetes-models/argo-cd and flux-cd (the same, built from
#                        Argo CD's and Flux's Go API types) for
#                        scripts/conformance-gitops-npm.mjs
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
# (IstioOperator from 1.18.0). @kubernetes-models/argo-cd 4.0.0 from Argo CD v3's
# pkg/apis/application/v1alpha1 (Application with helm.valuesObject, Argo CD 2.8+);
# @kubernetes-models/flux-cd 4.0.0 from Flux's source-controller api/v1 and
# helm-controller api/v2 (and older versions). All three declare node >= 22 but run on
# node 20. They have no peer dependencies; the runtime they share (base, validate:
# the ajv formats; apimachinery: ObjectMeta; kubernetes-models, which argo-cd and
# flux-cd depend on) is pinned too, as npm resolved it.
npm_pins=(
  @kubernetes-models/istio@3.0.1
  @kubernetes-models/argo-cd@4.0.0
  @kubernetes-models/flux-cd@4.0.0
  @kubernetes-models/base@6.0.1
  @kubernetes-models/validate@5.0.2
  @kubernetes-models/apimachinery@3.0.2
  kubernetes-models@5.1.0
  yaml@2.9.1
)

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
  # The installed name@version of every pinned package, in the order of npm_pins.
  installed="$(node -e "
    const names = process.argv.slice(1).map((pin) => pin.slice(0, pin.lastIndexOf('@')));
    console.log(names.map((name) =>
      name + '@' + require('$tools/node_modules/' + name + '/package.json').version).join(' '))" \
    "${npm_pins[@]}" 2>/dev/null || true)"
  if [[ "$installed" == "${npm_pins[*]}" ]]; then
    log "${npm_pins[*]} already in $tools/node_modules"
    return
  fi
  log "installing ${npm_pins[*]} into $tools/node_modules"
  npm install --prefix "$tools" --save-exact --no-audit --no-fund --loglevel=error "${npm_pins[@]}"
}

# Offline self-check: a valid Namespace passes, an unknown field fails, a CRD kind is
# unknown to kubernetes-validate; the npm models load and know VirtualService, Argo CD's
# Application validator rejects a wrong type, and the canary of
# scripts/conformance-gitops-npm.mjs passes (given no file): Application (with
# helm.valuesObject), HelmRepository v1 and HelmRelease v2 are known, and unknown
# fields are found.
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
    if (!m.networkingIstioIo.v1alpha3.VirtualService) process.exit(1);
    const argo = await import('file://$tools/node_modules/@kubernetes-models/argo-cd/index.js');
    const flux = await import('file://$tools/node_modules/@kubernetes-models/flux-cd/index.js');
    if (!flux.sourceToolkitFluxcdIo.v1.HelmRepository || !flux.helmToolkitFluxcdIo.v2.HelmRelease) process.exit(1);
    const app = {
      metadata: {name: 'a'},
      spec: {project: 'default', destination: {namespace: 'n'},
             source: {repoURL: 'https://charts.example.com', chart: 'c', helm: {valuesObject: {a: 1}}}}};
    new argo.argoprojIo.v1alpha1.Application(app).validate();
    let rejected = false;
    try { new argo.argoprojIo.v1alpha1.Application({...app, spec: {...app.spec, project: 1}}).validate(); }
    catch { rejected = true; }
    if (!rejected) process.exit(1);"
  MESHGEN_TOOLS_DIR="$tools" node "$root/scripts/conformance-gitops-npm.mjs" /dev/null >/dev/null
  log "self-check passed (offline)"
}

mkdir -p "$tools"
install_python
install_npm
self_check
