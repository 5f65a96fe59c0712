#include "devices/cost_model.h"

#include <algorithm>
#include <cmath>

namespace npusim {

CostModel::CostModel(const DeviceConfig& cfg) : cfg_(cfg) {
  for (int i = 0; i < static_cast<int>(MtePath::kCount); ++i) {
    latency_[i] = cfg.NsToCycles(cfg.mte[i].latency_ns);
    bw_[i] = cfg.BytesPerCycle(cfg.mte[i].bandwidth_gbps);
  }
}

bool CostModel::TouchesGm(MtePath p) {
  switch (p) {
    case MtePath::kGmToUb:
    case MtePath::kUbToGm:
    case MtePath::kGmToL1:
    case MtePath::kL0cToGm:
    case MtePath::kGmToL0A:
    case MtePath::kGmToL0B:
      return true;
    default:
      return false;
  }
}

static uint64_t CeilDiv(double a, double b) {
  return static_cast<uint64_t>(std::ceil(a / b - 1e-9));
}

uint64_t CostModel::VectorCycles(VecClass c, uint64_t bytes, size_t elem_bytes) const {
  const auto& p = cfg_.vec[static_cast<int>(c)];
  uint64_t repeat = static_cast<uint64_t>(cfg_.repeat_bytes);
  uint64_t work = std::max<uint64_t>(1, (bytes + repeat - 1) / repeat) * repeat;
  double rate = elem_bytes >= 4 ? p.rate_b32 : p.rate_b16;
  return static_cast<uint64_t>(p.startup_cycles) + CeilDiv(static_cast<double>(work), rate);
}

double CostModel::VectorIdealCycles(VecClass c, uint64_t bytes, size_t elem_bytes) const {
  const auto& p = cfg_.vec[static_cast<int>(c)];
  return static_cast<double>(bytes) / (elem_bytes >= 4 ? p.rate_b32 : p.rate_b16);
}

uint64_t CostModel::CubeCycles(uint32_t m, uint32_t k, uint32_t n, DType in) const {
  uint64_t k_frac = (in == DType::kInt8 || in == DType::kUInt8) ? 32 : 16;
  uint64_t fractals = ((m + 15) / 16) * ((k + k_frac - 1) / k_frac) * ((n + 15) / 16);
  uint64_t per = static_cast<uint64_t>(cfg_.cube_fractal_cycles);
  if (in == DType::kFloat32) per *= static_cast<uint64_t>(cfg_.cube_fp32_slowdown);
  return static_cast<uint64_t>(cfg_.cube_startup_cycles) + fractals * per;
}

double CostModel::CubeIdealCycles(uint32_t m, uint32_t k, uint32_t n, DType in) const {
  const double k_frac = (in == DType::kInt8 || in == DType::kUInt8) ? 32 : 16;
  double per = cfg_.cube_fractal_cycles * (in == DType::kFloat32 ? cfg_.cube_fp32_slowdown : 1.0);
  return static_cast<double>(m) * k * n / (16.0 * 16.0 * k_frac) * per;
}

uint64_t CostModel::PathCycles(MtePath p, uint64_t bytes) const {
  return latency_[static_cast<int>(p)] +
         CeilDiv(static_cast<double>(bytes), bw_[static_cast<int>(p)]);
}

uint64_t CostModel::LocalCycles(const Instr& in) const {
  switch (in.op) {
    case Opcode::kVector:
      return VectorCycles(ClassOf(in.vop), in.bytes, SizeOf(in.dtype));
    case Opcode::kMmad:
      return CubeCycles(in.m, in.k, in.n, in.dtype);
    case Opcode::kCopy:
    case Opcode::kLoad2D:
    case Opcode::kFixpipe:
      return PathCycles(in.path, in.bytes);
    default:
      return 0;
  }
}

namespace {
// Bits [lo, hi) of a 64-bit mask.
uint64_t Bits(uint64_t lo, uint64_t hi) {
  return (hi >= 64 ? ~0ull : (1ull << hi) - 1) & ~((1ull << lo) - 1);
}

// Set bits of a word, by bit arithmetic: portable (no -mpopcnt) and without the libgcc call
// __builtin_popcountll becomes without it.
inline uint64_t Popcount(uint64_t x) {
  x -= (x >> 1) & 0x5555555555555555ull;
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
  return (x * 0x0101010101010101ull) >> 56;
}
}  // namespace

void SharedMemory::ResetCounters(uint64_t origin) {
  read_bytes_ = write_bytes_ = l2_hit_bytes_ = 0;
  for (const uint64_t page : order_) PageAt(page) = Page{};
  order_.clear();
  resident_ = 0;
  origin_ = origin;
  hbm_free_ = l2_free_ = 0;
}

SharedMemory::Page& SharedMemory::PageAt(uint64_t page) {
  const uint64_t id = page / kChunkPages;
  if (id != last_chunk_id_) {
    auto& chunk = chunks_[id];
    if (!chunk) chunk = std::make_unique<Chunk>();
    last_chunk_ = chunk.get();
    last_chunk_id_ = id;
  }
  return (*last_chunk_)[page % kChunkPages];
}

SharedMemory::Page& SharedMemory::Listed(uint64_t page) {
  if (page != last_page_id_) {  // a strided copy's rows mostly share a page with the row before
    last_page_ = &PageAt(page);
    last_page_id_ = page;
  }
  Page& pg = *last_page_;
  if (!pg.listed) {
    pg.listed = true;
    order_.push_back(page);
  }
  return pg;
}

void SharedMemory::Evict() {
  // First in, first out, a page at a time; the dirty bits of an evicted page go with it (it was
  // written back), so a rewrite after eviction is written back again.
  while (resident_ > l2_granules_ && order_.size() > 1) {
    Page& old = PageAt(order_.front());
    order_.pop_front();
    resident_ -= Popcount(old.resident);
    old = Page{};
  }
}

uint64_t SharedMemory::Touch(uint64_t addr, uint64_t len, bool write, uint64_t& missed,
                             uint64_t& dirtied) {
  if (len == 0) return 0;
  uint64_t hit = 0;
  const uint64_t g_first = addr / kGranule, g_last = (addr + len - 1) / kGranule;
  if (g_first == g_last) {  // inside one granule (most rows of a tile copy): one bit
    Page& pg = Listed(g_first / kPageGranules);
    const uint64_t bit = 1ull << (g_first % kPageGranules);
    if (pg.resident & bit) {
      hit = len;
    } else {
      ++missed;
      ++resident_;
      pg.resident |= bit;
    }
    if (write && !(pg.dirty & bit)) {
      ++dirtied;
      pg.dirty |= bit;
    }
    if (resident_ > l2_granules_) Evict();
    return hit;
  }
  for (uint64_t page = g_first / kPageGranules; page <= g_last / kPageGranules; ++page) {
    const uint64_t lo = std::max(g_first, page * kPageGranules) - page * kPageGranules;
    const uint64_t hi = std::min(g_last + 1, (page + 1) * kPageGranules) - page * kPageGranules;
    const uint64_t mask = Bits(lo, hi);
    Page& pg = Listed(page);
    const uint64_t was = pg.resident & mask;
    // Bytes of the resident granules in range: whole granules, less the parts of the first and
    // last granule that lie outside [addr, addr + len).
    uint64_t bytes = Popcount(was) * kGranule;
    const uint64_t g0 = page * kPageGranules + lo, g1 = page * kPageGranules + hi - 1;
    if (was & (1ull << lo)) bytes -= addr > g0 * kGranule ? addr - g0 * kGranule : 0;
    if (was & (1ull << (hi - 1)))
      bytes -= (g1 + 1) * kGranule > addr + len ? (g1 + 1) * kGranule - (addr + len) : 0;
    hit += bytes;
    const uint64_t added = Popcount(mask & ~pg.resident);
    missed += added;
    resident_ += added;
    pg.resident |= mask;
    if (write) {
      dirtied += Popcount(mask & ~pg.dirty);
      pg.dirty |= mask;
    }
  }
  if (resident_ > l2_granules_) Evict();
  return hit;
}

uint64_t SharedMemory::Transfer(uint64_t start, const GmSpan& span, uint64_t bytes,
                                uint64_t path_cycles, uint64_t latency, bool write) {
  uint64_t hit = 0, missed = 0, dirtied = 0;
  if (span.stride == span.block_bytes) {  // contiguous blocks: one range
    hit = Touch(span.addr, span.block_bytes * span.blocks, write, missed, dirtied);
  } else {
    for (uint32_t b = 0; b < span.blocks; ++b)
      hit += Touch(span.addr + b * span.stride, span.block_bytes, write, missed, dirtied);
  }
  // A read miss fills whole granules from HBM; a written granule is written back once per
  // launch, however often it is rewritten (a workspace slot reused by every loop iteration).
  const uint64_t hbm_bytes = (write ? dirtied : missed) * kGranule;
  if (!write) l2_hit_bytes_ += std::min(hit, bytes);
  const double s = static_cast<double>(start - origin_);
  double hbm_done = s;  // an all-hit read does not wait for HBM
  if (hbm_bytes > 0) {
    hbm_free_ = std::max(s, hbm_free_) + static_cast<double>(hbm_bytes) / hbm_bpc_;
    hbm_done = hbm_free_;
  }
  l2_free_ = std::max(s, l2_free_) + static_cast<double>(bytes) / l2_bpc_;
  (write ? write_bytes_ : read_bytes_) += hbm_bytes;
  double data_done = std::max({s + static_cast<double>(path_cycles - latency), hbm_done, l2_free_});
  return origin_ + static_cast<uint64_t>(std::ceil(data_done - 1e-9)) + latency;
}

LinkModel::LinkModel(const DeviceConfig& cfg)
    : peer_bpc_(cfg.BytesPerCycle(cfg.link_peer_gbps)),
      aggregate_bpc_(cfg.BytesPerCycle(cfg.link_aggregate_gbps)),
      pair_bpc_(cfg.BytesPerCycle(cfg.link_pair_gbps)),
      pair_ranks_(static_cast<int>(cfg.link_pair_ranks)) {}

uint64_t LinkModel::Transfer(uint64_t start, int self, int peer, uint64_t bytes,
                             uint64_t path_cycles, uint64_t latency) {
  if (peer_free_.size() <= static_cast<size_t>(peer)) {
    peer_free_.resize(static_cast<size_t>(peer) + 1, 0.0);
    peer_bytes_.resize(static_cast<size_t>(peer) + 1, 0);
  }
  const double s = static_cast<double>(start - origin_), b = static_cast<double>(bytes);
  const bool pair = pair_ranks_ == 2 && peer / 2 == self / 2;
  double& link = peer_free_[static_cast<size_t>(peer)];
  link = std::max(s, link) + b / (pair ? pair_bpc_ : peer_bpc_);
  double done = link;
  if (!pair) {
    aggregate_free_ = std::max(s, aggregate_free_) + b / aggregate_bpc_;
    done = std::max(done, aggregate_free_);
  }
  (pair ? pair_bytes_ : bytes_) += bytes;
  if (!pair) peer_bytes_[static_cast<size_t>(peer)] += bytes;
  const double data_done = std::max(s + static_cast<double>(path_cycles - latency), done);
  return origin_ + static_cast<uint64_t>(std::ceil(data_done - 1e-9)) + latency;
}

}  // namespace npusim
