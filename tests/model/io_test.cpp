// .npy round trips, strict YAML binding, trace and stats.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "model/config.h"
#include "model/error.h"
#include "model/npy.h"
#include "model/parse_memo.h"
#include "model/rng.h"
#include "model/stats.h"
#include "model/trace.h"

namespace npusim {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  auto dir =
      std::filesystem::temp_directory_path() / ("npusim_model_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

// The --try knobs of capacity and explore's grids: every value of every key, first key slowest.
TEST(Config, CombinationsAreEveryValueOfEveryKeyInOrder) {
  EXPECT_EQ(Combinations({}), std::vector<KeyValues>{{}});
  const std::vector<KeyValues> v = Combinations({{"a", {"1", "2"}}, {"b", {"x", "y", "z"}}});
  ASSERT_EQ(v.size(), 6u);
  EXPECT_EQ(v[0], (KeyValues{{"a", "1"}, {"b", "x"}}));
  EXPECT_EQ(v[2], (KeyValues{{"a", "1"}, {"b", "z"}}));
  EXPECT_EQ(v[5], (KeyValues{{"a", "2"}, {"b", "z"}}));
}

// Tidy rounds to what "%.6g" writes, so a figure read back from a file or run config is unchanged.
TEST(Config, TidyKeepsSixSignificantDigits) {
  EXPECT_EQ(Tidy(1234.56789), 1234.57);
  EXPECT_EQ(Tidy(0.000123456789), 0.000123457);
  EXPECT_EQ(Tidy(Tidy(3.14159265)), Tidy(3.14159265));
}

TEST(Npy, RoundTripsEveryDtype) {
  for (DType t : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16, DType::kInt8,
                  DType::kInt32, DType::kInt64}) {
    Tensor x("x", {3, 5}, t);  // odd shape catches stride/order mistakes
    for (int64_t i = 0; i < x.numel(); ++i) x.Set(i, static_cast<double>(i) - 7.25);
    std::string path = TempPath(std::string(Name(t)) + ".npy");
    WriteNpy(path, x);
    Tensor y = ReadNpy(path, "x", t);
    EXPECT_EQ(y.shape(), x.shape());
    EXPECT_EQ(y.dtype(), t);
    EXPECT_EQ(y.bytes(), x.bytes()) << Name(t);
  }
}

// Issue #15: a 14-byte file declaring a 4 GiB header, or a shape far past the file, allocated it
// before failing (bad_alloc, stoll out of range: exit 1).
TEST(Npy, DeclaredSizesAreCheckedAgainstTheFileBeforeAllocating) {
  const std::string big_header = TempPath("big_header.npy");
  std::ofstream(big_header, std::ios::binary)
      << std::string("\x93NUMPY\x02\x00\xff\xff\xff\xff", 12) << "{}";
  try {
    ReadNpy(big_header, "x", DType::kFloat32);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("header of 4294967295 bytes in a file of 14"));
  }
  const std::string big_shape = TempPath("big_shape.npy");
  std::string header =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (4000000000, 99999999999999999999), }";
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header += '\n';
  std::ofstream(big_shape, std::ios::binary)
      << std::string("\x93NUMPY\x01\x00", 8) << static_cast<char>(header.size() & 0xff)
      << static_cast<char>(header.size() >> 8) << header << "abcd";
  try {
    ReadNpy(big_shape, "x", DType::kFloat32);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("file holds fewer bytes (4) than its shape"));
  }
  // An empty shape whose other dimensions overflow 64 bits: zero bytes to read, but its strides
  // cannot be computed (the config fuzzer's finding, fuzz/regressions/npy-header-shape-...).
  try {
    Tensor("x", {0, 4000000000, 4000000000}, DType::kFloat32);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("more elements than a 64-bit size holds"));
  }
}

// Issue #15: a 54 MB YAML needed more than 4 GB to parse; config files are kilobytes.
TEST(Yaml, HugeFilesAndFoldersAreRefusedBeforeParsing) {
  const std::string huge = TempPath("huge.yaml");
  {
    std::ofstream out(huge);
    const std::string line = "# " + std::string(1022, 'x') + "\n";
    for (int i = 0; i < 17 * 1024; ++i) out << line;  // 17 MiB of comments
  }
  try {
    LoadYamlFile(huge);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("config files above 16 MiB are refused"));
  }
  std::filesystem::remove(huge);
  EXPECT_THROW(LoadYamlFile(::testing::TempDir()), InputError);
}

