// SPDX-License-Identifier: GPL-3.0-or-later
// NumPy .npy reading and writing: round trips for every dtype, header variants, and malformed
// files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "ingest/npy.hpp"

using namespace stemflow;
using namespace stemflow::ingest;

namespace {

class NpyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("stemflow_test_npy_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  static void write_bytes(const std::string& file, const std::string& bytes) {
    std::ofstream out(file, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  //! A file with a hand-written header (version major.0, no padding rules) and raw data.
  static std::string hand_made(const std::string& dict, const std::string& data, int major = 1) {
    std::string s = "\x93NUMPY";
    s.push_back(static_cast<char>(major));
    s.push_back('\0');
    const std::size_t n = dict.size();
    s.push_back(static_cast<char>(n & 0xff));
    s.push_back(static_cast<char>((n >> 8) & 0xff));
    if (major > 1) {
      s.push_back(static_cast<char>((n >> 16) & 0xff));
      s.push_back(static_cast<char>((n >> 24) & 0xff));
    }
    return s + dict + data;
  }

  std::filesystem::path dir_;
};

template <class T>
std::string raw_bytes(const std::vector<T>& v) {
  std::string s(v.size() * sizeof(T), '\0');
  std::memcpy(s.data(), v.data(), s.size());
  return s;
}

//! Writes values of type T under `descr` with write_npy_header, then loads them as double.
template <class T>
void round_trip(const std::string& file,
                const std::string& descr,
                const std::vector<T>& values,
                const std::vector<std::uint64_t>& shape) {
  {
    std::ofstream out(file, std::ios::binary);
    write_npy_header(out, descr, shape);
    const std::string data = raw_bytes(values);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
  }
  auto header = read_npy_header(file);
  ASSERT_TRUE(header) << descr << ": " << header.error().message;
  EXPECT_EQ(header->descr, descr);
  EXPECT_EQ(header->shape, shape);
  EXPECT_EQ(header->item_size, sizeof(T));
  EXPECT_EQ(header->data_offset % 64, 0u);
  EXPECT_EQ(header->major_version, 1);
  auto arr = load_npy_as_f64(file);
  ASSERT_TRUE(arr) << descr << ": " << arr.error().message;
  EXPECT_EQ(arr->shape, shape);
  ASSERT_EQ(arr->values.size(), values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(arr->values[i], static_cast<double>(values[i])) << descr << " element " << i;
  }
}

}  // namespace

// Spec: every supported dtype survives write_npy_header + raw data -> load_npy_as_f64 exactly.
TEST_F(NpyTest, RoundTripEveryDtype) {
  const std::vector<std::uint64_t> shape = {2, 3};
  round_trip<std::uint8_t>(path("u1.npy"), "|u1", {0, 1, 2, 127, 128, 255}, shape);
  round_trip<std::uint16_t>(path("u2.npy"), "<u2", {0, 1, 256, 1200, 32768, 65535}, shape);
  round_trip<std::uint32_t>(path("u4.npy"), "<u4", {0, 1, 65536, 7, 1u << 31, 4294967295u}, shape);
  round_trip<std::uint64_t>(path("u8.npy"), "<u8", {0, 1, 1ull << 40, 7, 1ull << 53, 3}, shape);
  round_trip<std::int8_t>(path("i1.npy"), "|i1", {-128, -1, 0, 1, 5, 127}, shape);
  round_trip<std::int16_t>(path("i2.npy"), "<i2", {-32768, -1, 0, 1, 300, 32767}, shape);
  round_trip<std::int32_t>(path("i4.npy"),
                           "<i4",
                           {std::numeric_limits<std::int32_t>::min(),
                            -1,
                            0,
                            1,
                            70000,
                            std::numeric_limits<std::int32_t>::max()},
                           shape);
  round_trip<std::int64_t>(
      path("i8.npy"), "<i8", {-(1ll << 50), -1, 0, 1, 70000, 1ll << 52}, shape);
  round_trip<float>(path("f4.npy"), "<f4", {-1.5f, 0.0f, 1e-30f, 3.25f, 1e30f, 0.1f}, shape);
  round_trip<double>(path("f8.npy"), "<f8", {-1.5, 0.0, 1e-300, 3.25, 1e300, 0.1}, shape);
  // b1: any non-zero byte is True.
  round_trip<std::uint8_t>(path("b1.npy"), "|b1", {0, 1, 1, 0, 0, 1}, shape);
  // f2: half floats, including a subnormal and the largest finite value.
  {
    std::ofstream out(path("f2.npy"), std::ios::binary);
    write_npy_header(out, "<f2", {5});
    const std::vector<std::uint16_t> bits = {0x3c00, 0xc000, 0x0001, 0x7bff, 0x3555};
    const std::string data = raw_bytes(bits);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
  }
  auto half = load_npy_as_f64(path("f2.npy"));
  ASSERT_TRUE(half) << half.error().message;
  EXPECT_EQ(half->values,
            (std::vector<double>{1.0, -2.0, std::ldexp(1.0, -24), 65504.0, 0.333251953125}));
}

// Spec: the frame dtypes map to and from their descr strings.
TEST_F(NpyTest, DtypeDescrMapping) {
  for (Dtype d : {Dtype::kU8, Dtype::kU16, Dtype::kU32, Dtype::kF32}) {
    EXPECT_EQ(dtype_from_npy_descr(npy_descr(d)), d);
    std::ostringstream os;
    write_npy_header(os, d, {4, 4});
    const std::string s = os.str();
    EXPECT_EQ(s.size() % 64, 0u);
    EXPECT_NE(s.find(std::string(npy_descr(d))), std::string::npos);
  }
  EXPECT_EQ(npy_descr(Dtype::kU16), "<u2");
  EXPECT_EQ(dtype_from_npy_descr("<u1"), Dtype::kU8);
  EXPECT_EQ(dtype_from_npy_descr(">u2"), std::nullopt);
  EXPECT_EQ(dtype_from_npy_descr("<f8"), std::nullopt);
  EXPECT_EQ(dtype_from_npy_descr("|u2"), std::nullopt);
}

// Spec: the f64 convenience writer round-trips, including 0-d, 1-d and empty arrays.
TEST_F(NpyTest, WriteF64RoundTripsShapes) {
  const std::vector<std::pair<std::vector<std::uint64_t>, std::vector<double>>> cases = {
      {{}, {42.0}},
      {{5}, {1, 2, 3, 4, 5}},
      {{2, 1, 3}, {0.5, -0.5, 1e-10, 7, 8, 9}},
      {{0, 3}, {}},
  };
  for (const auto& [shape, values] : cases) {
    ASSERT_TRUE(write_npy_f64(path("a.npy"), shape, values));
    auto arr = load_npy_as_f64(path("a.npy"));
    ASSERT_TRUE(arr) << arr.error().message;
    EXPECT_EQ(arr->shape, shape);
    EXPECT_EQ(arr->values, values);
  }
  auto bad = write_npy_f64(path("b.npy"), {2, 2}, std::vector<double>{1, 2, 3});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, "npy_shape");
}

