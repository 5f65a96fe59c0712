#include "ops/op.h"

#include <algorithm>
#include <cmath>

#include "model/error.h"
#include "model/text.h"

namespace npusim {

ParamValues::ParamValues(std::vector<OpParam> specs) : specs_(std::move(specs)) {
  for (const auto& s : specs_) values_.emplace_back(s.name, s.default_value);
}

const OpParam& ParamValues::Spec(const std::string& key) const {
  for (const auto& s : specs_)
    if (s.name == key) return s;
  std::vector<std::string> names;
  for (const auto& s : specs_) names.push_back(s.name);
  throw InputError("unknown parameter '" + key + "'" + NearestHint(key, names));
}

void ParamValues::Set(const std::string& key, const std::string& value) {
  const OpParam& s = Spec(key);
  std::string v = value;
  if (s.kind == OpParam::Kind::kInt || s.kind == OpParam::Kind::kFloat) {
    size_t pos = 0;
    double d = 0;
    try {
      d = s.kind == OpParam::Kind::kInt ? static_cast<double>(std::stoll(value, &pos, 0))
                                        : std::stod(value, &pos);
    } catch (const std::exception&) {
      pos = 0;
    }
    if (pos == 0 || pos != value.size())
      throw InputError("parameter '" + key + "' expects " +
                       (s.kind == OpParam::Kind::kInt ? "an integer" : "a number") + ", got '" +
                       value + "' (" + s.desc + ")");
    if (!(d >= s.min && d <= s.max))  // NaN fails too
      throw InputError("parameter '" + key + "' = " + value + " is out of range [" +
                       FormatNumber(s.min) + ", " + FormatNumber(s.max) + "] (" + s.desc + ")");
    if (s.kind == OpParam::Kind::kInt) v = std::to_string(static_cast<int64_t>(d));
  } else if (!s.choices.empty() &&
             std::find(s.choices.begin(), s.choices.end(), value) == s.choices.end()) {
    std::string all;
    for (const auto& c : s.choices) all += (all.empty() ? "" : ", ") + c;
    throw InputError("parameter '" + key + "' = '" + value + "' is not one of {" + all + "}" +
                     NearestHint(value, s.choices));
  }
  for (auto& kv : values_)
    if (kv.first == key) kv.second = v;
}

int64_t ParamValues::Int(const std::string& key) const { return std::stoll(Str(key)); }
double ParamValues::Float(const std::string& key) const { return std::stod(Str(key)); }
const std::string& ParamValues::Str(const std::string& key) const {
  for (const auto& kv : values_)
    if (kv.first == key) return kv.second;
  return Spec(key).name;  // throws for unknown keys
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
