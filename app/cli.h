// The npusim command line (DESIGN.md §6). Returns the process exit code: 0 ok, 2 invalid input,
// 3 simulated failure.
#pragma once

#include <string>
#include <vector>

namespace npusim {

int RunCli(const std::vector<std::string>& args);

}  // namespace npusim
