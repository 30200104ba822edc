// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/npy.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

namespace stemflow::ingest {

static_assert(std::endian::native == std::endian::little,
              "raw .npy data is written in host byte order, which must be little-endian");

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = 6;
constexpr std::size_t kMaxHeaderSize = std::size_t{1}
                                       << 20;  // numpy itself refuses > 10000 by default
constexpr std::size_t kAlign = 64;

// ---- a tiny reader for the header's Python dict literal
// -------------------------------------------

class Literal {
 public:
  explicit Literal(std::string_view s) : s_(s) {}

  void skip_space() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool consume(char c) {
    skip_space();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  char peek() {
    skip_space();
    return pos_ < s_.size() ? s_[pos_] : '\0';
  }
  bool at_end() {
    skip_space();
    return pos_ == s_.size();
  }
  std::optional<std::string> string() {
    skip_space();
    if (pos_ >= s_.size() || (s_[pos_] != '\'' && s_[pos_] != '"')) return std::nullopt;
    const char quote = s_[pos_++];
    std::string out;
    while (pos_ < s_.size() && s_[pos_] != quote) {
      if (s_[pos_] == '\\') return std::nullopt;  // no escapes in any header we accept
      out.push_back(s_[pos_++]);
    }
    if (pos_ >= s_.size()) return std::nullopt;
    ++pos_;
    return out;
  }
  std::optional<bool> boolean() {
    skip_space();
    for (auto [word, value] :
         {std::pair{std::string_view("True"), true}, std::pair{std::string_view("False"), false}}) {
      if (s_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return value;
      }
    }
    return std::nullopt;
  }
  std::optional<std::uint64_t> integer() {
    skip_space();
    const std::size_t start = pos_;
    std::uint64_t v = 0;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      const std::uint64_t digit = static_cast<std::uint64_t>(s_[pos_] - '0');
      if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
      v = v * 10 + digit;
      ++pos_;
    }
    if (pos_ == start) return std::nullopt;
    if (pos_ < s_.size() && (s_[pos_] == 'L' || s_[pos_] == 'l')) ++pos_;  // Python 2 longs
    return v;
  }
  //! "()", "(3,)", "(3, 4)", "(3, 4,)"
  std::optional<std::vector<std::uint64_t>> int_tuple() {
    if (!consume('(')) return std::nullopt;
    std::vector<std::uint64_t> out;
    if (consume(')')) return out;
    for (;;) {
      auto v = integer();
      if (!v) return std::nullopt;
      out.push_back(*v);
      if (consume(')'))
        return out.size() == 1 ? std::nullopt : std::optional(out);  // "(3)" is no tuple
      if (!consume(',')) return std::nullopt;
      if (consume(')')) return out;
    }
  }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

tl::unexpected<Error> format_error(const std::string& what) {
  return make_error("npy_format", "not a valid .npy file: " + what);
}
tl::unexpected<Error> unsupported(const std::string& what) {
  return make_error("npy_unsupported", "unsupported .npy array: " + what);
}

std::uint32_t read_le(const std::byte* p, std::size_t n) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < n; ++i)
    v |= std::uint32_t(std::to_integer<std::uint8_t>(p[i])) << (8 * i);
  return v;
}

Expected<void> parse_descr(NpyHeader& h) {
  const std::string& d = h.descr;
  if (d.size() >= 2 && d[1] == 'O') {
    return unsupported("object arrays ('" + d + "') cannot be read without Python");
  }
  if (d.size() < 3) return unsupported("dtype '" + d + "'");
  const char order = d[0];
  h.kind = d[1];
  std::size_t size = 0;
  for (std::size_t i = 2; i < d.size(); ++i) {
    if (d[i] < '0' || d[i] > '9' || size > 1000) return unsupported("dtype '" + d + "'");
    size = size * 10 + static_cast<std::size_t>(d[i] - '0');
  }
  h.item_size = size;
  bool size_ok = false;
  switch (h.kind) {
    case 'b':
      size_ok = size == 1;
      break;
    case 'i':
    case 'u':
      size_ok = size == 1 || size == 2 || size == 4 || size == 8;
      break;
    case 'f':
      size_ok = size == 2 || size == 4 || size == 8;
      break;
    default:
      return unsupported("dtype '" + d + "' (only b1, i1-i8, u1-u8, f2, f4, f8)");
  }
  if (!size_ok) return unsupported("dtype '" + d + "'");
  if (order == '>' && size > 1) {
    return unsupported("big-endian dtype '" + d + "' (save it little-endian: a.astype('<" +
                       d.substr(1) + "'))");
  }
  if (order != '<' && order != '|' && order != '=' && order != '>') {
    return format_error("bad byte order in dtype '" + d + "'");
  }
  return {};
}

