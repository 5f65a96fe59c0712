// `npusim calibrate`: the calibration corpus simulated and compared, optionally fitted first.
#pragma once

#include <string>
#include <vector>

namespace npusim {

int Calibrate(std::vector<std::string> argv);

}  // namespace npusim
