#!/usr/bin/env bash
# fuzz/run.sh FUZZER SECONDS: replays the fuzzer's regressions (config_fuzz: fuzz/regressions/, cli_fuzz:
# fuzz/cli_regressions/, kernel_fuzz: fuzz/kernel_regressions/), seeds its corpus (config_fuzz: every shipped
# config, the first byte picking the reader; cli_fuzz: command lines of the README; kernel_fuzz: none), then runs
# libFuzzer for SECONDS. Findings land in fuzz/findings/ (crash-*, timeout-*); the corpora grow in fuzz/corpus/,
# fuzz/cli_corpus/ and fuzz/kernel_corpus/ (all git-ignored).
set -euo pipefail
fuzzer=$1 seconds=$2
here=$(cd "$(dirname "$0")" && pwd)
findings=$here/findings
mkdir -p "$findings"
# Fuzzed runs leave the user's kernel cache alone (workloads/kernel_cache.h).
export NPUSIM_KERNEL_CACHE=off
# fuzz CORPUS REGRESSIONS TIMEOUT: every past finding first (kept in git: a fixed input that crashed once must
# pass on every run, whatever this run's random walk finds or misses), then the random walk; FUZZ_SEED (default:
# libFuzzer picks one) makes a run repeatable.
fuzz() {
  local corpus=$1 regressions=$2 timeout=$3
  if compgen -G "$regressions/*" > /dev/null; then
    ASAN_OPTIONS=detect_leaks=0 "$fuzzer" "$regressions"/* -timeout="$timeout" -rss_limit_mb=4096
  fi
  ASAN_OPTIONS=detect_leaks=0 "$fuzzer" "$corpus" -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb=4096 \
    ${FUZZ_SEED:+-seed="$FUZZ_SEED"} -artifact_prefix="$findings/" -print_final_stats=1
}
case "$(basename "$fuzzer")" in
kernel_fuzz)  # each input is a kernel and its parameters (fuzz/kernel_fuzz.cpp): no seeds
  mkdir -p "$here/kernel_corpus"
  fuzz "$here/kernel_corpus" "$here/kernel_regressions" 20
  ;;
cli_fuzz)
  corpus=$here/cli_corpus
  mkdir -p "$corpus"
  i=0
  # One seed per line of cli_seeds.txt: the command's index in Commands() as the first byte, then
  # the words (separated by spaces there, by newlines in the input).
  while read -r sel words; do
    { printf "\\x$(printf %02x "$sel")"; printf '%s' "$words" | tr ' ' '\n'; } > "$corpus/seed-$i"
    i=$((i + 1))
  done < "$here/cli_seeds.txt"
  fuzz "$corpus" "$here/cli_regressions" 10
  ;;
*)
  corpus=$here/corpus
  mkdir -p "$corpus"
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
  # The .npy reader (0xF0): a [2, 3] float32 tensor; the trace reader (0xF1): three JSONL requests.
  { printf '\xf0\x93NUMPY\x01\x00\x76\x00'; printf "%-117s\n" "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
    head -c 24 /dev/zero; } > "$corpus/seed-npy"
  printf '\xf1{"input_len": 128, "output_len": 16}\n# a comment\n{"input_len": 7, "output_len": 1, "arrival_s": 0.5}\n\n{"input_len": 4096, "output_len": 256, "arrival_s": 2}\n' \
    > "$corpus/seed-trace"
  fuzz "$corpus" "$here/regressions" 10
  ;;
esac
