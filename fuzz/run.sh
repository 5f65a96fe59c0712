#!/usr/bin/env bash
# fuzz/run.sh FUZZER SECONDS: replays fuzz/regressions/ (config_fuzz) or fuzz/cli_regressions/ (cli_fuzz), seeds a
# corpus (config_fuzz: every shipped config, the first byte picking the loader; cli_fuzz: command lines of the README),
# then runs libFuzzer for SECONDS. Findings land in fuzz/findings/ (crash-*, timeout-*); the corpora grow in
# fuzz/corpus/ and fuzz/cli_corpus/ (all git-ignored).
set -euo pipefail
fuzzer=$1 seconds=$2
here=$(cd "$(dirname "$0")" && pwd)
findings=$here/findings
if [ "$(basename "$fuzzer")" = cli_fuzz ]; then
  corpus=$here/cli_corpus regressions=$here/cli_regressions
  mkdir -p "$corpus" "$findings"
  i=0
  # One seed per line of cli_seeds.txt: the command's index in Commands() as the first byte, then
  # the words (separated by spaces there, by newlines in the input).
  while read -r sel words; do
    { printf "\\x$(printf %02x "$sel")"; printf '%s' "$words" | tr ' ' '\n'; } > "$corpus/seed-$i"
    i=$((i + 1))
  done < "$here/cli_seeds.txt"
  ASAN_OPTIONS=detect_leaks=0 "$fuzzer" "$regressions"/* -timeout=10 -rss_limit_mb=4096
  ASAN_OPTIONS=detect_leaks=0 "$fuzzer" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
    ${FUZZ_SEED:+-seed="$FUZZ_SEED"} -artifact_prefix="$findings/" -print_final_stats=1
  exit 0
fi
corpus=$here/corpus
mkdir -p "$corpus" "$findings"
seed() {  # seed SELECTOR FILE...
  local sel=$1; shift
  for f in "$@"; do { printf "\\x$(printf %02x "$sel")"; cat "$f"; } > "$corpus/seed-$sel-$(basename "$f")"; done
}
seed 0 "$here"/../configs/runs/*.yaml
seed 1 "$here"/../configs/devices/*.yaml
seed 2 "$here"/../configs/models/*.json
seed 3 "$here"/../configs/explore/*.yaml
seed 4 "$here"/../configs/sweeps/*.yaml
seed 5 "$here"/../configs/calibration/C2-*.yaml "$here"/../configs/calibration/P1-512.yaml "$here"/../configs/calibration/S2-ratio.yaml
seed 6 "$here"/../configs/hosts/*.yaml
# Every past finding first (fuzz/regressions/, kept in git): a fixed input that crashed once must
# pass on every run, whatever this run's random walk finds or misses.
ASAN_OPTIONS=detect_leaks=0 "$fuzzer" "$here"/regressions/* -timeout=10 -rss_limit_mb=4096
# Then the random walk; FUZZ_SEED (default: libFuzzer picks one) makes a run repeatable.
ASAN_OPTIONS=detect_leaks=0 "$fuzzer" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
  ${FUZZ_SEED:+-seed="$FUZZ_SEED"} -artifact_prefix="$findings/" -print_final_stats=1
