#include "devices/core_runtime.h"

#include <stdexcept>

namespace npusim::current_core {

// One simulation thread at a time runs kernel code: the core model sets it at every resume.
CoreRuntime* g_current_core = nullptr;

void NoCurrentCore() { throw std::logic_error("AscendC API used outside a kernel launch"); }

}  // namespace npusim::current_core
