#!/usr/bin/env bash
# Regenerates the example reports in this folder from the shipped configs (run from the repo
# root after `make`): one of each page kind, without the per-point run folders.
set -euo pipefail
cd "$(dirname "$0")/../.."
ex=reports/examples tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
keep() {  # keep FROM TO: the report files only
  mkdir -p "$2"
  for f in report.html report.md metrics.json sweep.json; do [ -f "$1/$f" ] && cp "$1/$f" "$2/"; done
  return 0
}
build/npusim run configs/runs/quickstart.yaml --quiet --out "$tmp/run" > /dev/null
keep "$tmp/run" $ex/run
build/npusim capacity configs/runs/quickstart.yaml --set random_output_len=64 --set slo_tpot_p99_ms=16 \
  --set slo_ttft_p99_ms=2000 --quiet --out "$tmp/capacity" > /dev/null
keep "$tmp/capacity" $ex/capacity
build/npusim explore configs/explore/move_intermediate_cache.yaml --quiet --out "$tmp/explore" > /dev/null
keep "$tmp/explore" $ex/explore
for i in 1 2; do
  build/npusim sweep configs/sweeps/rms-norm-rows.yaml --shard $i/2 --quiet --out "$tmp/s$i" > /dev/null
done
build/npusim merge "$tmp/s1" "$tmp/s2" --quiet --out "$tmp/merged" > /dev/null
keep "$tmp/merged" $ex/merged-sweep
# Paths inside the reports: relative to the repo, not to this machine's temp folder.
{ grep -rl "$tmp" $ex || true; } | xargs -r sed -i "s|$tmp/|out/|g"
echo "examples written to $ex/"
