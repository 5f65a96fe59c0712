// House rules that a reader of the code relies on, checked on the source tree itself (issue #17
// part 6): no function of the shipped code (model, devices, ops, workloads, reports, app) is
// longer than 80 lines. Tests may be longer: a test reads top to bottom as one case.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

namespace npusim {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxFunctionLines = 80;

struct LongFunction {
  std::string where;  // file:line of the opening brace
  int lines = 0;
};

// A line with its string and character literals emptied and its // comment cut, so that braces
// inside them do not count. (The shipped code has no raw strings or block comments spanning
// braces; a block comment of one line is emptied too.)
std::string CodeOf(const std::string& line) {
  static const std::regex literal(R"("([^"\\]|\\.)*"|'([^'\\]|\\.)*'|/\*.*?\*/)");
  std::string s = std::regex_replace(line, literal, "\"\"");
  const size_t comment = s.find("//");
  return comment == std::string::npos ? s : s.substr(0, comment);
}

// Functions whose body (opening to closing brace) spans more than `max` lines. A body opens on a
// line whose code ends a parameter list before the brace, outside any other body; namespace
// braces do not count. Braces of lambdas and blocks inside a body belong to that body.
std::vector<LongFunction> LongFunctionsIn(const fs::path& file, int max) {
  static const std::regex opens_body(R"(\)\s*(const)?\s*(override)?\s*(noexcept)?\s*\{)");
  static const std::regex namespace_line(R"(^\s*(namespace|extern)\b)");
  std::ifstream in(file);
  std::vector<LongFunction> out;
  struct Open {
    bool function;
    int line;
  };
  std::vector<Open> stack;
  bool in_function = false;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    const std::string code = CodeOf(line);
    const bool body_here =
        std::regex_search(code, opens_body) && !std::regex_search(code, namespace_line);
    for (char c : code) {
      if (c == '{') {
        const bool function = body_here && !in_function;
        stack.push_back({function, n});
        in_function = in_function || function;
      } else if (c == '}' && !stack.empty()) {
        const Open o = stack.back();
        stack.pop_back();
        if (!o.function) continue;
        in_function = false;
        if (n - o.line + 1 > max)
          out.push_back({file.string() + ":" + std::to_string(o.line), n - o.line + 1});
      }
    }
  }
  return out;
}

std::vector<LongFunction> LongFunctionsUnder(const std::vector<std::string>& dirs, int max) {
  std::vector<LongFunction> all;
  for (const std::string& d : dirs)
    for (const auto& e : fs::recursive_directory_iterator(fs::path(NPUSIM_SOURCE_DIR) / d)) {
      const std::string ext = e.path().extension().string();
      if (!e.is_regular_file() || (ext != ".cpp" && ext != ".h")) continue;
      for (const LongFunction& f : LongFunctionsIn(e.path(), max)) all.push_back(f);
    }
  return all;
}

TEST(HouseRules, NoShippedFunctionIsLongerThan80Lines) {
  const std::vector<LongFunction> long_ones = LongFunctionsUnder(
      {"model", "devices", "ops", "workloads", "reports", "app"}, kMaxFunctionLines);
  std::string list;
  for (const LongFunction& f : long_ones)
    list += "\n  " + f.where + ": " + std::to_string(f.lines) + " lines";
  EXPECT_TRUE(long_ones.empty()) << "functions over " << kMaxFunctionLines
                                 << " lines (split them):" << list;
}

// The check finds what it is meant to: this file's own LongFunctionsIn is 30-odd lines, so a
// bound under that reports it, and a bound over it does not.
TEST(HouseRules, TheLengthCheckFindsALongFunction) {
  const fs::path self = fs::path(NPUSIM_SOURCE_DIR) / "tests/app/house_rules_test.cpp";
  const std::vector<LongFunction> at_10 = LongFunctionsIn(self, 10);
  bool found = false;
  for (const LongFunction& f : at_10) found = found || f.lines > 30;
  EXPECT_TRUE(found) << "a function of more than 30 lines in " << self << " went unseen";
  for (const LongFunction& f : LongFunctionsIn(self, 80)) ADD_FAILURE() << f.where;
}

}  // namespace
}  // namespace npusim