// Spec: a header too long for version 1.0 is written as version 2.0 and read back.
TEST_F(NpyTest, LongHeaderUsesVersion2) {
  const std::vector<std::uint64_t> shape(25000, 1);
  ASSERT_TRUE(write_npy_f64(path("long.npy"), shape, std::vector<double>{3.5}));
  auto h = read_npy_header(path("long.npy"));
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ(h->major_version, 2);
  EXPECT_EQ(h->shape.size(), 25000u);
  EXPECT_EQ(h->data_offset % 64, 0u);
  auto arr = load_npy_as_f64(path("long.npy"));
  ASSERT_TRUE(arr);
  EXPECT_EQ(arr->values, std::vector<double>{3.5});
}

// Spec: headers as other writers make them (versions 2.0/3.0, quotes, key order, 2L) are read.
TEST_F(NpyTest, AcceptsHeaderVariants) {
  const std::string data = raw_bytes(std::vector<std::uint16_t>{1, 2, 3, 4, 5, 6});
  const std::vector<std::pair<std::string, int>> variants = {
      {"{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3), }\n", 1},
      {"{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3), }\n", 2},
      {"{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3), }\n", 3},
      {"{\"shape\": (2,3), \"descr\": \"<u2\", \"fortran_order\": False}", 1},
      {"{'fortran_order':False,'shape':(2L, 3L),'descr':'<u2'}   \n", 1},
  };
  for (const auto& [dict, major] : variants) {
    write_bytes(path("v.npy"), hand_made(dict, data, major));
    auto arr = load_npy_as_f64(path("v.npy"));
    ASSERT_TRUE(arr) << dict << ": " << arr.error().message;
    EXPECT_EQ(arr->shape, (std::vector<std::uint64_t>{2, 3}));
    EXPECT_EQ(arr->values, (std::vector<double>{1, 2, 3, 4, 5, 6}));
    auto h = read_npy_header(path("v.npy"));
    EXPECT_EQ(h->major_version, major);
  }
}

