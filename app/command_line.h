// The npusim command line, declared once: every command's positional arguments and options with
// their value names and meaning. The same declaration parses (CLI11) and writes `--help`, so the
// help cannot drift from what is accepted.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "app/cli_util.h"

namespace npusim {

struct OptionSpec {
  std::string names;  // CLI11 form: "--out" or "-j,--jobs"; the long name is the key in Args
  std::string value;  // value name shown in help ("DIR"); empty for a flag
  std::string help;
  bool repeat = false;  // may be given more than once; every value is kept in order
};

struct CommandSpec {
  std::string name;
  std::string positionals;  // as shown in the usage line, e.g. "[RUN.yaml]"
  std::string summary;      // one line for `npusim --help`
  std::string description;  // the paragraph of `npusim NAME --help`
  std::vector<OptionSpec> options;
};

// `--help` was given: the text to print on stdout (exit 0).
class HelpRequested : public std::runtime_error {
 public:
  explicit HelpRequested(const std::string& text) : std::runtime_error(text) {}
};

// Every command, in the order `npusim --help` lists them.
const std::vector<CommandSpec>& Commands();
const CommandSpec& Command(const std::string& name);  // InputError naming the nearest command

// Parses argv (after the command name) against the command's declaration. Unknown options are an
// InputError naming the nearest declared one; `-h` / `--help` throws HelpRequested unless the
// command handles help itself (`kernel NAME --help`), which sees the "--help" flag in Args.
Args ParseCommand(const CommandSpec& spec, const std::vector<std::string>& argv,
                  bool own_help = false);

std::string CommandHelp(const CommandSpec& spec);
std::string TopLevelHelp();
std::string VersionText();

}  // namespace npusim
