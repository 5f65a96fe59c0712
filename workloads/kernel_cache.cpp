#include "workloads/kernel_cache.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
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
// A file name for `text`: its 64-bit FNV-1a hash as 16 hex digits.
std::string Fnv64Hex(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

// A stamp directory's name: "code-" and 16 hex digits, or the older "<size>-<mtime>"; or a
// binary's remembered hash (BinaryHash).
bool IsStampName(const std::string& name) {
  if (name.rfind("code-", 0) == 0) return name.size() == 21;
  if (name.rfind(".exe-", 0) == 0) return true;
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
  // Whole words are copied with a constant size (one load, not a memcpy call each) into a buffer
  // that is never zero-filled: 6.6 MB for each new build (BinaryHash remembers the result).
  uint64_t h = 0x9e3779b97f4a7c15ull, len = 0;
  constexpr size_t kBuf = 1 << 20;  // a multiple of 8: only a read's last word can be partial
  const std::unique_ptr<char[]> buf(new char[kBuf]);
  auto mix = [&h](uint64_t w) {
    h ^= w;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
  };
  while (in.read(buf.get(), static_cast<std::streamsize>(kBuf)) || in.gcount() > 0) {
    const size_t n = static_cast<size_t>(in.gcount()), whole = n / 8 * 8;
    len += n;
    for (size_t i = 0; i < whole; i += 8) {
      uint64_t w;
      std::memcpy(&w, buf.get() + i, 8);
      mix(w);
    }
    if (whole < n) {
      uint64_t w = 0;
      std::memcpy(&w, buf.get() + whole, n - whole);
      mix(w);
    }
  }
  h ^= len;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 29;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

namespace {

// CodeHash of the running binary, remembered in `root` under the file's identity: device, inode,
// size, modification and status-change times (ns). A rebuild or any write to the file changes
// its ctime, which no user call can set back, so the remembered hash is that of these bytes;
// every process of a capacity search or sweep then skips reading the 6.6 MB again (~6 ms each).
std::string BinaryHash(const fs::path& root, const fs::path& exe) {
  struct stat st {};
  if (::stat(exe.c_str(), &st) != 0) return CodeHash(exe.string());
  const std::string id = std::to_string(st.st_dev) + " " + std::to_string(st.st_ino) + " " +
                         std::to_string(st.st_size) + " " +
                         std::to_string(st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec) +
                         " " +
                         std::to_string(st.st_ctim.tv_sec * 1000000000ll + st.st_ctim.tv_nsec);
  const fs::path memo = root / (".exe-" + Fnv64Hex(id));
  std::string line_id, hash;
  {
    std::ifstream in(memo);
    if (std::getline(in, line_id) && std::getline(in, hash) && line_id == id && hash.size() == 16)
      return hash;
  }
  hash = CodeHash(exe.string());
  if (hash.empty()) return hash;
  std::error_code ec;
  fs::create_directories(root, ec);
  const fs::path tmp = memo.string() + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp);
    out << id << "\n" << hash << "\n";
  }
  fs::rename(tmp, memo, ec);  // atomic: a reader sees the whole memo or none
  if (ec) fs::remove(tmp, ec);
  return hash;
}

}  // namespace

std::string KernelCacheDir() {
  static const std::string dir = [] {
    const std::string root = KernelCacheRoot(std::getenv("NPUSIM_KERNEL_CACHE"),
                                             std::getenv("XDG_CACHE_HOME"), std::getenv("HOME"));
    if (root.empty()) return std::string();
    std::error_code ec;
    const fs::path exe = fs::canonical("/proc/self/exe", ec);
    const std::string code = ec ? std::string() : BinaryHash(root, exe);
    if (code.empty()) return std::string();
    const fs::path stamp = fs::path(root) / ("code-" + code);
    if (!fs::exists(stamp, ec)) PruneOldStamps(root, stamp);
    return stamp.string();
  }();
  return dir;
}

namespace {

// An entry's file: named by the hash of its kind and key.
std::string EntryPath(const std::string& kind, const std::string& key) {
  return KernelCacheDir() + "/" + Fnv64Hex(kind + "\n" + key);
}

// An entry's first line: the format, its kind and its key's length in bytes.
std::string Header(const std::string& kind, const std::string& key) {
  return "v" + std::to_string(kCacheFormat) + " " + kind + " " + std::to_string(key.size());
}

// The value stored under (kind, key); nullopt when the cache is off, the entry absent, of another
// format or kind, or another key's (a hash collision). The key is compared, never parsed.
std::optional<std::string> ReadEntry(const std::string& kind, const std::string& key) {
  if (KernelCacheDir().empty()) return std::nullopt;
  std::ifstream in(EntryPath(kind, key), std::ios::binary);
  std::string header, stored(key.size(), '\0');
  if (!std::getline(in, header) || header != Header(kind, key) ||
      !in.read(stored.data(), static_cast<std::streamsize>(stored.size())) || stored != key)
    return std::nullopt;
  std::ostringstream value;
  if (in.peek() != std::char_traits<char>::eof()) value << in.rdbuf();
  return value.str();
}

// The entry written to a temporary file and renamed into place: a reader sees all of it or none.
void WriteEntry(const std::string& kind, const std::string& key, const std::string& value) {
  if (KernelCacheDir().empty()) return;
  std::error_code ec;
  fs::create_directories(KernelCacheDir(), ec);
  static std::atomic<int> writes{0};  // report pages store charts from several threads
  const std::string path = EntryPath(kind, key), tmp = path + ".tmp" + std::to_string(::getpid()) +
                                                       "-" + std::to_string(writes++);
  {
    std::ofstream out(tmp, std::ios::binary);
    out << Header(kind, key) << "\n" << key << value;
    if (!out) return;
  }
  fs::rename(tmp, path, ec);
  if (ec) fs::remove(tmp, ec);
}

}  // namespace

std::optional<KernelProfile> CachedProfile(const std::string& key) {
  const std::optional<std::string> value = ReadEntry("profile", key);
  if (!value) return std::nullopt;
  try {
    return ProfileFromJson(Json::parse(*value));
  } catch (const Json::exception&) {
    return std::nullopt;  // not a profile: simulate
  }
}

void StoreProfile(const std::string& key, const KernelProfile& p) {
  WriteEntry("profile", key, ProfileJson(p).dump() + "\n");
}

std::optional<std::string> CachedText(const std::string& kind, const std::string& key) {
  return ReadEntry(kind, key);
}

void StoreText(const std::string& kind, const std::string& key, const std::string& text) {
  WriteEntry(kind, key, text);
}

}  // namespace npusim
