#include "workloads/kernel_cache.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace npusim {

namespace fs = std::filesystem;
using Json = nlohmann::json;

Json ProfileJson(const KernelProfile& p) {
  return Json{{"us", p.us},
              {"roofline_us", p.roofline_us},
              {"bound", p.bound},
              {"cube_flops", p.cube_flops},
              {"hbm_bytes", p.hbm_bytes},
              {"launches", p.launches},
              {"torch_ops", p.torch_ops},
              {"busy_us", p.busy_us}};
}

std::optional<KernelProfile> ProfileFromJson(const Json& j) {
  try {
    KernelProfile p;
    p.us = j.at("us").get<double>();
    p.roofline_us = j.at("roofline_us").get<double>();
    p.bound = j.at("bound").get<std::string>();
    p.cube_flops = j.at("cube_flops").get<double>();
    p.hbm_bytes = j.at("hbm_bytes").get<double>();
    p.launches = j.at("launches").get<int64_t>();
    p.torch_ops = j.at("torch_ops").get<int64_t>();
    const Json& busy = j.at("busy_us");
    if (!busy.is_array() || busy.size() != p.busy_us.size()) return std::nullopt;
    for (size_t i = 0; i < p.busy_us.size(); ++i) p.busy_us[i] = busy[i].get<double>();
    return p;
  } catch (const Json::exception&) {
    return std::nullopt;
  }
}

std::string KernelCacheRoot(const char* env, const char* xdg, const char* home) {
  if (env) return std::string(env) == "off" ? std::string() : std::string(env);
  if (xdg && *xdg) return (fs::path(xdg) / "npusim" / "kernels").string();
  if (home && *home) return (fs::path(home) / ".cache" / "npusim" / "kernels").string();
  return std::string();
}

namespace {
// A stamp directory's name: "code-" and 16 hex digits, or the older "<size>-<mtime>".
bool IsStampName(const std::string& name) {
  if (name.rfind("code-", 0) == 0) return name.size() == 21;
  return !name.empty() && name.find_first_not_of("0123456789-") == std::string::npos;
}

// Stamp directories under `root` not written for 30 days: old builds'.
void PruneOldStamps(const fs::path& root, const fs::path& keep) {
  std::error_code ec;
  const auto cutoff = fs::file_time_type::clock::now() - std::chrono::hours(24 * 30);
  for (const auto& e : fs::directory_iterator(root, ec)) {
    if (e.path() == keep || !IsStampName(e.path().filename().string())) continue;
    if (fs::last_write_time(e.path(), ec) < cutoff && !ec) fs::remove_all(e.path(), ec);
  }
}
}  // namespace

std::string CodeHash(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::string();
  // 64-bit words mixed as in splitmix64; the length closes the hash so that trailing zeros
  // count. Any rebuild that changes a byte of the simulator changes the hash.
  uint64_t h = 0x9e3779b97f4a7c15ull, len = 0;
  std::vector<char> buf(1 << 20);
  while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
    const size_t n = static_cast<size_t>(in.gcount());
    len += n;
    for (size_t i = 0; i < n; i += 8) {
      uint64_t w = 0;
      std::memcpy(&w, buf.data() + i, std::min<size_t>(8, n - i));
      h ^= w;
      h *= 0xbf58476d1ce4e5b9ull;
      h ^= h >> 31;
    }
  }
  h ^= len;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 29;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

std::string KernelCacheDir() {
  static const std::string dir = [] {
    const std::string root = KernelCacheRoot(std::getenv("NPUSIM_KERNEL_CACHE"),
                                             std::getenv("XDG_CACHE_HOME"), std::getenv("HOME"));
    if (root.empty()) return std::string();
    std::error_code ec;
    const fs::path exe = fs::canonical("/proc/self/exe", ec);
    const std::string code = ec ? std::string() : CodeHash(exe.string());
    if (code.empty()) return std::string();
    const fs::path stamp = fs::path(root) / ("code-" + code);
    if (!fs::exists(stamp, ec)) PruneOldStamps(root, stamp);
    return stamp.string();
  }();
  return dir;
}

namespace {

std::string EntryPath(const std::string& key) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : key) h = (h ^ c) * 1099511628211ull;
  char name[24];
  std::snprintf(name, sizeof name, "%016llx", static_cast<unsigned long long>(h));
  return KernelCacheDir() + "/" + name;
}

}  // namespace

std::optional<KernelProfile> CachedProfile(const std::string& key) {
  if (KernelCacheDir().empty()) return std::nullopt;
  std::ifstream in(EntryPath(key));
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  try {
    const Json e = Json::parse(line);
    if (e.at("v").get<int>() != kCacheFormat || e.at("key").get<std::string>() != key)
      return std::nullopt;  // another format, or another key's (a hash collision)
    return ProfileFromJson(e.at("profile"));
  } catch (const Json::exception&) {
    return std::nullopt;  // not an entry: simulate
  }
}

void StoreProfile(const std::string& key, const KernelProfile& p) {
  if (KernelCacheDir().empty() || key.find('\n') != std::string::npos) return;
  std::error_code ec;
  fs::create_directories(KernelCacheDir(), ec);
  const std::string path = EntryPath(key), tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp);
    out << Json{{"v", kCacheFormat}, {"key", key}, {"profile", ProfileJson(p)}}.dump() << "\n";
    if (!out) return;
  }
  fs::rename(tmp, path, ec);  // atomic: a reader sees the whole entry or none
  if (ec) fs::remove(tmp, ec);
}

}  // namespace npusim
