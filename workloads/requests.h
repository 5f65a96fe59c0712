// The load a serving run sees: requests with input/output lengths and the time the benchmark
// client would send them, as SGLang's bench_serving generates them (random dataset with a range
// ratio; generated-shared-prefix: groups of prompts that start with one shared system prompt;
// Poisson arrivals at request_rate or all at once) or from a JSONL trace. Seeded and
// platform-independent (model/rng.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "workloads/prefix_cache.h"
#include "workloads/run_config.h"

namespace npusim {

struct Request {
  int64_t id = 0;
  double arrival_us = 0;  // when the client wants to send it (before max_concurrency holds it back)
  int64_t input_len = 0, output_len = 0;
  Prompt prompt;  // its tokens by content (random and trace prompts: a content of their own)
};

std::vector<Request> GenerateRequests(const RunConfig& c);

// JSONL: one object per line with input_len, output_len and optionally arrival_s; blank lines
// and lines starting with # are skipped. InputError with file:line on a bad line.
std::vector<Request> ReadTrace(const std::string& path);

}  // namespace npusim