double half_to_double(std::uint16_t bits) {
  const int sign = (bits >> 15) & 1;
  const int exponent = (bits >> 10) & 0x1f;
  const int mantissa = bits & 0x3ff;
  double v;
  if (exponent == 0) {
    v = std::ldexp(mantissa, -24);
  } else if (exponent == 31) {
    v = mantissa ? std::numeric_limits<double>::quiet_NaN()
                 : std::numeric_limits<double>::infinity();
  } else {
    v = std::ldexp(mantissa + 1024, exponent - 25);
  }
  return sign ? -v : v;
}

template <class T>
void convert(const std::byte* src, std::size_t n, double* dst) {
  for (std::size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, src + i * sizeof(T), sizeof(T));
    dst[i] = static_cast<double>(v);
  }
}

std::string shape_string(const std::vector<std::uint64_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

}  // namespace

std::uint64_t NpyHeader::count() const {
  std::uint64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

Expected<NpyHeader> parse_npy_header(std::span<const std::byte> bytes,
                                     std::optional<std::uint64_t> file_size) {
  constexpr std::size_t kPrefix = kMagicSize + 2;
  if (bytes.size() < kPrefix + 2)
    return make_error("npy_truncated", "file too short for a .npy header");
  if (std::memcmp(bytes.data(), kMagic, kMagicSize) != 0) return format_error("bad magic string");
  NpyHeader h;
  h.major_version = std::to_integer<int>(bytes[6]);
  h.minor_version = std::to_integer<int>(bytes[7]);
  if (h.major_version < 1 || h.major_version > 3 || h.minor_version != 0) {
    return unsupported("format version " + std::to_string(h.major_version) + "." +
                       std::to_string(h.minor_version) + " (1.0, 2.0 and 3.0 are known)");
  }
  const std::size_t len_size = h.major_version == 1 ? 2 : 4;
  if (bytes.size() < kPrefix + len_size) {
    return make_error("npy_truncated", "file too short for a .npy header");
  }
  const std::size_t header_len = read_le(bytes.data() + kPrefix, len_size);
  if (header_len > kMaxHeaderSize) return format_error("header longer than 1 MiB");
  h.data_offset = kPrefix + len_size + header_len;
  if (bytes.size() < h.data_offset)
    return make_error("npy_truncated", "the .npy header is cut short");
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()) + kPrefix + len_size,
                              header_len);

  Literal lit(text);
  if (!lit.consume('{')) return format_error("header is not a dict");
  bool has_descr = false, has_order = false, has_shape = false;
  while (!lit.consume('}')) {
    auto key = lit.string();
    if (!key || !lit.consume(':')) return format_error("bad header dict");
    if (*key == "descr") {
      if (lit.peek() == '[') return unsupported("structured arrays (descr is a list)");
      auto descr = lit.string();
      if (!descr) return format_error("descr is not a string");
      h.descr = *descr;
      has_descr = true;
    } else if (*key == "fortran_order") {
      auto b = lit.boolean();
      if (!b) return format_error("fortran_order is not True or False");
      h.fortran_order = *b;
      has_order = true;
    } else if (*key == "shape") {
      auto shape = lit.int_tuple();
      if (!shape) return format_error("shape is not a tuple of integers");
      h.shape = std::move(*shape);
      has_shape = true;
    } else {
      return format_error("unexpected header key '" + *key + "'");
    }
    if (!lit.consume(',')) {
      if (!lit.consume('}')) return format_error("bad header dict");
      break;
    }
  }
  if (!has_descr || !has_order || !has_shape) {
    return format_error("header lacks one of 'descr', 'fortran_order', 'shape'");
  }
  if (!lit.at_end()) {  // only spaces and the final newline may follow the dict
    return format_error("trailing characters after the header dict");
  }
  if (auto ok = parse_descr(h); !ok) return tl::unexpected(ok.error());
  if (h.fortran_order) {
    return unsupported("fortran_order=True (save it C-ordered: np.ascontiguousarray)");
  }
  std::uint64_t count = 1;
  for (auto d : h.shape) {
    if (d != 0 && count > std::numeric_limits<std::uint64_t>::max() / d) {
      return format_error("shape too large");
    }
    count *= d;
  }
  if (count > (std::numeric_limits<std::uint64_t>::max() - h.data_offset) / h.item_size) {
    return format_error("shape too large");
  }
  if (file_size && *file_size < h.data_offset + h.data_bytes()) {
    return make_error("npy_truncated",
                      "file holds " + std::to_string(*file_size - h.data_offset) +
                          " data bytes, shape " + shape_string(h.shape) + " of " + h.descr +
                          " needs " + std::to_string(h.data_bytes()));
  }
  return h;
}

