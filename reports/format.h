// Number formatting shared by the report writers: fixed digits for tables, 6 significant digits
// for JSON (readable and byte-stable across runs).
#pragma once

#include <cstdio>
#include <string>

#include "model/config.h"

namespace npusim::report {

inline std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// Three significant digits, exponent when needed (errors spanning 1e-9 .. 1).
inline std::string Sig3(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

using ::npusim::Tidy;  // model/config.h

}  // namespace npusim::report
