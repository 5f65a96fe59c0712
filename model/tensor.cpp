#include "model/tensor.h"

#include <algorithm>

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

namespace {

// A shape every size computation can use: no negative dimension, and its element count times
// the widest element (8 B) fits in int64, also with its empty dimensions counted as 1 (the
// strides of a shape with a zero in it still multiply the other dimensions); a file's header may
// claim any shape.
Shape CheckedShape(const std::string& name, Shape shape) {
  int64_t bytes = 8;
  for (int64_t d : shape) {
    if (d < 0)
      throw InputError("tensor '" + name + "' has a negative dimension " + ShapeString(shape));
    if (__builtin_mul_overflow(bytes, std::max<int64_t>(d, 1), &bytes))
      throw InputError("tensor '" + name + "' of shape " + ShapeString(shape) +
                       " has more elements than a 64-bit size holds");
  }
  return shape;
}

}  // namespace

Tensor::Tensor(std::string name, Shape shape, DType dtype, bool materialise)
    : name_(std::move(name)),
      shape_(CheckedShape(name_, std::move(shape))),
      strides_(ContiguousStrides(shape_)),
      dtype_(dtype) {
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