Expected<NpyHeader> read_npy_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("npy_io", "cannot open '" + path + "'");
  in.seekg(0, std::ios::end);
  const auto end = in.tellg();
  if (end < 0) return make_error("npy_io", "cannot read '" + path + "'");
  const auto file_size = static_cast<std::uint64_t>(end);
  in.seekg(0);
  // Magic, version and length first; then the header it announces.
  std::vector<std::byte> buf(std::min<std::uint64_t>(file_size, 12));
  in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(buf.size()));
  if (!in) return make_error("npy_io", "cannot read '" + path + "'");
  if (buf.size() >= 10 && std::memcmp(buf.data(), kMagic, kMagicSize) == 0) {
    const std::size_t len_size = std::to_integer<int>(buf[6]) == 1 ? 2 : 4;
    if (buf.size() >= kMagicSize + 2 + len_size) {
      const std::uint64_t total =
          kMagicSize + 2 + len_size +
          std::min<std::size_t>(read_le(buf.data() + 8, len_size), kMaxHeaderSize + 1);
      const std::size_t have = buf.size();
      buf.resize(std::min(file_size, total));
      if (buf.size() > have) {
        in.read(reinterpret_cast<char*>(buf.data() + have),
                static_cast<std::streamsize>(buf.size() - have));
        if (!in) return make_error("npy_io", "cannot read '" + path + "'");
      }
    }
  }
  auto h = parse_npy_header(buf, file_size);
  if (!h) h.error().message += " ('" + path + "')";
  return h;
}

Expected<NpyArray> load_npy_as_f64(const std::string& path) {
  auto header = read_npy_header(path);
  if (!header) return tl::unexpected(header.error());
  const NpyHeader& h = *header;
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("npy_io", "cannot open '" + path + "'");
  in.seekg(static_cast<std::streamoff>(h.data_offset));
  std::vector<std::byte> raw(h.data_bytes());
  if (!raw.empty())
    in.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(raw.size()));
  if (!in) return make_error("npy_truncated", "cannot read the data of '" + path + "'");

  NpyArray out;
  out.shape = h.shape;
  out.values.resize(h.count());
  const std::size_t n = out.values.size();
  double* dst = out.values.data();
  const std::byte* src = raw.data();
  switch (h.kind) {
    case 'b':
      for (std::size_t i = 0; i < n; ++i) dst[i] = src[i] != std::byte{0} ? 1.0 : 0.0;
      break;
    case 'u':
      switch (h.item_size) {
        case 1:
          convert<std::uint8_t>(src, n, dst);
          break;
        case 2:
          convert<std::uint16_t>(src, n, dst);
          break;
        case 4:
          convert<std::uint32_t>(src, n, dst);
          break;
        default:
          convert<std::uint64_t>(src, n, dst);
          break;
      }
      break;
    case 'i':
      switch (h.item_size) {
        case 1:
          convert<std::int8_t>(src, n, dst);
          break;
        case 2:
          convert<std::int16_t>(src, n, dst);
          break;
        case 4:
          convert<std::int32_t>(src, n, dst);
          break;
        default:
          convert<std::int64_t>(src, n, dst);
          break;
      }
      break;
    default:  // 'f'
      switch (h.item_size) {
        case 2:
          for (std::size_t i = 0; i < n; ++i) {
            std::uint16_t bits;
            std::memcpy(&bits, src + 2 * i, 2);
            dst[i] = half_to_double(bits);
          }
          break;
        case 4:
          convert<float>(src, n, dst);
          break;
        default:
          convert<double>(src, n, dst);
          break;
      }
      break;
  }
  return out;
}

