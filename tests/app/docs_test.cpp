// What the documentation shows is what the shipped binary does today: the example pages under
// reports/examples are regenerated and compared byte for byte, and every README example that
// shows output is run and its output looked for in what the command prints now.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "npusim_process.h"

namespace npusim {
namespace {

namespace fs = std::filesystem;

const fs::path kSource = NPUSIM_SOURCE_DIR;

Result ShellIn(const fs::path& cwd, const std::string& cmd) {
  return Shell("cd '" + cwd.string() + "' && " + cmd);
}

std::set<std::string> FilesUnder(const fs::path& root) {
  std::set<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) files.insert(fs::relative(e.path(), root).string());
  return files;
}

TEST(Docs, TheExamplePagesAreWhatTheShippedCommandsWriteToday) {
  const fs::path shipped = kSource / "reports/examples", fresh = Dir("examples");
  const Result r =
      ShellIn(kSource, "NPUSIM='" + std::string(NPUSIM_BIN) +
                           "' bash reports/examples/make-examples.sh '" + fresh.string() + "'");
  ASSERT_EQ(r.code, 0) << r.output;
  std::set<std::string> want = FilesUnder(shipped), got = FilesUnder(fresh);
  want.erase("make-examples.sh");
  EXPECT_EQ(want, got) << "the example folders differ in which files they hold";
  for (const std::string& f : want) {
    if (!got.count(f)) continue;
    EXPECT_TRUE(Slurp((shipped / f).string()) == Slurp((fresh / f).string()))
        << "reports/examples/" << f << " is not what the shipped commands write now ("
        << (fresh / f).string()
        << "): regenerate with `reports/examples/make-examples.sh` after `make`, and read the diff "
           "before committing it";
  }
}

// ---- README examples ----

struct Example {
  int line = 0;  // README line of the command
  std::string
      skip;  // why the test does not run it (`<!-- docs-test: skip: WHY -->` above the block)
  std::string command;             // as shown, continuation lines joined
  std::vector<std::string> shown;  // the output lines shown under it
};

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

// Every fenced block whose first line is a `$ build/npusim` command: each `$ ` line starts an
// example, the lines up to the next one are its output; examples run in order, so an example
// without output can make a file the next one reads. A trailing `# ...` on a command is a
// comment for the reader. An HTML comment `<!-- docs-test: skip: WHY -->` on the line above the
// block keeps its examples out of the test (too slow, or they read a file of the reader's own).
std::vector<Example> ReadmeExamples() {
  std::istringstream in(Slurp((kSource / "README.md").string()));
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::vector<Example> examples;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind("```", 0) != 0) continue;
    size_t end = i + 1;
    while (end < lines.size() && lines[end].rfind("```", 0) != 0) ++end;
    const std::string marker = "<!-- docs-test: skip:";
    const std::string skip =
        i > 0 && lines[i - 1].rfind(marker, 0) == 0 ? lines[i - 1].substr(marker.size()) : "";
    if (i + 1 < end && lines[i + 1].rfind("$ build/npusim", 0) == 0) {
      for (size_t k = i + 1; k < end; ++k) {
        if (lines[k].rfind("$ ", 0) == 0) {
          Example e;
          e.line = static_cast<int>(k) + 1;
          e.command = lines[k].substr(2);
          e.skip = skip;
          while (!e.command.empty() && e.command.back() == '\\' && k + 1 < end)
            e.command.pop_back(), e.command += lines[++k];
          examples.push_back(e);
        } else if (!examples.empty() && examples.back().line > static_cast<int>(i)) {
          examples.back().shown.push_back(Trim(lines[k]));
        }
      }
    }
    i = end;
  }
  return examples;
}

// The shown lines appear in the printed output in the same order (each may stand for one of
// several similar lines; `...` and blank lines stand for what the README leaves out).
std::vector<std::string> NotFound(const std::vector<std::string>& shown,
                                  const std::string& printed) {
  std::istringstream in(printed);
  std::vector<std::string> got;
  for (std::string l; std::getline(in, l);) got.push_back(Trim(l));
  std::vector<std::string> missing;
  size_t at = 0;
  for (const std::string& s : shown) {
    if (s.find_first_not_of(' ') == std::string::npos ||
        s.substr(s.find_first_not_of(' ')) == "...")
      continue;
    auto it = std::find(got.begin() + static_cast<long>(at), got.end(), s);
    if (it == got.end()) {
      missing.push_back(s);
    } else {
      at = static_cast<size_t>(it - got.begin()) + 1;
    }
  }
  return missing;
}

TEST(Docs, EveryReadmeExampleThatShowsOutputPrintsItToday) {
  const std::vector<Example> examples = ReadmeExamples();
  ASSERT_GE(examples.size(), 10u) << "README examples not found: the parser and README.md disagree";
  // The README's commands run from the repository root; their outputs go to a scratch folder
  // that sees the repository's configs and reports.
  const fs::path work = Dir("readme");
  for (const char* link : {"configs", "reports", "README.md"}) {
    std::error_code ec;
    fs::create_symlink(kSource / link, work / link, ec);
  }
  fs::create_directories(work / "build");
  std::error_code ec;
  fs::create_symlink(NPUSIM_BIN, work / "build/npusim", ec);
  int checked = 0;
  for (const Example& e : examples) {
    if (!e.skip.empty()) continue;
    std::string cmd = e.command;
    const size_t comment = cmd.find("  #");
    if (comment != std::string::npos) cmd.resize(comment);
    const Result r = ShellIn(work, cmd + " 2>&1");
    if (e.shown.empty()) continue;  // a step the next examples build on
    const std::vector<std::string> missing = NotFound(e.shown, r.output);
    ++checked;
    std::string list;
    for (const std::string& m : missing) list += "\n    " + m;
    EXPECT_TRUE(missing.empty()) << "README.md:" << e.line << " `" << e.command << "` (exit "
                                 << r.code
                                 << ") no longer prints these lines in this order:" << list
                                 << "\n  it printed:\n"
                                 << r.output;
  }
  EXPECT_GE(checked, 10);
}

}  // namespace
}  // namespace npusim
