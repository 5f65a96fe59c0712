#include "model/config.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <type_traits>

#include "model/error.h"
#include "model/text.h"

namespace npusim {

namespace {
std::string MarkString(const std::string& file, const YAML::Mark& m) {
  if (m.line < 0) return file;
  return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}
}  // namespace

namespace {

// yaml-cpp keeps the first of two equal keys and drops the second without a word; a config
// that says a value twice is refused at the second.
void RequireUniqueKeys(const YAML::Node& n, const std::string& file) {
  if (n.IsSequence())
    for (const auto& e : n) RequireUniqueKeys(e, file);
  if (!n.IsMap()) return;
  std::vector<std::string> seen;
  for (auto it = n.begin(); it != n.end(); ++it) {
    if (it->first.IsScalar()) {
      const std::string& k = it->first.Scalar();
      if (std::find(seen.begin(), seen.end(), k) != seen.end())
        throw InputError(MarkString(file, it->first.Mark()) + ": key '" + k +
                         "' is given twice in the same mapping");
      seen.push_back(k);
    }
    RequireUniqueKeys(it->second, file);
  }
}

// "inf", "+inf", "infinity" in any case: positive infinity as strtod reads it (YAML's own .inf
// is yaml-cpp's).
bool IsInfText(std::string t) {
  if (!t.empty() && t[0] == '+') t.erase(0, 1);
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t == "inf" || t == "infinity";
}

}  // namespace

YAML::Node LoadYamlString(const std::string& text, const std::string& file) {
  YAML::Node n;
  try {
    n = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw InputError(MarkString(file, e.mark) + ": YAML syntax error: " + e.msg);
  }
  RequireUniqueKeys(n, file);
  return n;
}

std::string ReadConfigFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw InputError(path + ": a folder, not a file");
  // yaml-cpp's node tree takes ~80x the text: a config is kilobytes, a 54 MB file needed > 4 GB.
  constexpr uintmax_t kMaxConfigBytes = 16u << 20;
  if (const uintmax_t size = std::filesystem::file_size(path, ec); !ec && size > kMaxConfigBytes)
    throw InputError(path + ": " + std::to_string(size) +
                     " bytes; config files above 16 MiB are refused (a config is kilobytes)");
  std::optional<std::string> text = ReadFileIfOpens(path);
  if (!text) throw InputError(path + ": cannot open file");
  return *std::move(text);
}

YAML::Node LoadYamlFile(const std::string& path) {
  return LoadYamlString(ReadConfigFile(path), path);
}

// A node read from an absent key has no position (yaml-cpp throws InvalidNode on Mark()): the
// message then names the file alone rather than escaping as an internal error.
std::string Where(const std::string& file, const YAML::Node& node) {
  if (!node.IsDefined()) return file;
  return MarkString(file, node.Mark());
}

void RequireKnownKeys(const YAML::Node& map, const std::string& file,
                      const std::vector<std::string>& known) {
  for (auto it = map.begin(); it != map.end(); ++it) {
    const std::string k = it->first.Scalar();
    if (std::find(known.begin(), known.end(), k) == known.end())
      throw InputError(Where(file, it->first) + ": unknown key '" + k + "'" +
                       NearestHint(k, known));
  }
}

