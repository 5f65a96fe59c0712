#include "devices/timing_models.h"

#include "devices/cost_model.h"
#include "devices/memory_system.h"
#include "model/error.h"
#include "model/text.h"

namespace npusim {

namespace {
template <class Part, class Impl>
std::unique_ptr<Part> Construct(const DeviceConfig& cfg) {
  return std::make_unique<Impl>(cfg);
}
}  // namespace

// The registered implementations: one line each. The first of a part is its default.
template <>
const std::vector<TimingImpls<VectorModel>::Entry>& TimingImpls<VectorModel>::All() {
  static const std::vector<Entry> kAll = {
      {"repeat", Construct<VectorModel, RepeatVector>,
       "startup, then whole 256 B repeats at the class's rate"},
  };
  return kAll;
}

template <>
const std::vector<TimingImpls<CubeModel>::Entry>& TimingImpls<CubeModel>::All() {
  static const std::vector<Entry> kAll = {
      {"fractal", Construct<CubeModel, FractalCube>, "startup, then one cycle count per fractal"},
  };
  return kAll;
}

template <>
const std::vector<TimingImpls<MteModel>::Entry>& TimingImpls<MteModel>::All() {
  static const std::vector<Entry> kAll = {
      {"latency_bandwidth", Construct<MteModel, LatencyBandwidthMte>,
       "latency + bytes / bandwidth per path, one transfer at a time per pipe"},
      {"latency_bandwidth_pipelined", Construct<MteModel, PipelinedLatencyBandwidthMte>,
       "latency + bytes / bandwidth per path; a pipe starts the next transfer when this one's "
       "bytes have moved, its latency overlapping"},
  };
  return kAll;
}

template <>
const std::vector<TimingImpls<MemorySystem>::Entry>& TimingImpls<MemorySystem>::All() {
  static const std::vector<Entry> kAll = {
      {"l2_hbm", Construct<MemorySystem, L2HbmMemory>,
       "L2 residency (512 B granules, FIFO pages) in front of HBM, bandwidth shared by all cores"},
  };
  return kAll;
}

template <>
const std::vector<TimingImpls<LinkNetwork>::Entry>& TimingImpls<LinkNetwork>::All() {
  static const std::vector<Entry> kAll = {
      {"peer_aggregate", Construct<LinkNetwork, PeerAggregateLinks>,
       "a link per peer (SIO to the package's other die), the non-pair links capped together by "
       "the chip's aggregate bandwidth"},
  };
  return kAll;
}

template <class Part>
std::vector<std::string> TimingImpls<Part>::Names() {
  std::vector<std::string> names;
  for (const Entry& e : All()) names.emplace_back(e.name);
  return names;
}

template <class Part>
std::unique_ptr<Part> TimingImpls<Part>::Make(const std::string& name, const DeviceConfig& cfg) {
  for (const Entry& e : All())
    if (name == e.name) return e.make(cfg);
  // The device binder checks impl keys against Names(); this guards hand-built configs.
  throw InputError("no timing implementation '" + name + "'" + NearestHint(name, Names()));
}

template struct TimingImpls<VectorModel>;
template struct TimingImpls<CubeModel>;
template struct TimingImpls<MteModel>;
template struct TimingImpls<MemorySystem>;
template struct TimingImpls<LinkNetwork>;

}  // namespace npusim
