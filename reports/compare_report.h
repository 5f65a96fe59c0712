// bench_serving's result line as npusim writes and reads it: the fields of a run (in
// bench_serving's order) for `npusim run --result-jsonl` and `npusim compare`, which puts two
// results side by side — two npusim runs, or an npusim run and a real `python -m
// sglang.bench_serving
// --output-file` line.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace npusim {

// bench_serving's result fields (sglang.bench_serving, the dict it appends to --output-file).
const std::vector<std::string>& BenchServingFields();

// The bench_serving fields of a run's metrics.json, as one JSON line (no newline).
std::string BenchServingLine(const nlohmann::ordered_json& metrics);

// A result to compare: a run folder (its metrics.json), a metrics.json, or a JSONL file (its
// last line, or line N with FILE:N, 1-based). InputError when it is none of these.
nlohmann::ordered_json ReadResult(const std::string& spec);

// Markdown: field, A, B, B - A, (B - A) / A for every bench_serving field either side has; a
// field only one side has shows "-" on the other.
std::string CompareResults(const nlohmann::ordered_json& a, const nlohmann::ordered_json& b,
                           const std::string& name_a, const std::string& name_b);

}  // namespace npusim
