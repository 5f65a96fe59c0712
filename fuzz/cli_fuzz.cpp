// libFuzzer target for the command-line parser: the first byte picks a command, the rest is its
// argument words separated by newlines. Parsing must end in Args, HelpRequested or InputError
// (exit 2 in the CLI); any other exception, crash or sanitizer report is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "app/command_line.h"
#include "model/error.h"

// libsystemc.so refers to sc_main; parsing never starts a simulation.
extern "C" int sc_main(int, char**) { return 0; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace npusim;
  if (size == 0) return 0;
  const std::vector<CommandSpec>& commands = Commands();
  const CommandSpec& spec = commands[data[0] % commands.size()];
  std::vector<std::string> argv(1);
  for (size_t i = 1; i < size; ++i) {
    if (data[i] == '\n')
      argv.emplace_back();
    else
      argv.back() += static_cast<char>(data[i]);
  }
  try {
    const Args a = ParseCommand(spec, argv, spec.name == "kernel");
    // The integer options every command reads the same way.
    for (const char* key : {"--seed", "--jobs", "--functional-limit-mb", "--tp"})
      if (!Option(a, key, "").empty()) UnsignedOption(a, key, 0, 1u << 20);
  } catch (const InputError&) {
  } catch (const HelpRequested&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "escaped the parser: %s\n", e.what());
    std::abort();
  }
  return 0;
}
