#include "model/tensor.h"

#include "model/error.h"

namespace npusim {

std::string ShapeString(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Shape ContiguousStrides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) strides[i] = s, s *= shape[i];
  return strides;
}

Tensor::Tensor(std::string name, Shape shape, DType dtype, bool materialise)
    : name_(std::move(name)),
      shape_(std::move(shape)),
      strides_(ContiguousStrides(shape_)),
      dtype_(dtype) {
  for (int64_t d : shape_)
    if (d < 0)
      throw InputError("tensor '" + name_ + "' has a negative dimension " + ShapeString(shape_));
  if (materialise) data_.assign(nbytes(), 0);
}

int64_t Tensor::Offset(const std::vector<int64_t>& index) const {
  if (index.size() != shape_.size())
    throw InputError("tensor '" + name_ + "': index rank " + std::to_string(index.size()) +
                     " != " + std::to_string(shape_.size()));
  int64_t off = 0;
  for (size_t i = 0; i < index.size(); ++i) off += index[i] * strides_[i];
  return off;
}

std::vector<double> Tensor::ToDoubles() const {
  std::vector<double> out(static_cast<size_t>(numel()));
  for (int64_t i = 0; i < numel(); ++i) out[i] = At(i);
  return out;
}

}  // namespace npusim