// A file's parse is remembered by its path and text: the same text is parsed once, an edited
// file again, and a parse that throws is never remembered.
TEST(ParseMemo, SameTextParsedOnceEditedTextAgainErrorsNever) {
  int parses = 0;
  auto parse = [&](const std::string& text) {
    ++parses;
    if (text == "bad") throw InputError("bad file");
    return static_cast<int>(text.size());
  };
  EXPECT_EQ(ParsedOnce<int>("memo-test/a.yaml", "abc", parse), 3);
  EXPECT_EQ(ParsedOnce<int>("memo-test/a.yaml", "abc", parse), 3);
  EXPECT_EQ(parses, 1);
  EXPECT_EQ(ParsedOnce<int>("memo-test/a.yaml", "abcd", parse), 4);  // the file was edited
  EXPECT_EQ(ParsedOnce<int>("memo-test/b.yaml", "abc", parse), 3);   // another file
  EXPECT_EQ(parses, 3);
  EXPECT_THROW(ParsedOnce<int>("memo-test/a.yaml", "bad", parse), InputError);
  EXPECT_THROW(ParsedOnce<int>("memo-test/a.yaml", "bad", parse), InputError);
  EXPECT_EQ(parses, 5);
}

TEST(Npy, Bf16TravelsAsU2AndRejectsMismatch) {
  Tensor x("x", {4}, DType::kBFloat16);
  x.Set(0, 1.5);
  std::string path = TempPath("bf16.npy");
  WriteNpy(path, x);
  std::ifstream in(path, std::ios::binary);
  std::string header(128, '\0');
  in.read(header.data(), 128);
  EXPECT_THAT(header, HasSubstr("'descr': '<u2'"));
  EXPECT_THROW(ReadNpy(path, "x", DType::kFloat16), InputError);
  EXPECT_EQ(ReadNpy(path, "x", DType::kBFloat16).At(0), 1.5);
}

struct Sample {
  int64_t cores = 0;
  double clock = 0;
  std::string name;
  int64_t ub = 0;
  void Bind(ParamVisitor& v) {
    v.Param({"name", "", "a name"}, name);
    v.Param({"clock_mhz", "MHz", "clock", 1, 5000}, clock);
    v.Group("buffers", "buffers", [&] {
      v.Param({"ub_bytes", "B", "UB", 1024, 1e9}, ub);
      v.Param({"cores", "cores", "cores", 1, 64, true}, cores);
    });
  }
};