std::string FormatNumber(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

bool InRange(const ParamSpec& spec, double v) {
  return (spec.open_min ? v > spec.min : v >= spec.min) && v <= spec.max;  // NaN fails both
}

std::string RangeBrackets(const ParamSpec& spec) {
  auto end = [](double v) {
    return std::isinf(v) ? std::string(v < 0 ? "-inf" : "inf") : FormatNumber(v);
  };
  return (spec.open_min ? "(" : "[") + end(spec.min) + ", " + end(spec.max) + "]";
}

YamlBinder::YamlBinder(YAML::Node root, std::string file,
                       std::vector<std::string> ignored_root_keys)
    : file_(std::move(file)) {
  if (!root.IsMap()) throw InputError(Where(file_, root) + ": expected a mapping at the top level");
  stack_.push_back({root, "", std::move(ignored_root_keys)});
}

std::string YamlBinder::KeyPath(const std::string& key) const {
  return stack_.back().path.empty() ? key : stack_.back().path + "." + key;
}

void YamlBinder::Group(const std::string& name, const std::string& desc,
                       const std::function<void()>& body) {
  Level& parent = stack_.back();
  parent.known.push_back(name);
  YAML::Node node = parent.node[name];
  if (!node)
    throw InputError(Where(file_, parent.node) + ": missing group '" + KeyPath(name) + "' (" +
                     desc + ")");
  if (!node.IsMap())
    throw InputError(Where(file_, node) + ": '" + KeyPath(name) + "' must be a mapping (" + desc +
                     ")");
  stack_.push_back({node, KeyPath(name), {}});
  body();
  CheckUnknown(stack_.back());
  stack_.pop_back();
}

YAML::Node YamlBinder::Find(const ParamSpec& spec, bool& found) {
  Level& level = stack_.back();
  level.known.push_back(spec.name);
  YAML::Node n = level.node[spec.name];
  found = static_cast<bool>(n);
  if (!found && !spec.optional) {
    // A near-miss spelling is the likelier mistake than a missing key: name it.
    for (auto it = level.node.begin(); it != level.node.end(); ++it) {
      const std::string key = it->first.Scalar();
      if (EditDistance(key, spec.name) <= 2 &&
          std::find(level.known.begin(), level.known.end(), key) == level.known.end())
        throw InputError(Where(file_, it->first) + ": unknown key '" + key + "'" +
                         (level.path.empty() ? "" : " in '" + level.path + "'") +
                         " (nearest valid: '" + spec.name + "')");
    }
    throw InputError(Where(file_, level.node) + ": missing key '" + KeyPath(spec.name) + "' (" +
                     spec.desc + (spec.unit.empty() ? "" : ", in " + spec.unit) + ")");
  }
  if (found && !n.IsScalar() && !(spec.list && n.IsSequence()))
    throw InputError(Where(file_, n) + ": '" + KeyPath(spec.name) + "' must be a single value (" +
                     spec.desc + ")");
  return n;
}

void YamlBinder::CheckRange(const ParamSpec& spec, double v, const YAML::Node& n) {
  if (!InRange(spec, v))
    throw InputError(Where(file_, n) + ": value " + n.Scalar() + " of '" + KeyPath(spec.name) +
                     "' is out of range " + RangeBrackets(spec) +
                     (spec.unit.empty() ? "" : " " + spec.unit));
}

void YamlBinder::Param(const ParamSpec& spec, int64_t& value) {
  bool found;
  YAML::Node n = Find(spec, found);
  if (!found) return;
  int64_t v;
  if (!YAML::convert<int64_t>::decode(n, v))
    throw InputError(Where(file_, n) + ": '" + KeyPath(spec.name) + "' expects an integer" +
                     (spec.unit.empty() ? "" : " (" + spec.unit + ")") + ", got '" + n.Scalar() +
                     "'");
  CheckRange(spec, static_cast<double>(v), n);
  value = v;
}

void YamlBinder::Param(const ParamSpec& spec, double& value) {
  bool found;
  YAML::Node n = Find(spec, found);
  if (!found) return;
  double v;
  // YAML spells infinity .inf; "inf" is accepted too, as --set (strtod) reads it.
  if (IsInfText(n.Scalar()))
    v = std::numeric_limits<double>::infinity();
  else if (!YAML::convert<double>::decode(n, v))
    throw InputError(Where(file_, n) + ": '" + KeyPath(spec.name) + "' expects a number" +
                     (spec.unit.empty() ? "" : " (" + spec.unit + ")") + ", got '" + n.Scalar() +
                     "'");
  CheckRange(spec, v, n);
  value = v;
}

void CheckChoice(const ParamSpec& spec, const std::string& value, const std::string& where,
                 const std::string& key) {
  if (spec.choices.empty() ||
      std::find(spec.choices.begin(), spec.choices.end(), value) != spec.choices.end())
    return;
  std::string all;
  for (const std::string& c : spec.choices)
    all += (all.empty() ? "" : ", ") + (c.empty() ? "\"\"" : c);
  throw InputError(where + ": '" + key + "' cannot be '" + value + "'" +
                   NearestHint(value, spec.choices) + "; one of " + all);
}

void YamlBinder::Param(const ParamSpec& spec, std::string& value) {
  bool found;
  YAML::Node n = Find(spec, found);
  if (!found) return;
  if (!n.IsSequence()) {
    value = n.Scalar();
    CheckChoice(spec, value, Where(file_, n), KeyPath(spec.name));
    return;
  }
  value.clear();
  for (const YAML::Node& item : n) {
    if (!item.IsScalar())
      throw InputError(Where(file_, item) + ": '" + KeyPath(spec.name) +
                       "' takes a list of single values");
    value += (value.empty() ? "" : ",") + item.Scalar();
  }
}

std::optional<bool> ParseSwitch(const std::string& text) {
  if (text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  return std::nullopt;
}

void YamlBinder::Param(const ParamSpec& spec, bool& value) {
  bool found;
  YAML::Node n = Find(spec, found);
  if (!found) return;
  const std::optional<bool> v = ParseSwitch(n.Scalar());
  if (!v)
    throw InputError(Where(file_, n) + ": '" + KeyPath(spec.name) + "' takes true or false, got '" +
                     n.Scalar() + "'");
  value = *v;
}

namespace {

// A list given as one scalar (--set writes it so): "a,b,c", or YAML's flow form "[a, b, c]".
YAML::Node ListNode(const std::string& text) {
  if (text.empty() || text.front() != '[') return YAML::Node(text);
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception&) {
    return YAML::Node(text);  // not a flow list after all: its items are reported as they are
  }
}

// The items of a list parameter's node: a sequence's scalars, or one scalar split at commas.
std::vector<std::pair<std::string, YAML::Node>> ListItems(const YAML::Node& given,
                                                          const std::string& file,
                                                          const std::string& key) {
  const YAML::Node n = given.IsScalar() ? ListNode(given.Scalar()) : given;
  std::vector<std::pair<std::string, YAML::Node>> items;
  if (n.IsSequence()) {
    // Items parsed out of one scalar are placed where that scalar is.
    const bool parsed = given.IsScalar();
    for (const YAML::Node& item : n) {
      if (!item.IsScalar())
        throw InputError(Where(file, parsed ? given : item) + ": '" + key +
                         "' takes a list of single values");
      items.push_back({item.Scalar(), parsed ? given : item});
    }
    return items;
  }
  const std::string text = n.Scalar();
  size_t start = 0;
  while (!text.empty() && start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    std::string item = text.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    items.push_back({item, n});
    start = comma + 1;
  }
  return items;
}

// One list item as T (strict: the whole text), in range, or the error of `key` at `where`.
template <class T>
T ListItem(const std::string& text, const ParamSpec& spec, const std::string& where,
           const std::string& key) {
  T v{};
  size_t used = 0;
  bool ok = false;
  try {
    if constexpr (std::is_same_v<T, int64_t>)
      v = std::stoll(text, &used);
    else
      v = std::stod(text, &used);
    ok = used == text.size() && !text.empty();
  } catch (const std::exception&) {
  }
  if (!ok || !InRange(spec, static_cast<double>(v)))
    throw InputError(where + "'" + key + "' takes " +
                     (std::is_same_v<T, int64_t> ? "integers" : "numbers") + " in " +
                     RangeBrackets(spec) + (spec.unit.empty() ? "" : " (" + spec.unit + ")") +
                     ", got '" + text + "'");
  return v;
}

// `file` empty: the value came from the command line and has no place to name.
template <class T>
void BindList(const YAML::Node& n, const std::string& file, const std::string& key,
              const ParamSpec& spec, std::vector<T>& value) {
  std::vector<T> out;
  for (const auto& [text, node] : ListItems(n, file, key))
    out.push_back(ListItem<T>(text, spec, file.empty() ? "" : Where(file, node) + ": ", key));
  value = std::move(out);
}

// Items as "a,b,c": integers as such, numbers by their shortest exact text.
std::string JoinItems(const std::vector<int64_t>& v) {
  std::string s;
  for (int64_t x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}
std::string ExactNumber(double v) {
  for (int digits = 6; digits <= 17; ++digits) {  // the shortest %g text that parses back to v
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v) return buf;
  }
  return FormatNumber(v);
}
std::string JoinItems(const std::vector<double>& v) {
  std::string s;
  for (double x : v) s += (s.empty() ? "" : ",") + ExactNumber(x);
  return s;
}

}  // namespace

void YamlBinder::Param(const ParamSpec& spec, std::vector<int64_t>& value) {
  bool found;
  YAML::Node n = Find(spec, found);
  if (found) BindList(n, file_, KeyPath(spec.name), spec, value);
}

void YamlBinder::Param(const ParamSpec& spec, std::vector<double>& value) {
  bool found;
  YAML::Node n = Find(spec, found);
  if (found) BindList(n, file_, KeyPath(spec.name), spec, value);
}

void YamlBinder::CheckUnknown(const Level& level) {
  for (auto it = level.node.begin(); it != level.node.end(); ++it) {
    std::string key = it->first.Scalar();
    bool known = false;
    for (const auto& k : level.known) known = known || k == key;
    if (!known) {
      std::string where = level.path.empty() ? "" : " in '" + level.path + "'";
      throw InputError(Where(file_, it->first) + ": unknown key '" + key + "'" + where +
                       NearestHint(key, level.known));
    }
  }
}

void YamlBinder::Finish() { CheckUnknown(stack_.front()); }

std::string ParamTable::Prefix() const {
  std::string p;
  for (const auto& s : path_) p += s + ".";
  return p;
}
void ParamTable::Group(const std::string& name, const std::string&,
                       const std::function<void()>& body) {
  path_.push_back(name);
  body();
  path_.pop_back();
}
namespace {
std::string RangeText(const ParamSpec& s) {
  // Binders write "unbounded" as a huge finite number (1e15, 1e18): not a range worth printing.
  const bool lo = std::isfinite(s.min) && s.min > -1e15, hi = std::isfinite(s.max) && s.max < 1e15;
  if (!lo && !hi) return "";
  ParamSpec shown = s;
  if (!lo) shown.min = -std::numeric_limits<double>::infinity();
  if (!hi) shown.max = std::numeric_limits<double>::infinity();
  return RangeBrackets(shown);
}
}  // namespace
void ParamTable::Param(const ParamSpec& s, int64_t& v) {
  rows_.push_back({Prefix() + s.name, std::to_string(v), s.unit, s.desc, "integer", RangeText(s),
                   !s.optional, std::to_string(v)});
}
void ParamTable::Param(const ParamSpec& s, double& v) {
  rows_.push_back({Prefix() + s.name, FormatNumber(v), s.unit, s.desc, "number", RangeText(s),
                   !s.optional, ExactNumber(v)});
}
void ParamTable::Param(const ParamSpec& s, std::string& v) {
  std::string choices;
  for (const std::string& c : s.choices)
    choices += (choices.empty() ? "" : ", ") + (c.empty() ? "\"\"" : c);
  rows_.push_back({Prefix() + s.name, v, s.unit, s.desc,
                   s.choices.empty() ? (s.list ? "list" : "text") : "choice", choices, !s.optional,
                   v});
}

void ParamTable::Param(const ParamSpec& s, bool& v) {
  const std::string text = v ? "true" : "false";
  rows_.push_back({Prefix() + s.name, text, s.unit, s.desc, "bool", "", !s.optional, text});
}

void ParamTable::Param(const ParamSpec& s, std::vector<int64_t>& v) {
  const std::string text = JoinItems(v);
  rows_.push_back(
      {Prefix() + s.name, text, s.unit, s.desc, "list", RangeText(s), !s.optional, text});
}

void ParamTable::Param(const ParamSpec& s, std::vector<double>& v) {
  const std::string text = JoinItems(v);
  rows_.push_back(
      {Prefix() + s.name, text, s.unit, s.desc, "list", RangeText(s), !s.optional, text});
}

void ParamSetter::Group(const std::string& name, const std::string&,
                        const std::function<void()>& body) {
  path_.push_back(name);
  body();
  path_.pop_back();
}

bool ParamSetter::Match(const ParamSpec& spec) {
  std::string k;
  for (const auto& p : path_) k += p + ".";
  if (k + spec.name != key_) return false;
  found_ = true;
  return true;
}

void ParamSetter::Param(const ParamSpec& spec, int64_t& value) {
  if (!Match(spec)) return;
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(value_, &used);
  } catch (const std::exception&) {
  }
  if (used != value_.size() || value_.empty())
    throw InputError("'" + key_ + "' expects an integer (" + spec.unit + "), got '" + value_ + "'");
  if (!InRange(spec, static_cast<double>(v)))
    throw InputError("value " + value_ + " of '" + key_ + "' is out of range " +
                     RangeBrackets(spec));
  value = v;
}