// Error guessing: unsupported arrays give npy_unsupported with a message naming the cause.
TEST_F(NpyTest, RejectsUnsupportedArrays) {
  const std::string data(64, '\0');
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{'descr': '>u2', 'fortran_order': False, 'shape': (4,), }", "big-endian"},
      {"{'descr': '|O', 'fortran_order': False, 'shape': (4,), }", "object"},
      {"{'descr': '<u2', 'fortran_order': True, 'shape': (2, 2), }", "fortran_order"},
      {"{'descr': [('a', '<u2')], 'fortran_order': False, 'shape': (4,), }", "structured"},
      {"{'descr': '<c8', 'fortran_order': False, 'shape': (4,), }", "<c8"},
      {"{'descr': '<U3', 'fortran_order': False, 'shape': (4,), }", "<U3"},
      {"{'descr': '<f16', 'fortran_order': False, 'shape': (4,), }", "<f16"},
  };
  for (const auto& [dict, word] : cases) {
    write_bytes(path("u.npy"), hand_made(dict, data));
    auto h = read_npy_header(path("u.npy"));
    ASSERT_FALSE(h) << dict;
    EXPECT_EQ(h.error().code, "npy_unsupported") << dict;
    EXPECT_NE(h.error().message.find(word), std::string::npos) << h.error().message;
    EXPECT_FALSE(load_npy_as_f64(path("u.npy")));
  }
  std::string v4 = hand_made("{'descr': '<u2', 'fortran_order': False, 'shape': (4,), }", data);
  v4[6] = 4;
  write_bytes(path("v4.npy"), v4);
  auto h = read_npy_header(path("v4.npy"));
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().code, "npy_unsupported");
}

// Error guessing: malformed headers are npy_format errors.
TEST_F(NpyTest, RejectsMalformedHeaders) {
  const std::string data(64, '\0');
  const std::vector<std::string> dicts = {
      "",
      "not a dict",
      "{'descr': '<u2', 'shape': (4,), }",                                // no fortran_order
      "{'descr': '<u2', 'fortran_order': False, 'shape': (4,), 'x': 1}",  // extra key
      "{'descr': '<u2', 'fortran_order': Maybe, 'shape': (4,), }",
      "{'descr': '<u2', 'fortran_order': False, 'shape': (4), }",  // not a tuple
      "{'descr': '<u2', 'fortran_order': False, 'shape': (-4,), }",
      "{'descr': '<u2', 'fortran_order': False, 'shape': (4,), } trailing",
      "{'descr': '<u2', 'fortran_order': False, 'shape': (99999999999999999999,), }",
      "{'descr': '<u2', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4), }",
      "{'descr': '<u2, 'fortran_order': False, 'shape': (4,), }",
      "{'descr': '*u2', 'fortran_order': False, 'shape': (4,), }",
  };
  for (const auto& dict : dicts) {
    write_bytes(path("m.npy"), hand_made(dict, data));
    auto h = read_npy_header(path("m.npy"));
    ASSERT_FALSE(h) << dict;
    EXPECT_EQ(h.error().code, "npy_format") << dict << ": " << h.error().message;
  }
  write_bytes(path("magic.npy"), std::string("\x93NUMPX\x01\x00\x10\x00{}              ", 26));
  auto h = read_npy_header(path("magic.npy"));
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().code, "npy_format");
  auto missing = read_npy_header(path("does_not_exist.npy"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, "npy_io");
}