std::string_view npy_descr(Dtype d) {
  switch (d) {
    case Dtype::kU8:
      return "|u1";
    case Dtype::kU16:
      return "<u2";
    case Dtype::kU32:
      return "<u4";
    case Dtype::kF32:
      return "<f4";
  }
  return "";
}

std::optional<Dtype> dtype_from_npy_descr(std::string_view descr) {
  if (descr.size() != 3 || (descr[0] != '<' && descr[0] != '|')) return std::nullopt;
  const std::string_view body = descr.substr(1);
  if (body == "u1") return Dtype::kU8;
  if (descr[0] != '<') return std::nullopt;
  if (body == "u2") return Dtype::kU16;
  if (body == "u4") return Dtype::kU32;
  if (body == "f4") return Dtype::kF32;
  return std::nullopt;
}

void write_npy_header(std::ostream& os,
                      std::string_view descr,
                      const std::vector<std::uint64_t>& shape) {
  std::string dict = "{'descr': '" + std::string(descr) +
                     "', 'fortran_order': False, 'shape': " + shape_string(shape) + ", }";
  // Version 1.0 stores the header length in 2 bytes, 2.0 in 4.
  std::size_t len_size = 2;
  std::size_t unpadded = kMagicSize + 2 + len_size + dict.size() + 1;
  if (unpadded + kAlign > 65535) {
    len_size = 4;
    unpadded = kMagicSize + 2 + len_size + dict.size() + 1;
  }
  const std::size_t padded = (unpadded + kAlign - 1) / kAlign * kAlign;
  dict.append(padded - unpadded, ' ');
  dict.push_back('\n');
  const std::size_t header_len = dict.size();
  os.write(kMagic, kMagicSize);
  const char version[2] = {static_cast<char>(len_size == 2 ? 1 : 2), 0};
  os.write(version, 2);
  char len[4];
  for (std::size_t i = 0; i < len_size; ++i)
    len[i] = static_cast<char>((header_len >> (8 * i)) & 0xff);
  os.write(len, static_cast<std::streamsize>(len_size));
  os.write(dict.data(), static_cast<std::streamsize>(dict.size()));
}

void write_npy_header(std::ostream& os, Dtype dtype, const std::vector<std::uint64_t>& shape) {
  write_npy_header(os, npy_descr(dtype), shape);
}

Expected<void> write_npy_f64(const std::string& path,
                             const std::vector<std::uint64_t>& shape,
                             std::span<const double> values) {
  NpyHeader h;
  h.shape = shape;
  if (h.count() != values.size()) {
    return make_error("npy_shape",
                      "shape " + shape_string(shape) + " holds " + std::to_string(h.count()) +
                          " values, got " + std::to_string(values.size()));
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return make_error("npy_io", "cannot create '" + path + "'");
  write_npy_header(out, "<f8", shape);
  out.write(reinterpret_cast<const char*>(values.data()),
            static_cast<std::streamsize>(values.size_bytes()));
  out.close();
  if (!out) return make_error("npy_io", "cannot write '" + path + "'");
  return {};
}

}  // namespace stemflow::ingest
