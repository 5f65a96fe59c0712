// libFuzzer target for the input readers: run, device, model, explore and sweep configs,
// calibration rows and host profiles (the first input byte modulo 7 picks one, the rest is the
// file), and the .npy tensor reader (first byte 0xF0) and the JSONL trace reader (0xF1) of
// `kernel --inputs` and `dataset_name: trace`. Bad input must come back as InputError
// (exit 2 with file:line:col in the CLI); any other exception, crash, leak-free hang or
// sanitizer report is a finding. Inputs are written to a scratch directory beside links to the
// shipped configs/models and configs/runs, so relative paths in seeds resolve as in the repo.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

#include "devices/device_config.h"
#include "model/error.h"
#include "model/npy.h"
#include "workloads/calibration.h"
#include "workloads/explore.h"
#include "workloads/host_profile.h"
#include "workloads/model_config.h"
#include "workloads/requests.h"
#include "workloads/run_config.h"
#include "workloads/sweep.h"

namespace {

std::string g_input;

void Setup() {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("npusim_fuzz_" + std::to_string(getpid()));
  fs::create_directories(root / "input");
  for (const char* d : {"models", "runs", "devices", "hosts"}) {
    const fs::path target = fs::path(NPUSIM_SOURCE_DIR) / "configs" / d;
    std::error_code ec;
    if (fs::exists(target)) fs::create_directory_symlink(target, root / d, ec);
  }
  g_input = (root / "input" / "config").string();
}

}  // namespace

// libsystemc.so refers to sc_main; the loaders never start a simulation.
extern "C" int sc_main(int, char**) { return 0; }

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  Setup();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // 0xF0 / 0xF1 are taken out of the modulo so that the loaders' past regressions keep theirs.
  const int which = data[0] == 0xF0 ? 7 : data[0] == 0xF1 ? 8 : data[0] % 7;
  const char* ext[] = {".yaml", ".yaml", ".json", ".yaml", ".yaml",
                       ".yaml", ".yaml", ".npy",  ".jsonl"};
  const std::string path = g_input + ext[which];
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
  }
  try {
    switch (which) {
      case 0:
        npusim::LoadRunConfig(path);
        break;
      case 1:
        npusim::LoadDeviceFile(path);
        break;
      case 2:
        npusim::LoadModelConfig(path);
        break;
      case 3:
        npusim::LoadExploreConfig(path);
        break;
      case 4:
        npusim::LoadSweepConfig(path);
        break;
      case 5:
        npusim::ReadRowCheck(path);
        break;
      case 6:
        npusim::LoadHostProfile(path);
        break;
      case 7:
        npusim::ReadNpy(path, "x", size % 2 ? npusim::DType::kFloat32 : npusim::DType::kBFloat16);
        break;
      case 8:
        npusim::ReadTrace(path);
        break;
    }
  } catch (const npusim::InputError&) {
    // the expected answer to bad input
  } catch (const std::exception& e) {
    // A finding: say what escaped (CI logs keep only the tail of a crash report), then abort so
    // libFuzzer writes the input out.
    std::fprintf(stderr, "config_fuzz: loader %d let a non-InputError escape: %s\n", which,
                 e.what());
    std::abort();
  }
  return 0;
}
