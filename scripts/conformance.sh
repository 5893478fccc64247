#!/usr/bin/env bash
# usage: scripts/conformance.sh
#
# Output conformance: builds every scenario of scenarios/ and of the valid test
# corpus tests/valid/, then checks every document meshgen emits for `kubectl apply`
# and `istioctl install` (bundles, step files and routing states, the install/ folder
# of Helm installs; not the teardown, whose documents only name what to delete, nor
# kustomization.yaml):
#
#   (a) core kinds (Namespace, ServiceAccount, Service, Deployment) with
#       kubernetes-validate in strict mode            scripts/conformance-k8s.sh
#   (b) Istio kinds against Istio's own CRD schemas in ../shared/schemas/istio/,
#       with `meshgen build --crd-schemas`: scenarios for Istio 1.5.x against the
#       1.5.1 CRDs, every other against 1.30.3 (IstioOperator against the operator
#       CRD of 1.5.1 or 1.23.6, the last release that had one); for Istio 1.22 and
#       later also against Gateway API v1.5.1's CRDs in ../shared/schemas/gateway-api/
#       (the standard channel; MESHGEN_GATEWAY_API_CHANNEL=experimental checks the
#       experimental one, which defines the same kinds with more fields). Schema and
#       CEL rules (x-kubernetes-validations) alike. Skipped, with a note, when that
#       folder is absent (MESHGEN_SHARED_DIR overrides ../shared), a failure instead
#       when MESHGEN_REQUIRE_SHARED is set (CI)
#   (c) Istio kinds with a second, independent validator from the npm registry,
#       @kubernetes-models/istio                       scripts/conformance-istio-npm.mjs
#   (d) the GitOps manifests of Helm installs (install/argocd/, install/flux/): Argo CD
#       Applications, Flux HelmRepositories and HelmReleases, with
#       @kubernetes-models/argo-cd and flux-cd, unknown fields rejected
#                                                      scripts/conformance-gitops-npm.mjs
#
# Needs the tools of scripts/install-tools.sh. Prints one line per check, then
#   conformance: N passed, N failed[, N skipped]
# (one pass or failure per document and validator; skipped = scenarios whose CRD
# check could not run) and exits 1 on any failure, 2 when a tool is missing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
shared="${MESHGEN_SHARED_DIR:-$root/../shared}"
istio="$shared/schemas/istio"
channel="${MESHGEN_GATEWAY_API_CHANNEL:-standard}"
case "$channel" in
  standard | experimental) ;;
  *) echo "conformance: MESHGEN_GATEWAY_API_CHANNEL must be standard or experimental" >&2; exit 2 ;;
esac
gateway_api="$shared/schemas/gateway-api/v1.5.1/$channel-crds.yaml"

cargo build --quiet --locked
meshgen="$root/target/debug/meshgen"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
skipped=0

# The number in "N documents checked, N failed" of a validator's last line.
count() { sed -n "s/.*: \([0-9]*\) documents checked, \([0-9]*\) failed.*/\\$1/p" | tail -n 1; }

