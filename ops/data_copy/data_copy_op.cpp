// `data_copy`: registration, inputs, launch and fp64 reference.
#include "model/error.h"
#include "ops/data_copy/data_copy_kernel.h"
#include "ops/op.h"

namespace npusim {

namespace {

class DataCopyOp : public Op {
 public:
  std::string name() const override { return "data_copy"; }
  std::string summary() const override {
    return "a read-only GM -> UB (DataCopyPad) or GM -> L1 (Nd2Nz) sweep of an fp16 matrix in "
           "tiles, CANN's DataCopy best-practice sample: MTE2 cost per instruction, burst, "
           "alignment and L2 reuse";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {
        {"m", K::kInt, "4096", "rows", 1, 1e9},
        {"n", K::kInt, "4096", "columns (fp16 elements)", 1, 1e9},
        {"tile_m", K::kInt, "64", "rows per DataCopy", 1, 4095},
        {"tile_n", K::kInt, "1024", "columns per DataCopy", 1, 65535},
        {"dst",
         K::kString,
         "ub",
         "destination: ub (AIV cores) or l1 (AIC cores, Nd2Nz)",
         0,
         0,
         {"ub", "l1"}},
        {"slices", K::kInt, "1", "N cut into this many column slices, walked in turn", 1, 65535},
        {"repeat", K::kInt, "1", "reads of each slice in a row (L2 reuse)", 1, 1024},
        {"buffer_num", K::kInt, "1", "UB / L1 slots the tiles rotate through", 1, 2},
        {"block_dim", K::kInt, "0", "cores (0 = every AIV for ub, every AIC for l1)", 0, 65535},
        {"write_back", K::kInt, "0", "ub only: store each tile to y (1) so numerics can be checked",
         0, 1},
    };
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    Shape s{p.Int("m"), p.Int("n")};
    return {{"x", s, DType::kFloat16, TensorRole::kInput},
            {"y", s, DType::kFloat16, TensorRole::kOutput}};
  }
  void FillInputs(const ParamValues&, TensorMap& t, Rng& rng) const override {
    Tensor& x = t["x"];
    if (!x.materialised()) return;
    for (int64_t i = 0; i < x.numel(); ++i) x.Set(i, rng.Normal());
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    const bool l1 = p.Str("dst") == "l1";
    if (l1 && p.Int("write_back") != 0)
      throw InputError("data_copy: write_back needs dst=ub (an L1 tile is in Nz layout)");
    data_copy::DataCopyTiling t = data_copy::ComputeDataCopyTiling(
        p.Int("m"), p.Int("n"), p.Int("tile_m"), p.Int("tile_n"), p.Int("slices"), p.Int("repeat"),
        p.Int("buffer_num"), p.Int("block_dim"), l1, d);
    GmBuffer *x = &gm["x"], *y = &gm["y"];
    const bool wb = p.Int("write_back") != 0;
    LaunchPlan plan;
    plan.launch.name = "data_copy";
    plan.launch.block_dim = t.block_dim;
    plan.launch.core_type = l1 ? CoreType::kAic : CoreType::kAiv;
    if (l1)
      plan.launch.body = Body<ascendc::TPosition::A1>(x, y, t, wb);
    else
      plan.launch.body = Body<ascendc::TPosition::VECIN>(x, y, t, wb);
    plan.tiling = {{"block_dim", std::to_string(t.block_dim)},
                   {"rows_per_core", std::to_string(t.rows_per_core)},
                   {"tile", std::to_string(t.tile_m) + "x" + std::to_string(t.tile_n)},
                   {"slices", std::to_string(t.slices)},
                   {"repeat", std::to_string(t.repeat)}};
    return plan;
  }
  // y is x where it was written back; without write_back the kernel only reads.
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    if (p.Int("write_back") == 0) return {};
    const Tensor& x = in.at("x");
    std::vector<double> y(static_cast<size_t>(x.numel()));
    for (int64_t i = 0; i < x.numel(); ++i) y[static_cast<size_t>(i)] = x.At(i);
    return {{"y", y}};
  }

 private:
  template <ascendc::TPosition kPos>
  static std::function<void()> Body(GmBuffer* x, GmBuffer* y, data_copy::DataCopyTiling t,
                                    bool wb) {
    return [=] {
      data_copy::KernelDataCopy<kPos> k;
      k.Init(x, y, t, wb);
      k.Process();
    };
  }
};

}  // namespace

std::unique_ptr<Op> MakeDataCopyOp() { return std::make_unique<DataCopyOp>(); }

}  // namespace npusim
