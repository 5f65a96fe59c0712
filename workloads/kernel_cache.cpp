#include "workloads/kernel_cache.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace npusim {

namespace fs = std::filesystem;

std::string ProfileLine(const KernelProfile& p) {
  std::string s = "ok";
  char buf[40];
  const auto num = [&](double v) {
    std::snprintf(buf, sizeof buf, "\t%.17g", v);
    s += buf;
  };
  num(p.us);
  num(p.roofline_us);
  s += "\t" + p.bound;
  num(p.cube_flops);
  num(p.hbm_bytes);
  num(static_cast<double>(p.launches));
  for (double b : p.busy_us) num(b);
  return s;
}

std::optional<KernelProfile> ParseProfile(const std::vector<std::string>& f) {
  if (f.size() != 7 + 2 * static_cast<size_t>(kNumPipes) || f[0] != "ok") return std::nullopt;
  KernelProfile p;
  const auto num = [&](size_t i) { return std::strtod(f[i].c_str(), nullptr); };
  p.us = num(1);
  p.roofline_us = num(2);
  p.bound = f[3];
  p.cube_flops = num(4);
  p.hbm_bytes = num(5);
  p.launches = static_cast<int64_t>(num(6));
  for (size_t i = 0; i < p.busy_us.size(); ++i) p.busy_us[i] = num(7 + i);
  return p;
}

std::string KernelCacheRoot(const char* env, const char* xdg, const char* home) {
  if (env) return std::string(env) == "off" ? std::string() : std::string(env);
  if (xdg && *xdg) return (fs::path(xdg) / "npusim" / "kernels").string();
  if (home && *home) return (fs::path(home) / ".cache" / "npusim" / "kernels").string();
  return std::string();
}

namespace {
// Stamp directories (size-mtime of a binary) under `root` not written for 30 days: old builds'.
void PruneOldStamps(const fs::path& root, const fs::path& keep) {
  std::error_code ec;
  const auto cutoff = fs::file_time_type::clock::now() - std::chrono::hours(24 * 30);
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string name = e.path().filename().string();
    if (e.path() == keep || name.find_first_not_of("0123456789-") != std::string::npos) continue;
    if (fs::last_write_time(e.path(), ec) < cutoff && !ec) fs::remove_all(e.path(), ec);
  }
}
}  // namespace

std::string KernelCacheDir() {
  static const std::string dir = [] {
    const std::string root = KernelCacheRoot(std::getenv("NPUSIM_KERNEL_CACHE"),
                                             std::getenv("XDG_CACHE_HOME"), std::getenv("HOME"));
    if (root.empty()) return std::string();
    std::error_code ec;
    const fs::path exe = fs::canonical("/proc/self/exe", ec);
    if (ec) return std::string();
    const auto size = fs::file_size(exe, ec);
    const auto mtime = fs::last_write_time(exe, ec).time_since_epoch().count();
    if (ec) return std::string();
    const fs::path stamp = fs::path(root) / (std::to_string(size) + "-" + std::to_string(mtime));
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

std::vector<std::string> Split(const std::string& line) {
  std::vector<std::string> out(1);
  for (char c : line) {
    if (c == '\t')
      out.emplace_back();
    else
      out.back() += c;
  }
  return out;
}

}  // namespace

std::optional<KernelProfile> CachedProfile(const std::string& key) {
  if (KernelCacheDir().empty()) return std::nullopt;
  std::ifstream in(EntryPath(key));
  std::string stored, line;
  if (!std::getline(in, stored) || stored != key || !std::getline(in, line))
    return std::nullopt;  // absent, or another key's
  return ParseProfile(Split(line));
}

void StoreProfile(const std::string& key, const KernelProfile& p) {
  if (KernelCacheDir().empty() || key.find('\n') != std::string::npos) return;
  std::error_code ec;
  fs::create_directories(KernelCacheDir(), ec);
  const std::string path = EntryPath(key), tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp);
    out << key << "\n" << ProfileLine(p) << "\n";
    if (!out) return;
  }
  fs::rename(tmp, path, ec);  // atomic: a reader sees the whole entry or none
  if (ec) fs::remove(tmp, ec);
}

}  // namespace npusim
