#include "devices/core_runtime.h"

#include <stdexcept>

namespace npusim {

namespace {
// One simulation thread at a time runs kernel code: the core model sets it at every resume.
CoreRuntime* g_current_core = nullptr;
}  // namespace

CoreRuntime& CurrentCore() {
  if (!g_current_core) throw std::logic_error("AscendC API used outside a kernel launch");
  return *g_current_core;
}

void SetCurrentCore(CoreRuntime* core) { g_current_core = core; }

}  // namespace npusim
