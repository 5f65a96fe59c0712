#include "model/npy.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>

#include "model/error.h"

namespace npusim {

namespace {
std::string Descr(DType t) {
  switch (t) {
    case DType::kFloat32:
      return "<f4";
    case DType::kFloat64:
      return "<f8";
    case DType::kFloat16:
      return "<f2";
    case DType::kBFloat16:
      return "<u2";
    case DType::kInt8:
      return "|i1";
    case DType::kUInt8:
      return "|u1";
    case DType::kInt16:
      return "<i2";
    case DType::kInt32:
      return "<i4";
    case DType::kInt64:
      return "<i8";
  }
  return "";
}

DType FromDescr(const std::string& d, DType expected, const std::string& path) {
  std::string k = d;
  if (k.size() == 3 && (k[0] == '<' || k[0] == '|' || k[0] == '=')) k = k.substr(1);
  if (k == "f4") return DType::kFloat32;
  if (k == "f8") return DType::kFloat64;
  if (k == "f2") return DType::kFloat16;
  if (k == "i1") return DType::kInt8;
  if (k == "u1" || k == "b1") return DType::kUInt8;
  if (k == "i2") return DType::kInt16;
  if (k == "i4") return DType::kInt32;
  if (k == "i8") return DType::kInt64;
  if (k == "u2") {
    if (expected == DType::kBFloat16) return DType::kBFloat16;
    throw InputError(path + ": '<u2' data is only accepted as bfloat16 bits, expected " +
                     std::string(Name(expected)));
  }
  throw InputError(path + ": unsupported npy dtype '" + d +
                   "' (supported: f4 f8 f2 i1 u1 i2 i4 i8, bf16 as <u2)");
}
}  // namespace

Tensor ReadNpy(const std::string& path, const std::string& name, DType expected) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw InputError(path + ": a folder, not a .npy file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open");
  // Sizes the header declares are checked against the file's size before anything is allocated
  // (a 14-byte file declaring a 4 GiB header or array must not allocate it).
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) throw InputError(path + ": cannot read its size (" + ec.message() + ")");
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    throw InputError(path + ": not a .npy file");
  uint32_t header_len = 0;
  if (magic[6] == 1) {
    unsigned char b[2];
    in.read(reinterpret_cast<char*>(b), 2);
    header_len = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    in.read(reinterpret_cast<char*>(b), 4);
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
  }
  if (header_len > file_size)
    throw InputError(path + ": header of " + std::to_string(header_len) + " bytes in a file of " +
                     std::to_string(file_size));
  std::string header(header_len, '\0');
  if (!in.read(header.data(), header_len)) throw InputError(path + ": truncated header");
  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr'\\s*:\\s*'([^']+)'")))
    throw InputError(path + ": header has no 'descr'");
  DType dtype = FromDescr(m[1], expected, path);
  if (std::regex_search(header, m, std::regex("'fortran_order'\\s*:\\s*True")))
    throw InputError(path +
                     ": Fortran-order arrays are not supported; save with np.ascontiguousarray");
  if (!std::regex_search(header, m, std::regex("'shape'\\s*:\\s*\\(([^)]*)\\)")))
    throw InputError(path + ": header has no 'shape'");
  Shape shape;
  std::string dims = m[1];
  std::regex num("\\d+");
  uint64_t elements = 1;
  const uint64_t payload =
      file_size - std::min<uint64_t>(file_size, static_cast<uint64_t>(in.tellg()));
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), num); it != std::sregex_iterator();
       ++it) {
    const std::string d = it->str();
    const uint64_t v = d.size() <= 12 ? std::stoull(d) : std::numeric_limits<uint64_t>::max();
    elements =
        v == 0 ? 0
               : (elements > payload / v ? payload + 1
                                         : elements * v);  // saturates above what the file holds
    shape.push_back(static_cast<int64_t>(std::min<uint64_t>(v, uint64_t{1} << 62)));
  }
  if (elements > payload || elements * SizeOf(dtype) > payload)
    throw InputError(path + ": file holds fewer bytes (" + std::to_string(payload) +
                     ") than its shape " + ShapeString(shape) + " needs");
  Tensor t(name, shape, dtype);
  if (!in.read(reinterpret_cast<char*>(t.data()), static_cast<std::streamsize>(t.nbytes())))
    throw InputError(path + ": file holds fewer bytes than its shape " + ShapeString(shape) +
                     " needs");
  return t;
}

void WriteNpy(const std::string& path, const Tensor& t) {
  std::string shape = "(";
  for (size_t i = 0; i < t.shape().size(); ++i)
    shape += std::to_string(t.shape()[i]) +
             (t.shape().size() == 1 ? "," : (i + 1 < t.shape().size() ? ", " : ""));
  shape += ")";
  std::string header =
      "{'descr': '" + Descr(t.dtype()) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  if (!out) throw OutputError(path + ": cannot write");
  out.write("\x93NUMPY\x01\x00", 8);
  uint16_t len = static_cast<uint16_t>(header.size());
  char lb[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
  out.write(lb, 2);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(t.data()), static_cast<std::streamsize>(t.nbytes()));
  out.flush();
  if (!out) throw OutputError(path + ": written incompletely (full disk?)");
}

}  // namespace npusim
