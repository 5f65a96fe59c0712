#include "ops/op.h"

#include <algorithm>
#include <cmath>

#include "model/error.h"
#include "model/text.h"

namespace npusim {

OpParam::OpParam(std::string name_, Kind kind_, std::string default_value_, std::string desc_,
                 double min_, double max_, std::vector<std::string> choices_)
    : kind(kind_), default_value(std::move(default_value_)) {
  name = std::move(name_);
  desc = std::move(desc_);
  min = min_;
  max = max_;
  choices = std::move(choices_);
}

namespace {
bool Numeric(const OpParam& s) {
  return s.kind == OpParam::Kind::kInt || s.kind == OpParam::Kind::kFloat;
}
void CheckChoice(const OpParam& s, const std::string& key, const std::string& value) {
  if (s.choices.empty() || std::find(s.choices.begin(), s.choices.end(), value) != s.choices.end())
    return;
  std::string all;
  for (const auto& c : s.choices) all += (all.empty() ? "" : ", ") + c;
  throw InputError("parameter '" + key + "' = '" + value + "' is not one of {" + all + "}" +
                   NearestHint(value, s.choices));
}
}  // namespace

ParamValues::ParamValues(std::vector<OpParam> specs) : specs_(std::move(specs)) {
  for (const auto& s : specs_) {
    values_.emplace_back(s.name, s.default_value);
    numbers_.push_back(s.kind == OpParam::Kind::kInt
                           ? static_cast<double>(std::stoll(s.default_value))
                       : s.kind == OpParam::Kind::kFloat ? std::stod(s.default_value)
                                                         : 0.0);
  }
}

size_t ParamValues::Index(const std::string& key) const {
  for (size_t i = 0; i < specs_.size(); ++i)
    if (specs_[i].name == key) return i;
  std::vector<std::string> names;
  for (const auto& s : specs_) names.push_back(s.name);
  throw InputError("unknown parameter '" + key + "'" + NearestHint(key, names));
}

void ParamValues::Set(const std::string& key, const std::string& value) {
  const size_t i = Index(key);
  const OpParam& s = specs_[i];
  const bool integer = s.kind == OpParam::Kind::kInt;
  if (Numeric(s)) {
    size_t pos = 0;
    double d = 0;
    try {
      d = integer ? static_cast<double>(std::stoll(value, &pos, 0)) : std::stod(value, &pos);
    } catch (const std::exception&) {
      pos = 0;
    }
    if (pos == 0 || pos != value.size())
      throw InputError("parameter '" + key + "' expects " + (integer ? "an integer" : "a number") +
                       ", got '" + value + "' (" + s.desc + ")");
    if (!InRange(s, d))
      throw InputError("parameter '" + key + "' = " + value + " is out of range " +
                       RangeBrackets(s) + " (" + s.desc + ")");
    // An integer's text is normalised (0x10 -> 16); a number keeps the text it was given. A
    // number with choices (a few valid sizes in a range) is checked in that text.
    const std::string text = integer ? std::to_string(static_cast<int64_t>(d)) : value;
    CheckChoice(s, key, text);
    numbers_[i] = integer ? static_cast<double>(static_cast<int64_t>(d)) : d;
    values_[i].second = text;
    return;
  }
  CheckChoice(s, key, value);
  values_[i].second = value;
}

int64_t ParamValues::Int(const std::string& key) const {
  const size_t i = Index(key);
  return specs_[i].kind == OpParam::Kind::kInt ? static_cast<int64_t>(numbers_[i])
                                               : std::stoll(values_[i].second);
}
double ParamValues::Float(const std::string& key) const {
  const size_t i = Index(key);
  return Numeric(specs_[i]) ? numbers_[i] : std::stod(values_[i].second);
}
const std::string& ParamValues::Str(const std::string& key) const {
  return values_[Index(key)].second;
}

std::string ParamValues::Canonical() const {
  std::string s;
  for (const auto& kv : values_) s += (s.empty() ? "" : ",") + kv.first + "=" + kv.second;
  return s;
}

const Op& FindOp(const std::string& name) {
  std::vector<std::string> names;
  for (const auto& op : AllOps()) {
    if (op->name() == name) return *op;
    names.push_back(op->name());
  }
  throw InputError("unknown kernel '" + name + "'" + NearestHint(name, names) +
                   "; see 'npusim kernel --list'");
}

}  // namespace npusim
