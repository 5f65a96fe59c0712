// libsystemc provides main() and calls sc_main().
#include <csignal>
#include <cstdlib>
#include <string>
#include <vector>

#include "app/cli.h"
#include "workloads/self_runs.h"

// SystemC prints its banner before sc_main runs: silence it during static initialisation.
static const int kQuietBanner = setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);

extern "C" int sc_main(int argc, char* argv[]) {
  (void)kQuietBanner;
  // A closed stdout (`npusim run ... | head -1`) makes writes fail instead of killing the process:
  // outputs are written before anything is printed, and the exit code stays the command's.
  std::signal(SIGPIPE, SIG_IGN);
  npusim::SetSelfRunner(npusim::RunCli);  // capacity probes, sweep points, calibration rows
  return npusim::RunCli(std::vector<std::string>(argv + 1, argv + argc));
}
