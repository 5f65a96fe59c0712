// The command-line declarations (app/command_line.*) without running a command: every declared
// option parses and shows in its command's help; the parsing rules users rely on.
#include "app/command_line.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "model/error.h"

namespace npusim {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

std::string LongName(const std::string& names) { return names.substr(names.rfind(',') + 1); }

TEST(CommandLine, EveryDeclaredOptionParsesAndAppearsInItsHelp) {
  for (const CommandSpec& c : Commands()) {
    const std::string help = CommandHelp(c);
    EXPECT_THAT(help, HasSubstr("usage: npusim " + c.name)) << c.name;
    for (const OptionSpec& o : c.options) {
      const std::string key = LongName(o.names);
      EXPECT_THAT(help, HasSubstr(key + (o.value.empty() ? "" : " " + o.value)))
          << c.name << " " << key;
      std::vector<std::string> argv = {key};
      if (!o.value.empty()) argv.push_back("v");
      const Args a = ParseCommand(c, argv);
      if (o.value.empty()) {
        EXPECT_TRUE(Has(a, key)) << c.name << " " << key;
      } else {
        EXPECT_EQ(Option(a, key, ""), "v") << c.name << " " << key;
      }
    }
    EXPECT_THROW(ParseCommand(c, {"--help"}), HelpRequested) << c.name;
  }
}

TEST(CommandLine, RepeatedOptionsKeepTheirOrderAndLeaveLaterWordsPositional) {
  const Args a = ParseCommand(Command("run"), {"--set", "a=1", "r.yaml", "--set=b=2", "--quiet"});
  EXPECT_THAT(a.positional, ElementsAre("r.yaml"));
  EXPECT_THAT(a.options, ElementsAre(Pair("--set", "a=1"), Pair("--set", "b=2")));
  EXPECT_TRUE(Has(a, "--quiet"));
}

TEST(CommandLine, ShortOptionsTakeAttachedValues) {
  EXPECT_EQ(Option(ParseCommand(Command("sweep"), {"s.yaml", "-j2"}), "--jobs", ""), "2");
  EXPECT_EQ(Option(ParseCommand(Command("sweep"), {"s.yaml", "-j", "3"}), "--jobs", ""), "3");
  EXPECT_EQ(Option(ParseCommand(Command("import-sglang"), {"python -m x", "-o", "r.yaml"}),
                   "--output", ""),
            "r.yaml");
}

TEST(CommandLine, MistakesAreInputErrors) {
  try {
    ParseCommand(Command("run"), {"--outt", "x"});
    FAIL() << "accepted --outt";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown option '--outt' (nearest valid: '--out')"));
  }
  // A value-taking option must not swallow the next option as its value (a folder named --quiet).
  EXPECT_THROW(ParseCommand(Command("run"), {"--out", "--quiet"}), InputError);
  EXPECT_THROW(ParseCommand(Command("run"), {"--out"}), InputError);
  EXPECT_THROW(ParseCommand(Command("run"), {"--out", "a", "--out", "b"}),
               InputError);  // one value, given twice
  EXPECT_THROW(Command("runn"), InputError);
  // Found by fuzz/cli_fuzz: CLI11 read "--flag=<digits>" as a count and std::stoll escaped.
  EXPECT_THROW(ParseCommand(Command("kernel"), {"add", "--functional=99999999999999999999999"}),
               InputError);
  EXPECT_THROW(ParseCommand(Command("run"), {"--quiet=1"}), InputError);
}

TEST(CommandLine, NegativeNumbersAreValuesThatTheCommandThenChecks) {
  const Args a = ParseCommand(Command("kernel"), {"add", "--seed", "-1"});
  EXPECT_EQ(Option(a, "--seed", ""), "-1");
  EXPECT_THROW(UnsignedOption(a, "--seed", 0, 100), InputError);
  EXPECT_EQ(
      UnsignedOption(ParseCommand(Command("kernel"), {"add", "--seed", "7"}), "--seed", 0, 100),
      7u);
}

TEST(CommandLine, KernelHandlesItsOwnHelpForAKernelName) {
  const Args a = ParseCommand(Command("kernel"), {"add", "--help"}, /*own_help=*/true);
  EXPECT_TRUE(Has(a, "--help"));
  EXPECT_THAT(a.positional, ElementsAre("add"));
}

}  // namespace
}  // namespace npusim
