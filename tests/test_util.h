// Shared helpers for the test suites.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "devices/chip.h"
#include "devices/core_runtime.h"
#include "devices/device_config.h"
#include "model/error.h"

namespace npusim::testing {

inline DeviceConfig TestDevice() {
  return LoadDeviceFile(std::string(NPUSIM_SOURCE_DIR) + "/tests/data/test_device.yaml");
}

// A GM tensor backed by host bytes.
struct GmArray {
  std::vector<uint8_t> bytes;
  GmBuffer buffer;
  GmArray(const std::string& name, size_t n, uint64_t addr = 0x1000) : bytes(n) {
    buffer = GmBuffer{name, bytes.data(), n, addr};
  }
  template <class T>
  T* as() {
    return reinterpret_cast<T*>(bytes.data());
  }
};

inline KernelLaunch OneBlock(std::function<void()> body, CoreType type = CoreType::kAiv,
                             int64_t block_dim = 1) {
  KernelLaunch k;
  k.name = "test";
  k.block_dim = block_dim;
  k.core_type = type;
  k.functional = true;
  k.body = std::move(body);
  return k;
}

// Runs a launch that must fail; returns the failure.
inline SimFailure ExpectSimFailure(Chip& chip, const KernelLaunch& k) {
  try {
    chip.Launch(k);
  } catch (const SimFailure& e) {
    return e;
  }
  ADD_FAILURE() << "launch succeeded but a SimFailure was expected";
  return SimFailure("none", "");
}

}  // namespace npusim::testing
