// Strict YAML binding. A config struct declares each parameter once — name, unit, description,
// allowed range — in a `Bind(ParamVisitor&)` function; the same declaration reads YAML
// (YamlBinder), lists parameters (ParamTable), or applies --set overrides.
// Every mistake is an InputError (exit 2) naming file:line:col, the key and the nearest valid key.
#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/parse_memo.h"

namespace npusim {

// Ordered key=value pairs: --set overrides, swept points, kernel parameters of a corpus row.
using KeyValues = std::vector<std::pair<std::string, std::string>>;

struct ParamSpec {
  std::string name;
  std::string unit;  // "cycles", "B", "GB/s", "MHz", "" for pure numbers/names
  std::string desc;
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool optional = false;  // when absent, the struct's current value stays (the default)
  bool list = false;  // may be a YAML sequence (a string reads it as "a,b,c"; number lists need it)
  // A text parameter's valid values (an enumeration): any other value is an error naming the
  // nearest. Empty: any text.
  std::vector<std::string> choices;
  // Last, so that positional brace-initialisers {name, unit, desc, min, max, optional, list}
  // keep their meaning.
  bool open_min = false;  // the range excludes min, (min, max]: a rate must be above 0
};

// Whether `v` is in the spec's range (NaN never is), and that range as text: "[lo, hi]" or
// "(lo, hi]"; an unbounded end reads -inf / inf.
bool InRange(const ParamSpec& spec, double v);
std::string RangeBrackets(const ParamSpec& spec);

// Throws InputError "<where>: '<key>' cannot be '<value>' (nearest ...; one of a, b)" unless
// `value` is one of `spec.choices` (or the spec has none).
void CheckChoice(const ParamSpec& spec, const std::string& value, const std::string& where,
                 const std::string& key);

class ParamVisitor {
 public:
  virtual ~ParamVisitor() = default;
  virtual void Group(const std::string& name, const std::string& desc,
                     const std::function<void()>& body) = 0;
  virtual void Param(const ParamSpec& spec, int64_t& value) = 0;
  virtual void Param(const ParamSpec& spec, double& value) = 0;
  virtual void Param(const ParamSpec& spec, std::string& value) = 0;
  // A switch: true or false (1 and 0 are read as the same).
  virtual void Param(const ParamSpec& spec, bool& value) = 0;
  // Lists of numbers: a YAML sequence, or one scalar "a,b,c" (as --set writes it); every item
  // within [spec.min, spec.max]; an empty scalar is the empty list.
  virtual void Param(const ParamSpec& spec, std::vector<int64_t>& value) = 0;
  virtual void Param(const ParamSpec& spec, std::vector<double>& value) = 0;
};

// "true" / "1" -> true, "false" / "0" -> false, anything else nullopt.
std::optional<bool> ParseSwitch(const std::string& text);

// A config file's text: a folder, an unreadable file or one above 16 MiB is an InputError.
std::string ReadConfigFile(const std::string& path);
// Loads a YAML file; a syntax error becomes an InputError with file:line:col.
YAML::Node LoadYamlFile(const std::string& path);
// Same, from text (for tests and fuzzing); `file` names it in messages.
YAML::Node LoadYamlString(const std::string& text, const std::string& file);

// "file:line:col" of a node (1-based).
std::string Where(const std::string& file, const YAML::Node& node);

// InputError at the first key of `map` not in `known`, naming the nearest valid one.
void RequireKnownKeys(const YAML::Node& map, const std::string& file,
                      const std::vector<std::string>& known);

// Reads a YAML mapping into a struct through its Bind(): unknown keys, missing keys, wrong
// types and out-of-range values are errors. Call Finish() after Bind to check the root's keys.
class YamlBinder : public ParamVisitor {
 public:
  YamlBinder(YAML::Node root, std::string file, std::vector<std::string> ignored_root_keys = {});
  void Group(const std::string& name, const std::string& desc,
             const std::function<void()>& body) override;
  void Param(const ParamSpec& spec, int64_t& value) override;
  void Param(const ParamSpec& spec, double& value) override;
  void Param(const ParamSpec& spec, std::string& value) override;
  void Param(const ParamSpec& spec, bool& value) override;
  void Param(const ParamSpec& spec, std::vector<int64_t>& value) override;
  void Param(const ParamSpec& spec, std::vector<double>& value) override;
  void Finish();

