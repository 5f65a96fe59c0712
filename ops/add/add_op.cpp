// `add`: registration, inputs, launch and fp64 reference.
#include "model/error.h"
#include "ops/add/add_kernel.h"
#include "ops/op.h"

namespace npusim {

namespace {

class AddOp : public Op {
 public:
  std::string name() const override { return "add"; }
  std::string summary() const override {
    return "z = x + y, the AscendC double-buffer vector sample";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {
        {"n", K::kInt, "1048576", "elements", 1, 1e12},
        {"dtype", K::kString, "float16", "element type", 0, 0, {"float16", "bfloat16", "float32"}},
        {"tile", K::kInt, "0", "elements per UB tile (0 = from UB capacity)", 0, 1e12},
        {"buffer_num", K::kInt, "2", "buffers per queue (1 = single, 2 = double buffering)", 1, 2},
        {"block_dim", K::kInt, "0", "blocks (0 = up to one per AIV)", 0, 65535},
    };
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    DType t = ParseDType(p.Str("dtype"));
    Shape s{p.Int("n")};
    return {{"x", s, t, TensorRole::kInput},
            {"y", s, t, TensorRole::kInput},
            {"z", s, t, TensorRole::kOutput}};
  }
  void FillInputs(const ParamValues&, TensorMap& t, Rng& rng) const override {
    for (const char* name : {"x", "y"}) {
      Tensor& x = t[name];
      if (!x.materialised()) continue;
      for (int64_t i = 0; i < x.numel(); ++i) x.Set(i, rng.Normal());
    }
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    DType dt = ParseDType(p.Str("dtype"));
    add::AddTiling t =
        add::ComputeAddTiling(p.Int("n"), static_cast<int64_t>(SizeOf(dt)), p.Int("tile"),
                              p.Int("buffer_num"), p.Int("block_dim"), d);
    GmBuffer *x = &gm["x"], *y = &gm["y"], *z = &gm["z"];
    LaunchPlan plan;
    plan.launch.name = "add";
    plan.launch.block_dim = t.block_dim;
    plan.launch.core_type = CoreType::kAiv;
    switch (dt) {
      case DType::kFloat16:
        plan.launch.body = Body<ascendc::half>(x, y, z, t);
        break;
      case DType::kBFloat16:
        plan.launch.body = Body<ascendc::bfloat16_t>(x, y, z, t);
        break;
      default:
        plan.launch.body = Body<float>(x, y, z, t);
        break;
    }
    plan.tiling = {{"block_dim", std::to_string(t.block_dim)},
                   {"block_len", std::to_string(t.block_len)},
                   {"tile", std::to_string(t.tile)},
                   {"buffer_num", std::to_string(t.buffer_num)}};
    return plan;
  }
  Expected Reference(const ParamValues&, const TensorMap& in) const override {
    const Tensor &x = in.at("x"), &y = in.at("y");
    std::vector<double> z(static_cast<size_t>(x.numel()));
    for (int64_t i = 0; i < x.numel(); ++i) z[i] = x.At(i) + y.At(i);
    return {{"z", z}};
  }

 private:
  template <class T>
  static std::function<void()> Body(GmBuffer* x, GmBuffer* y, GmBuffer* z, add::AddTiling t) {
    return [=] {
      add::KernelAdd<T> op;
      op.Init(x, y, z, t);
      op.Process();
    };
  }
};

}  // namespace

std::unique_ptr<Op> MakeAddOp() { return std::make_unique<AddOp>(); }

}  // namespace npusim
