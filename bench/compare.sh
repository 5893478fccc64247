#!/usr/bin/env bash
# bench/compare.sh [N ...]: whole-process benchmark of `meshgen build` against the reference
# peers of shared/bench (Jinja2 pipelines, C++ Jsonnet, go-jsonnet) and the `cat` floor.
#
# This wrapper only prepares the machine (idempotent) and hands over to bench/compare.py:
#   - /usr/bin/time (Debian package `time`), C++ jsonnet (`jsonnet`) and hyperfine (`hyperfine`), by apt-get;
#   - .bench/venv with jinja2, pyyaml (with libyaml) and gojsonnet, by pip.
# Settings (arguments win over the environment): N list as arguments or BENCH_N (default
# "10 100 1000 5000"); RUNS (default 5); BENCH_PURE_MAX_N (default 1000); BENCH_SKIP; BENCH_BOOKINFO_RUNS (default 40);
# BENCH_CHECK=1 or --check; BENCH_TIMEOUT; MESHGEN_SHARED_DIR. See bench/README.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || dirname "$here")
shared=${MESHGEN_SHARED_DIR:-$root/../shared}
if [[ ! -f $shared/bench/peer_jinja.py || ! -f $shared/bench/peer.jsonnet ]]; then
    echo "compare.sh: error: reference peers not found in '$shared/bench'" >&2
    echo "  (expected shared/ beside the repository; set MESHGEN_SHARED_DIR to the folder holding bench/)" >&2
    exit 2
fi
shared=$(cd "$shared" && pwd)
scratch=$root/.bench
venv=$scratch/venv
mkdir -p "$scratch"

log() { echo "compare.sh: $*" >&2; }

apt_updated=
apt_install() {   # apt_install PACKAGE: install a Debian package, running apt-get update once
    if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
        log "cannot install Debian package '$1' (needs root and apt-get)"
        return 1
    fi
    if [[ -z $apt_updated ]]; then
        log "apt-get update"
        apt-get update -qq >&2 || return 1
        apt_updated=1
    fi
    log "apt-get install $1"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >&2
}

if [[ ! -x /usr/bin/time ]]; then
    apt_install time || { log "error: /usr/bin/time is required"; exit 2; }
fi
if ! command -v jsonnet >/dev/null; then
    apt_install jsonnet || log "warning: no C++ jsonnet: its column will be n/a"
fi
if ! command -v hyperfine >/dev/null; then
    apt_install hyperfine || log "warning: no hyperfine: the Bookinfo line will be n/a"
fi

# The venv is (re)built only when an import fails.
if ! "$venv/bin/python" -c 'import jinja2, yaml; assert yaml.__with_libyaml__' 2>/dev/null; then
    log "creating $venv (jinja2, pyyaml)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check jinja2 pyyaml >&2
fi
if ! "$venv/bin/python" -c 'import _gojsonnet' 2>/dev/null; then
    log "installing gojsonnet into $venv"
    "$venv/bin/pip" install -q --disable-pip-version-check gojsonnet >&2 \
        || log "warning: gojsonnet did not install: its column will be n/a"
fi

exec "$venv/bin/python" "$here/compare.py" --root "$root" --shared "$shared" "$@"
