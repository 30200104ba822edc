// SPDX-License-Identifier: GPL-3.0-or-later
// NumPy .npy files (format versions 1.0, 2.0 and 3.0): header parsing, loading small arrays
// (detector masks, kernels) as double, and writing headers for data the caller streams. Format:
// https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/core/expected.hpp"
#include "pipeline/core/series.hpp"

namespace stemflow::ingest {

struct NpyHeader {
  int major_version = 1;
  int minor_version = 0;
  std::string descr;                 // as in the file, e.g. "<u2", "|b1"
  bool fortran_order = false;        // always false in a header read_npy_header accepts
  std::vector<std::uint64_t> shape;  // empty for a 0-d array (one element)
  std::uint64_t data_offset = 0;     // bytes from the start of the file to the data
  char kind = 0;                     // 'b', 'i', 'u', 'f' (from descr)
  std::size_t item_size = 0;         // bytes per element (from descr)

  std::uint64_t count() const;  // number of elements (product of shape; 1 for 0-d)
  std::uint64_t data_bytes() const { return count() * item_size; }
};

//! A whole array as doubles, C order.
struct NpyArray {
  std::vector<std::uint64_t> shape;
  std::vector<double> values;
};

//! Error codes: "npy_io" (cannot open/read), "npy_format" (not a valid .npy header),
//! "npy_unsupported" (big-endian, Fortran order, object/structured/string dtypes, ...),
//! "npy_truncated" (fewer data bytes than the shape needs).
//! Reads and checks the header, including that the file holds all data bytes.
Expected<NpyHeader> read_npy_header(const std::string& path);
//! The same on a header already in memory (at least the whole header; data bytes need not follow).
//! `file_size`, when given, is checked against data_offset + data_bytes().
Expected<NpyHeader> parse_npy_header(std::span<const std::byte> bytes,
                                     std::optional<std::uint64_t> file_size = std::nullopt);

//! Loads b1, u1, u2, u4, u8, i1, i2, i4, i8, f2, f4 and f8 arrays as double (u8/i8 beyond 2^53
//! round).
Expected<NpyArray> load_npy_as_f64(const std::string& path);

//! The descr of a frame dtype: "|u1", "<u2", "<u4", "<f4".
std::string_view npy_descr(Dtype d);
//! The frame dtype of a descr ('<' or '|' byte order), if it is one.
std::optional<Dtype> dtype_from_npy_descr(std::string_view descr);

//! Writes a version 1.0 header (2.0 if it does not fit), padded so the data starts 64-byte aligned;
//! the caller then writes count * item size little-endian bytes. Stream errors show in os's state.
void write_npy_header(std::ostream& os,
                      std::string_view descr,
                      const std::vector<std::uint64_t>& shape);
void write_npy_header(std::ostream& os, Dtype dtype, const std::vector<std::uint64_t>& shape);

//! Writes a whole float64 array; values.size() must equal the product of shape.
Expected<void> write_npy_f64(const std::string& path,
                             const std::vector<std::uint64_t>& shape,
                             std::span<const double> values);

}  // namespace stemflow::ingest
