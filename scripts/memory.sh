#!/usr/bin/env bash
# usage: scripts/memory.sh [--no-build] [--max-check-ratio R] [N ...]
#
# Peak memory of `meshgen check` and `meshgen build` on large valid scenarios,
# against the size of the scenario file (issue 14.10: under 10x for large files).
# For each N (default: 16000 78000, about 10 MB and 50 MB), writes the bench
# workload scale-N with bench/gen.py (N services x 3 versions, five steps that
# touch every service: the densest realistic layout, a few bytes a value) and
# its variant users-N (gen.py --user-per-service: each service's rules match
# its own user, so no two services' rules are alike) into target/memory/,
# then runs on each, under /usr/bin/time -v,
#
#   target/release/meshgen check target/memory/scale-N.toml
#   target/release/meshgen build target/memory/scale-N.toml --out target/memory/out
#
# and prints one line per run: wall time, peak RSS (Maximum resident set size)
# and that peak over the file's size. With --max-check-ratio R it exits 1 when
# a check's peak is over R times its file (a generous bound, e.g. 12 at the
# default sizes, catches a return of the 30x of before the section reading;
# a file of a few MB shows more, as the process's own few MiB count there).
# Builds the release binary first unless --no-build (then the one in
# $CARGO_TARGET_DIR/release or target/release is measured as it is).
# Needs python3 and GNU time (Debian package `time`). Not part of `cargo test`:
# it writes about 1 GB a run and takes about two minutes at N = 78000.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build=1
max=""
sizes=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --max-check-ratio) max="$2"; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) sizes+=("$1") ;;
  esac
  shift
done
[ ${#sizes[@]} -gt 0 ] || sizes=(16000 78000)
if [ ! -x /usr/bin/time ]; then
  echo "memory.sh: /usr/bin/time (GNU time) is missing: apt-get install time" >&2
  exit 2
fi
target="${CARGO_TARGET_DIR:-$root/target}"
if [ "$build" = 1 ]; then
  cargo build --release --locked --quiet
fi
meshgen="$target/release/meshgen"
work="$target/memory"
mkdir -p "$work"
failed=0
for n in "${sizes[@]}"; do
 for shape in scale users; do
  scenario="$work/$shape-$n.toml"
  if [ "$shape" = users ]; then
    python3 bench/gen.py --user-per-service "$n" "$scenario"
  else
    python3 bench/gen.py "$n" "$scenario"
  fi
  bytes=$(stat -c %s "$scenario")
  for command in check build; do
    rm -rf "$work/out"
    args=("$command" "$scenario")
    [ "$command" = build ] && args+=(--out "$work/out")
    /usr/bin/time -v -o "$work/time.txt" "$meshgen" "${args[@]}" >/dev/null 2>"$work/stderr.txt" || {
      echo "memory.sh: meshgen ${args[*]} failed:" >&2
      cat "$work/stderr.txt" >&2
      exit 2
    }
    kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
    ratio=$(awk -v k="$kib" -v b="$bytes" 'BEGIN {printf "%.1f", k * 1024 / b}')
    printf '%s-%s (%.1f MB)  %-5s  %s  peak RSS %d MiB  %sx the file\n' \
      "$shape" "$n" "$(awk -v b="$bytes" 'BEGIN {print b / 1e6}')" "$command" "$wall" "$((kib / 1024))" "$ratio"
    if [ "$command" = check ] && [ -n "$max" ] &&
      awk -v r="$ratio" -v m="$max" 'BEGIN {exit !(r > m)}'; then
      echo "memory.sh: check of $shape-$n peaks at ${ratio}x its file, over $max" >&2
      failed=1
    fi
  done
 done
done
rm -rf "$work/out"
exit "$failed"
