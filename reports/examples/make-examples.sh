#!/usr/bin/env bash
# Regenerates the example reports in this folder from the shipped configs (run from the repo
# root after `make`): one of each page kind, without the per-point run folders.
#   reports/examples/make-examples.sh [DEST]   writes into DEST instead (the golden test does,
#                                              then compares DEST with this folder)
# NPUSIM names the binary (default build/npusim).
set -euo pipefail
dest=${1:+$(realpath -m "$1")}
cd "$(dirname "$0")/../.."
ex=${dest:-reports/examples} tmp=$(mktemp -d)
npusim=${NPUSIM:-build/npusim}
trap 'rm -rf "$tmp"' EXIT
keep() {  # keep FROM TO: the report files only
  mkdir -p "$2"
  for f in report.html report.md metrics.json sweep.json; do [ -f "$1/$f" ] && cp "$1/$f" "$2/"; done
  return 0
}
"$npusim" run configs/runs/quickstart.yaml --quiet --out "$tmp/run" > /dev/null
keep "$tmp/run" "$ex/run"
"$npusim" capacity configs/runs/quickstart.yaml --set random_output_len=64 --set slo_tpot_p99_ms=16 \
  --set slo_ttft_p99_ms=2000 --quiet --out "$tmp/capacity" > /dev/null
keep "$tmp/capacity" "$ex/capacity"
"$npusim" explore configs/explore/move_intermediate_cache.yaml --quiet --out "$tmp/explore" > /dev/null
keep "$tmp/explore" "$ex/explore"
for i in 1 2; do
  "$npusim" sweep configs/sweeps/rms-norm-rows.yaml --shard $i/2 --quiet --out "$tmp/s$i" > /dev/null
done
"$npusim" merge "$tmp/s1" "$tmp/s2" --quiet --out "$tmp/merged" > /dev/null
keep "$tmp/merged" "$ex/merged-sweep"
# Paths inside the reports: relative to the repo, not to this machine's temp folder.
{ grep -rl "$tmp" "$ex" || true; } | xargs -r sed -i "s|$tmp/|out/|g"
echo "examples written to $ex/" >&2
