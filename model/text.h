// Small text helpers shared by every layer: nearest-name suggestions for error messages.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace npusim {

size_t EditDistance(std::string_view a, std::string_view b);

// The candidate closest to `word` (edit distance), or "" when there are no candidates.
std::string Nearest(std::string_view word, const std::vector<std::string>& candidates);

// " (nearest valid: 'x')" or "" — appended to unknown-name errors.
std::string NearestHint(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace npusim
