#include "ops/common/probe_extrapolation.h"

#include <algorithm>

namespace npusim::op_util {

namespace {

std::vector<UnitWork> RowsPerBlock(const kernel_util::BlockSplit& split) {
  std::vector<UnitWork> w;
  for (int64_t b = 0; b < split.blocks; ++b)
    w.push_back({1.0, static_cast<double>(split.Count(b))});
  return w;
}

// Tiles dealt round-robin: block b runs tiles b, b + blocks, ...
std::vector<UnitWork> TilesPerBlock(int64_t tiles, int64_t blocks) {
  std::vector<UnitWork> w;
  for (int64_t b = 0; b < blocks; ++b)
    w.push_back(
        {1.0, static_cast<double>(std::max<int64_t>(0, (tiles - b + blocks - 1) / blocks))});
  return w;
}

ParamValues Probe(const ParamValues& p, const std::string& key, int64_t value, const Pins& pins) {
  ParamValues probe = p;
  probe.Set(key, std::to_string(value));
  for (const auto& [k, v] : pins) probe.Set(k, std::to_string(v));
  return probe;
}

}  // namespace

std::optional<Extrapolation> RowStreamExtrapolation(const ParamValues& p, const RowStream& s) {
  if (s.rows_per_tile <= 0 || s.rows_per_token <= 0 || s.max_blocks <= 0) return std::nullopt;
  const int64_t tiles = (s.split.per + s.rows_per_tile - 1) / s.rows_per_tile;
  if (tiles <= kRowExtrapolateAboveTiles) return std::nullopt;
  Extrapolation ex;
  ex.work = RowsPerBlock(s.split);
  ex.work_name = "row";
  for (int64_t per_block : {16, 32}) {
    const int64_t rows = s.split.blocks * per_block * s.rows_per_tile;
    const int64_t tokens = (rows + s.rows_per_token - 1) / s.rows_per_token;
    const kernel_util::BlockSplit probe_split(tokens * s.rows_per_token, s.max_blocks);
    if (probe_split.blocks != s.split.blocks) return std::nullopt;  // not the launch's blocks
    ex.probes.push_back(Probe(p, s.tokens_key, tokens, s.pins));
    ex.probe_work.push_back(RowsPerBlock(probe_split));
  }
  return ex;
}

std::optional<Extrapolation> TileStreamExtrapolation(const ParamValues& p, const TileStream& s) {
  if (s.tiles_m <= 0 || s.tiles_n <= 0 || s.blocks <= 0 || s.base_m <= 0) return std::nullopt;
  const int64_t bands =
      std::max<int64_t>(kTileProbeMinBands, (16 * s.blocks + s.tiles_n - 1) / s.tiles_n);
  if (s.tiles_m <= kTileExtrapolateAboveProbes * 2 * bands) return std::nullopt;
  Extrapolation ex;
  ex.work = TilesPerBlock(s.tiles_m * s.tiles_n, s.blocks);
  ex.work_name = "output tile";
  for (int64_t b : {bands, 2 * bands}) {
    ex.probes.push_back(Probe(p, s.rows_key, b * s.base_m, s.pins));
    ex.probe_work.push_back(TilesPerBlock(b * s.tiles_n, s.blocks));
  }
  return ex;
}

}  // namespace npusim::op_util