// Error guessing: every truncation of a valid file is an error (npy_truncated once in data).
TEST_F(NpyTest, TruncatedFilesAreErrors) {
  std::vector<double> values(20);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<double>(i);
  ASSERT_TRUE(write_npy_f64(path("full.npy"), {4, 5}, values));
  std::ifstream in(path("full.npy"), std::ios::binary);
  const std::string full((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(full.size(), 128u + 160u);
  for (std::size_t n = 0; n < full.size(); ++n) {
    write_bytes(path("cut.npy"), full.substr(0, n));
    auto arr = load_npy_as_f64(path("cut.npy"));
    ASSERT_FALSE(arr) << "cut at " << n;
    if (n >= 128) {
      EXPECT_EQ(arr.error().code, "npy_truncated") << "cut at " << n;
    }
  }
}

// Error guessing: random corruption of header bytes gives a result or an error, never a crash.
TEST_F(NpyTest, CorruptHeadersDoNotCrash) {
  ASSERT_TRUE(write_npy_f64(path("ok.npy"), {3, 3}, std::vector<double>(9, 1.0)));
  std::ifstream in(path("ok.npy"), std::ios::binary);
  const std::string good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::mt19937 rng(1);
  int errors = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    std::string bad = good;
    const int flips = 1 + trial % 4;
    for (int f = 0; f < flips; ++f) {
      bad[rng() % 128] = static_cast<char>(rng() & 0xff);
    }
    write_bytes(path("bad.npy"), bad);
    auto arr = load_npy_as_f64(path("bad.npy"));
    if (!arr) {
      ++errors;
      EXPECT_FALSE(arr.error().code.empty());
    } else {
      EXPECT_EQ(arr->values.size(), [&] {
        std::uint64_t n = 1;
        for (auto d : arr->shape) n *= d;
        return n;
      }());
    }
  }
  EXPECT_GT(errors, 100);
}

// Spec: numpy reads what we write, and we read what numpy writes. Uses the test venv's python
// (tests/python/ensure_venv.sh); skipped when neither it nor a python3 with numpy is available.
TEST_F(NpyTest, NumpyReadsOurFiles) {
  std::string python = std::string(STEMFLOW_TEST_VENV) + "/bin/python";
  if (!std::filesystem::exists(python)) python = "python3";
  if (std::system((python + " -c 'import numpy' > /dev/null 2>&1").c_str()) != 0) {
    GTEST_SKIP() << "no python with numpy (" << STEMFLOW_TEST_VENV
                 << " not made, python3 lacks numpy)";
  }
  ASSERT_TRUE(write_npy_f64(path("f8.npy"), {2, 3}, std::vector<double>{1, 2, 3, 4, 5, 6.5}));
  {
    std::ofstream out(path("u2.npy"), std::ios::binary);
    write_npy_header(out, Dtype::kU16, {3});
    const std::string data = raw_bytes(std::vector<std::uint16_t>{7, 65535, 1200});
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
  }
  const std::string script =
      "import numpy as np, sys; a = np.load(sys.argv[1]); b = np.load(sys.argv[2]); "
      "assert a.shape == (2, 3) and a.dtype == np.float64 and a[1, 2] == 6.5 and a.sum() == 21.5; "
      "assert b.dtype == np.uint16 and b.tolist() == [7, 65535, 1200]";
  const std::string cmd =
      python + " -c \"" + script + "\" " + path("f8.npy") + " " + path("u2.npy");
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  // And we read what numpy writes.
  const std::string write_cmd = python + " -c \"import numpy as np; np.save('" + path("np.npy") +
                                "', np.arange(12, dtype='<i4').reshape(3, 4) - 5)\"";
  ASSERT_EQ(std::system(write_cmd.c_str()), 0);
  auto arr = load_npy_as_f64(path("np.npy"));
  ASSERT_TRUE(arr) << arr.error().message;
  EXPECT_EQ(arr->shape, (std::vector<std::uint64_t>{3, 4}));
  EXPECT_EQ(arr->values.front(), -5.0);
  EXPECT_EQ(arr->values.back(), 6.0);
}