 private:
  struct Level {
    YAML::Node node;
    std::string path;
    std::vector<std::string> known;
  };
  YAML::Node Find(const ParamSpec& spec, bool& found);
  void CheckRange(const ParamSpec& spec, double v, const YAML::Node& n);
  void CheckUnknown(const Level& level);
  std::string KeyPath(const std::string& key) const;

  std::string file_;
  std::vector<Level> stack_;
};

// Flattens parameters to rows "group.name", value, unit, description.
class ParamTable : public ParamVisitor {
 public:
  struct Row {
    std::string key, value, unit, desc;
    std::string type;       // "integer", "number", "bool", "text" or "list"
    std::string range;      // "[lo, hi]" when bounded, else empty
    bool required = false;  // a file must give it (no default)
    std::string exact;  // the value as text that reads back bit for bit (numbers: shortest such)
  };
  void Group(const std::string& name, const std::string& desc,
             const std::function<void()>& body) override;
  void Param(const ParamSpec& spec, int64_t& value) override;
  void Param(const ParamSpec& spec, double& value) override;
  void Param(const ParamSpec& spec, std::string& value) override;
  void Param(const ParamSpec& spec, bool& value) override;
  void Param(const ParamSpec& spec, std::vector<int64_t>& value) override;
  void Param(const ParamSpec& spec, std::vector<double>& value) override;
  const std::vector<Row>& rows() const { return rows_; }

 private:
  std::string Prefix() const;
  std::vector<std::string> path_;
  std::vector<Row> rows_;
};

// Sets one parameter by its dotted key ("buffers.ub_bytes") from text, checking type and range;
// after Bind, found() says whether the key exists (callers name the nearest valid key).
class ParamSetter : public ParamVisitor {
 public:
  ParamSetter(std::string key, std::string value)
      : key_(std::move(key)), value_(std::move(value)) {}
  void Group(const std::string& name, const std::string& desc,
             const std::function<void()>& body) override;
  void Param(const ParamSpec& spec, int64_t& value) override;
  void Param(const ParamSpec& spec, double& value) override;
  void Param(const ParamSpec& spec, std::string& value) override;
  void Param(const ParamSpec& spec, bool& value) override;
  void Param(const ParamSpec& spec, std::vector<int64_t>& value) override;
  void Param(const ParamSpec& spec, std::vector<double>& value) override;
  bool found() const { return found_; }

 private:
  bool Match(const ParamSpec& spec);
  std::string key_, value_;
  std::vector<std::string> path_;
  bool found_ = false;
};

// A struct with Bind() and `source_file` read from the YAML file at `path` through YamlBinder,
// parsed once per process for the file's text (parse_memo.h).
template <class T>
T BindYamlFile(const std::string& path) {
  return ParsedOnce<T>(path, ReadConfigFile(path), [&](const std::string& text) {
    T value;
    YamlBinder binder(LoadYamlString(text, path), path);
    value.Bind(binder);
    binder.Finish();
    value.source_file = path;
    return value;
  });
}

// Formats a double without trailing noise, deterministically ("1850", "0.5", "1e-06").
std::string FormatNumber(double v);
// Rounded to 6 significant digits, as "%.6g" writes it: a figure written to a file or a run config
// and read back stays the same.
double Tidy(double v);

// Every combination of the axes' values, in the order the axes are given (the first slowest);
// one empty combination without axes.
std::vector<KeyValues> Combinations(
    const std::vector<std::pair<std::string, std::vector<std::string>>>& axes);

}  // namespace npusim
