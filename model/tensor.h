// A host tensor: name, shape, dtype, strides (in elements) and, when materialised, its bytes.
// A tensor that is not materialised has a shape but no data (timing-only mode).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/dtype.h"

namespace npusim {

using Shape = std::vector<int64_t>;

std::string ShapeString(const Shape& shape);  // "[2, 3, 4]"
int64_t NumElements(const Shape& shape);
Shape ContiguousStrides(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;
  Tensor(std::string name, Shape shape, DType dtype, bool materialise = true);

  const std::string& name() const { return name_; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  DType dtype() const { return dtype_; }
  int64_t numel() const { return NumElements(shape_); }
  uint64_t nbytes() const { return static_cast<uint64_t>(numel()) * SizeOf(dtype_); }
  bool materialised() const { return !data_.empty() || numel() == 0; }

  uint8_t* data() { return data_.data(); }
  const uint8_t* data() const { return data_.data(); }
  std::vector<uint8_t>& bytes() { return data_; }
  const std::vector<uint8_t>& bytes() const { return data_; }

  // Element offset of a multi-index through the strides.
  int64_t Offset(const std::vector<int64_t>& index) const;
  // Flat (element-offset) access, exact load and rounded store.
  double At(int64_t offset) const {
    return LoadElement(data_.data() + offset * SizeOf(dtype_), dtype_);
  }
  void Set(int64_t offset, double v, RoundMode m = RoundMode::kRint) {
    StoreElement(data_.data() + offset * SizeOf(dtype_), dtype_, v, m);
  }
  std::vector<double> ToDoubles() const;

 private:
  std::string name_;
  Shape shape_;
  Shape strides_;
  DType dtype_ = DType::kFloat32;
  std::vector<uint8_t> data_;
};

}  // namespace npusim