std::string BindError(const std::string& yaml) {
  try {
    Sample s;
    YamlBinder b(LoadYamlString(yaml, "cfg.yaml"), "cfg.yaml");
    s.Bind(b);
    b.Finish();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(YamlBinding, AcceptsAValidFileWithDefaults) {
  Sample s;
  s.cores = 7;
  YamlBinder b(
      LoadYamlString("name: x\nclock_mhz: 1800\nbuffers:\n  ub_bytes: 196608\n", "cfg.yaml"),
      "cfg.yaml");
  s.Bind(b);
  b.Finish();
  EXPECT_EQ(s.ub, 196608);
  EXPECT_EQ(s.cores, 7);  // optional key absent: default kept
}

TEST(YamlBinding, EveryErrorKindNamesFileLineColumnKeyAndNearest) {
  EXPECT_EQ(BindError("name: x\nclock_mhz: 1800\nbuffers:\n  ub_byts: 196608\n"),
            "cfg.yaml:4:3: unknown key 'ub_byts' in 'buffers' (nearest valid: 'ub_bytes')");
  EXPECT_EQ(BindError("name: x\nclock_mhz: 1800\nbuffers:\n  cores: 4\n"),
            "cfg.yaml:4:3: missing key 'buffers.ub_bytes' (UB, in B)");
  EXPECT_EQ(BindError("name: x\nclock_mhz: 1800\nbuffers:\n  ub_bytes: 196608\n  coers: 4\n"),
            "cfg.yaml:5:3: unknown key 'coers' in 'buffers' (nearest valid: 'cores')");
  EXPECT_EQ(BindError("name: x\nclock_mhz: fast\nbuffers:\n  ub_bytes: 1\n"),
            "cfg.yaml:2:12: 'clock_mhz' expects a number (MHz), got 'fast'");
  EXPECT_EQ(BindError("name: x\nclock_mhz: 1800\nbuffers:\n  ub_bytes: 12.5\n"),
            "cfg.yaml:4:13: 'buffers.ub_bytes' expects an integer (B), got '12.5'");
  EXPECT_EQ(BindError("name: x\nclock_mhz: 9000\nbuffers:\n  ub_bytes: 196608\n"),
            "cfg.yaml:2:12: value 9000 of 'clock_mhz' is out of range [1, 5000] MHz");
  EXPECT_EQ(BindError("name: x\nclock_mhz: 1800\nbuffer:\n  ub_bytes: 196608\n"),
            "cfg.yaml:1:1: missing group 'buffers' (buffers)");
  EXPECT_THAT(BindError("name: x\nclock_mhz: [1800\n"),
              HasSubstr("cfg.yaml:3:1: YAML syntax error"));
  EXPECT_EQ(BindError("name: x\nclock_mhz: 1800\nbuffers:\n  ub_bytes: 196608\nextra: 1\n"),
            "cfg.yaml:5:1: unknown key 'extra' (nearest valid: 'name')");
}

TEST(Stats, RegisterOnceAndDumpByName) {
  StatsRegistry r;
  Stat& s = r.Register("aiv0.V.busy", "cycles", "V busy");
  s += 5;
  EXPECT_EQ(r.Value("aiv0.V.busy"), 5);
  EXPECT_EQ(r.Find("aiv0.V.busy")->unit, "cycles");
  EXPECT_THROW(r.Register("aiv0.V.busy", "cycles", "again"), std::logic_error);
  r.ResetValues();
  EXPECT_EQ(r.Value("aiv0.V.busy"), 0);
}

TEST(Trace, WritesPerfettoJsonAndCapsSlices) {
  TraceRecorder t(2);
  t.NameProcess(1, "aiv0", 1);
  t.NameThread(1, 4, "MTE2");
  t.Slice(1, 4, "DataCopy \"gm\"", 0.5, 0.25);
  t.Slice(1, 4, "x", 1, 1);
  t.Slice(1, 4, "dropped", 2, 1);
  std::string path = TempPath("trace.json");
  t.Write(path);
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_THAT(text, HasSubstr("\"dropped_slices\":1"));
  EXPECT_THAT(text, HasSubstr("{\"ph\":\"X\",\"pid\":1,\"tid\":4,\"name\":\"DataCopy "
                              "\\\"gm\\\"\",\"ts\":0.5000,\"dur\":0.2500}"));
  EXPECT_THAT(text, HasSubstr("\"thread_name\",\"args\":{\"name\":\"MTE2\"}"));
  EXPECT_THAT(
      text,
      HasSubstr("\"kept_slices\":2,\"kept_until_us\":2.0000"));  // what the cut trace still covers
  EXPECT_EQ(t.kept_until_us(), 2.0);
}

// Slices that touch in simulated time touch in the file: 0.00004 + 0.00004 rounds to 0.0001 as
// an end, while rounding ts and dur apart gave 0.0000 + 0.0000 and the next slice at 0.0001.
TEST(WriteFile, ANoSpaceErrorIsAnOutputErrorNamingThePath) {
  EXPECT_NO_THROW(WriteFileOrThrow(TempPath("ok.txt"), "text"));
  try {
    WriteFileOrThrow("/dev/full",
                     std::string(1 << 16, 'x'));  // the kernel answers every write with ENOSPC
    FAIL() << "no error";
  } catch (const OutputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("/dev/full: written incompletely (No space left on device)"));
  }
  EXPECT_THROW(WriteFileOrThrow("/nonexistent-dir/x", "t"), OutputError);
}

TEST(Trace, BackToBackSlicesStayAdjacentAfterRounding) {
  TraceRecorder t;
  t.Slice(1, 1, "a", 0.00004, 0.00004);  // ends at 0.00008 -> 0.0001 on the 0.1 ns grid
  t.Slice(1, 1, "b", 0.00008, 0.33333);  // starts at 0.0001
  const std::string path = TempPath("adjacent.json");
  t.Write(path);
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_THAT(text, HasSubstr("\"name\":\"a\",\"ts\":0.0000,\"dur\":0.0001}"));
  EXPECT_THAT(
      text,
      HasSubstr("\"name\":\"b\",\"ts\":0.0001,\"dur\":0.3333}"));  // 0.33341 - 0.0001 on the grid
}

TEST(Rng, SameSeedSameStream) {
  Rng a(42), b(42), c(43);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.Next(), b.Next());
  EXPECT_NE(Rng(42).Next(), c.Next());
  Rng r(1);
  double sum = 0, sq = 0;
  for (int i = 0; i < 20000; ++i) {
    double x = r.Normal();
    sum += x, sq += x * x;
  }
  EXPECT_NEAR(sum / 20000, 0, 0.03);
  EXPECT_NEAR(sq / 20000, 1, 0.05);
}

}  // namespace
}  // namespace npusim
