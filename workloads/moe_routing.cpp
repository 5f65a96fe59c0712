#include "workloads/moe_routing.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <tuple>
#include <vector>

#include "model/error.h"

namespace npusim {

int64_t BusiestRankRows(int64_t tokens, int64_t top_k, int64_t experts, int64_t ranks) {
  if (tokens <= 0 || top_k <= 0) return 0;
  if (ranks < 1 || experts < ranks || experts % ranks != 0 || top_k > experts)
    throw InputError("expert routing: " + std::to_string(experts) + " experts over " +
                     std::to_string(ranks) + " ranks with top-" + std::to_string(top_k));
  if (ranks == 1) return tokens * top_k;
  // Memoised: a serving run asks for the same few shapes at every layer of every step.
  static std::map<std::tuple<int64_t, int64_t, int64_t, int64_t>, int64_t> memo;
  const auto key = std::make_tuple(tokens, top_k, experts, ranks);
  if (const auto it = memo.find(key); it != memo.end()) return it->second;
  // Enough draws that the mean of the maximum is stable to well under a row; fewer for large
  // steps, whose maximum concentrates (and whose draws cost tokens x top_k each).
  const int64_t draws = std::clamp<int64_t>(4'000'000 / (tokens * top_k), 8, 256);
  const int64_t per_rank = experts / ranks;
  std::mt19937_64 rng(0x6d6f6520726f7574ull);  // fixed: the same shape, the same answer
  std::vector<int64_t> load(static_cast<size_t>(ranks));
  std::vector<int64_t> picked(static_cast<size_t>(top_k));
  double sum_max = 0;
  for (int64_t d = 0; d < draws; ++d) {
    std::fill(load.begin(), load.end(), 0);
    for (int64_t t = 0; t < tokens; ++t) {
      // Floyd's sampling: top_k distinct experts, each subset equally likely.
      int64_t n = 0;
      for (int64_t j = experts - top_k; j < experts; ++j) {
        const int64_t e = std::uniform_int_distribution<int64_t>(0, j)(rng);
        const bool seen = std::find(picked.begin(), picked.begin() + n, e) != picked.begin() + n;
        picked[static_cast<size_t>(n++)] = seen ? j : e;
      }
      for (int64_t i = 0; i < top_k; ++i) ++load[static_cast<size_t>(picked[i] / per_rank)];
    }
    sum_max += static_cast<double>(*std::max_element(load.begin(), load.end()));
  }
  const int64_t balanced = (tokens * top_k + ranks - 1) / ranks;
  const int64_t busiest =
      std::max(balanced, static_cast<int64_t>(std::ceil(sum_max / static_cast<double>(draws))));
  memo[key] = busiest;
  return busiest;
}

}  // namespace npusim