void ParamSetter::Param(const ParamSpec& spec, double& value) {
  if (!Match(spec)) return;
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(value_, &used);
  } catch (const std::exception&) {
  }
  if (used != value_.size() || value_.empty())
    throw InputError("'" + key_ + "' expects a number (" + spec.unit + "), got '" + value_ + "'");
  if (!InRange(spec, v))
    throw InputError("value " + value_ + " of '" + key_ + "' is out of range " +
                     RangeBrackets(spec));
  value = v;
}

void ParamSetter::Param(const ParamSpec& spec, std::string& value) {
  if (!Match(spec)) return;
  CheckChoice(spec, value_, "--set", key_);
  value = value_;
}

void ParamSetter::Param(const ParamSpec& spec, bool& value) {
  if (!Match(spec)) return;
  const std::optional<bool> v = ParseSwitch(value_);
  if (!v) throw InputError("'" + key_ + "' takes true or false, got '" + value_ + "'");
  value = *v;
}

void ParamSetter::Param(const ParamSpec& spec, std::vector<int64_t>& value) {
  if (Match(spec)) BindList(YAML::Node(value_), "", key_, spec, value);
}

void ParamSetter::Param(const ParamSpec& spec, std::vector<double>& value) {
  if (Match(spec)) BindList(YAML::Node(value_), "", key_, spec, value);
}

double Tidy(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return std::strtod(buf, nullptr);
}

std::vector<KeyValues> Combinations(
    const std::vector<std::pair<std::string, std::vector<std::string>>>& axes) {
  std::vector<KeyValues> out = {{}};
  for (const auto& [key, values] : axes) {
    std::vector<KeyValues> next;
    for (const KeyValues& g : out)
      for (const std::string& v : values) {
        KeyValues kv = g;
        kv.push_back({key, v});
        next.push_back(std::move(kv));
      }
    out = std::move(next);
  }
  return out;
}

}  // namespace npusim
