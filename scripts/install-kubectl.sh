#!/usr/bin/env bash
# Installs kubectl for the kustomize conformance test (tests/gitops.rs runs
# `kubectl kustomize` on every output folder and compares it with
# `meshgen build --stdout`). Uses Debian's `kubernetes-client` package (kubectl
# 1.20, with kustomize built in) through apt-get; needs root or sudo.
#
# Does nothing when a kubectl that has `kustomize` is already on PATH (another
# package may own /usr/bin/kubectl, and installing over it would fail).
# MESHGEN_KUBECTL points the test at a kubectl elsewhere.
set -euo pipefail

log() { printf 'install-kubectl: %s\n' "$*"; }

if command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
  log "$(command -v kubectl) is already installed"
  exit 0
fi

sudo=()
if [[ "$(id -u)" != 0 ]]; then
  sudo=(sudo)
fi
log "installing Debian's kubernetes-client"
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  kubernetes-client >/dev/null
if ! kubectl kustomize --help >/dev/null 2>&1; then
  log "kubectl was installed but has no working 'kustomize' command" >&2
  exit 1
fi
log "installed $(command -v kubectl)"
