// `npusim validate FILE`: which kind of npusim YAML a file is (by its keys) and a one-line
// description of it once it has loaded as that kind, with every check the kind's loader and its
// users make (a run config is planned in HBM, a sweep's every point loads).
#pragma once

#include <string>

namespace npusim {

// "<path> is a valid <kind>: <facts>"; InputError (file:line:col, key, nearest valid) otherwise.
std::string DescribeConfigFile(const std::string& path);

}  // namespace npusim