scenarios=(scenarios/*.toml tests/valid/*.toml)
echo "conformance: building ${#scenarios[@]} scenarios"
for scenario in "${scenarios[@]}"; do
  if ! "$meshgen" --color never build "$scenario" --out "$work/out" 2>"$work/build.log"; then
    cat "$work/build.log"
    echo "FAIL meshgen build $scenario"
    failed=$((failed + 1))
  fi
done
# install/helm/*.values.yaml are Helm values (`helm -f`), not Kubernetes documents: no
# validator here has their charts' schemas, so they are counted but not checked. The
# same values, inline in the Argo CD and Flux manifests, are free-form there too.
mapfile -t documents < <(find "$work/out" -name '*.yaml' ! -name kustomization.yaml \
  ! -name teardown.yaml ! -path '*/install/helm/*.values.yaml' | sort)
values_files="$(find "$work/out" -path '*/install/helm/*.values.yaml' | wc -l)"
echo "conformance: ${#documents[@]} YAML files (and $values_files Helm values files, not checked)"

# (a), (c) and (d): each validator prints "…: N documents checked, N failed" last.
for check in k8s istio-npm gitops-npm; do
  case "$check" in
    k8s) command=(scripts/conformance-k8s.sh) ;;
    istio-npm) command=(node scripts/conformance-istio-npm.mjs) ;;
    gitops-npm) command=(node scripts/conformance-gitops-npm.mjs) ;;
  esac
  status=0
  "${command[@]}" "${documents[@]}" >"$work/$check.log" 2>&1 || status=$?
  grep -v '^conformance' "$work/$check.log" || true
  tail -n 1 "$work/$check.log"
  if [[ "$status" -eq 2 ]]; then
    echo "conformance: $check could not run: run scripts/install-tools.sh" >&2
    exit 2
  fi
  checked="$(count 1 <"$work/$check.log")"
  bad="$(count 2 <"$work/$check.log")"
  if [[ -z "$checked" || -z "$bad" || ("$status" -ne 0 && "$bad" -eq 0) ]]; then
    echo "FAIL $check: no summary line or an unexplained exit code $status"
    failed=$((failed + 1))
    continue
  fi
  passed=$((passed + checked - bad))
  failed=$((failed + bad))
done

# (b) Istio's CRDs, per the release each scenario targets, and Gateway API's from 1.22 on.
release_of() {
  python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["mesh"]["version"])' "$1"
}
# Whether a release (major.minor[.patch]) is 1.22 or later.
has_gateway_api() { python3 -c 'import sys; print(tuple(map(int, sys.argv[1].split(".")[:2])) >= (1, 22))' "$1"; }
if [[ -d "$istio" ]]; then
  for scenario in "${scenarios[@]}"; do
    release="$(release_of "$scenario")"
    case "$release" in
      1.5 | 1.5.*) crds=("$istio/1.5.1/crd-all.gen.yaml" "$istio/istiooperator/crd-operator.1.5.1.yaml") ;;
      *) crds=("$istio/1.30.3/crd-all.gen.yaml" "$istio/istiooperator/crd-operator.1.23.6.yaml") ;;
    esac
    if [[ "$(has_gateway_api "$release")" == True ]]; then
      crds+=("$gateway_api")
    fi
    status=0
    "$meshgen" --color never build "$scenario" --out "$work/crd" \
      "${crds[@]/#/--crd-schemas=}" \
      >"$work/crd.log" 2>&1 || status=$?
    line="$(grep 'documents checked against the supplied CRDs' "$work/crd.log" | tail -n 1 || true)"
    checked="$(sed -n 's/.*: \([0-9]*\) documents checked.*/\1/p' <<<"$line")"
    bad="$(sed -n 's/.*, \([0-9]*\) do not conform.*/\1/p' <<<"$line")"
    against="$(basename "$(dirname "${crds[0]}")")"
    [[ "${#crds[@]}" -lt 3 ]] || against="$against + gateway-api v1.5.1 $channel"
    echo "conformance-crd: $scenario vs $against: ${checked:-?} documents checked, ${bad:-?} failed"
    if [[ "$status" -eq 0 && -n "$checked" && "$bad" == 0 ]]; then
      passed=$((passed + checked))
    else
      grep -v 'documents checked against\|^meshgen: wrote' "$work/crd.log" || true
      checked="${checked:-0}"
      bad="${bad:-0}"
      passed=$((passed + checked - bad))
      failed=$((failed + (bad > 0 ? bad : 1)))
    fi
  done
elif [[ -n "${MESHGEN_REQUIRE_SHARED:-}" ]]; then
  echo "FAIL conformance-crd: MESHGEN_REQUIRE_SHARED is set but $istio is not there"
  failed=$((failed + 1))
else
  echo "conformance-crd: skipped: $istio not found (set MESHGEN_SHARED_DIR)"
  skipped=${#scenarios[@]}
fi

summary="conformance: $passed passed, $failed failed"
[[ "$skipped" -eq 0 ]] || summary="$summary, $skipped skipped"
echo "$summary"
[[ "$failed" -eq 0 ]]
