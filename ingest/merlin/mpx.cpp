// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/merlin/mpx.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstring>
#include <vector>

namespace stemflow::ingest::merlin {

namespace {

tl::unexpected<Error> bad(std::string_view code, std::string message) {
  return make_error(std::string(code), std::move(message));
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\0' ||
                        s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\0' ||
                        s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

template <class T>
std::optional<T> number(std::string_view s) {
  s = trim(s);
  T v{};
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }

// 12-bit raw: pixel k of each group of 4 is the big-endian u16 at position 3 - k.
void decode_raw12(const std::uint8_t* in, std::uint16_t* out, std::size_t n) {
  for (std::size_t g = 0; g < n / 4; ++g) {
    for (std::size_t k = 0; k < 4; ++k) out[4 * g + k] = be16(in + 2 * (4 * g + 3 - k)) & 0x0FFF;
  }
}

}  // namespace

Expected<std::uint64_t> parse_mpx_prefix(std::span<const std::uint8_t> p) {
  if (p.size() < kMpxPrefixBytes || std::memcmp(p.data(), "MPX,", 4) != 0 || p[14] != ',') {
    return bad("malformed", "message does not start with MPX,<length>,");
  }
  const auto len = number<std::uint64_t>({reinterpret_cast<const char*>(p.data()) + 4, 10});
  if (!len || *len == 0 || *len > kMaxMessageBytes) return bad("malformed", "bad MPX length");
  return *len - 1;  // the length counts the comma after it
}

std::string mpx_prefix(std::uint64_t payload_bytes) {
  return fmt::format("MPX,{:010d},", payload_bytes + 1);
}

Expected<AcquisitionHeader> parse_acquisition_header(std::span<const std::uint8_t> payload) {
  std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
  if (text.substr(0, 4) != "HDR,") return bad("malformed", "acquisition header without HDR,");
  AcquisitionHeader h;
  std::size_t pos = 4;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    const std::size_t colon = line.find(':');
    if (trim(line).substr(0, 3) == "End") break;
    if (colon == std::string_view::npos) continue;
    const std::string key(trim(line.substr(0, colon)));
    const std::string_view value = trim(line.substr(colon + 1));
    h.fields[key] = std::string(value);
    if (key.rfind("Frames in Acquisition", 0) == 0) {
      h.frames = number<std::uint64_t>(value).value_or(0);
    } else if (key.rfind("Frames per Trigger", 0) == 0) {
      h.frames_per_trigger = number<std::uint64_t>(value).value_or(0);
    } else if (key.rfind("Counter Depth", 0) == 0) {
      h.counter_depth = number<std::uint32_t>(value).value_or(0);
    } else if (key == "ScanX") {
      h.scan_x = number<std::uint32_t>(value);
    } else if (key == "ScanY") {
      h.scan_y = number<std::uint32_t>(value);
    }
  }
  if (h.frames == 0) return bad("malformed", "acquisition header without Frames in Acquisition");
  return h;
}

std::string encode_acquisition_header(std::uint64_t frames, std::uint32_t depth,
                                      std::uint32_t scan_x, std::uint32_t scan_y) {
  std::string s = "HDR,\t\n";
  s += "Time and Date Stamp (day, mnth, yr, hr, min, s):\t01/01/2024 00:00:00\n";
  s += "Chip ID:\tW000_X0,-,-,-\n";
  s += "Chip Type (Medipix 3.0, Medipix 3.1, Medipix 3RX):\tMedipix 3RX\n";
  s += "Assembly Size (NX1, 2X2):\t   1x1\n";
  s += "Chip Mode  (SPM, CSM, CM, CSCM):\tSPM\n";
  s += fmt::format("Counter Depth (number):\t{}\n", depth);
  s += "Gain:\tSLGM\n";
  s += "Active Counters:\tAlternating\n";
  s += "Acquisition Type (Normal, Th_scan, Config):\tNormal\n";
  s += fmt::format("Frames in Acquisition (Number):\t{}\n", frames);
  s += fmt::format("Frames per Trigger (Number):\t{}\n", scan_x);
  s += fmt::format("ScanX:\t{}\nScanY:\t{}\n", scan_x, scan_y);
  s += "Readout System:\tstemflow-sim\n";
  s += "Software Version:\t1.6.1\n";
  s += "End\t";
  return s;
}

Expected<FrameHeader> parse_frame_header(std::span<const std::uint8_t> bytes) {
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), std::min<std::size_t>(bytes.size(), 4096));
  if (text.substr(0, 4) != "MQ1,") return bad("malformed", "frame header without MQ1,");
  std::vector<std::string_view> f;
  for (std::size_t pos = 0; pos <= text.size();) {
    std::size_t c = text.find(',', pos);
    if (c == std::string_view::npos) c = text.size();
    f.push_back(text.substr(pos, c - pos));
    pos = c + 1;
  }
  if (f.size() < 8) return bad("malformed", "MQ1 header with fewer than 8 fields");
  FrameHeader h;
  const auto seq = number<std::uint64_t>(f[1]);
  const auto off = number<std::size_t>(f[2]);
  const auto chips = number<std::uint32_t>(f[3]);
  const auto w = number<std::uint32_t>(f[4]);
  const auto ht = number<std::uint32_t>(f[5]);
  if (!seq || !off || !chips || !w || !ht || *w == 0 || *ht == 0 || *w > 65536 || *ht > 65536 ||
      *off < 16 || *off > (1u << 20)) {
    return bad("malformed", "MQ1 header with unreadable sequence, offset or shape");
  }
  h.sequence = *seq;
  h.data_offset = *off;
  h.chips = *chips;
  h.width = *w;
  h.height = *ht;
  h.pixel_type = std::string(trim(f[6]));
  h.layout = std::string(trim(f[7]));
  // Counter depth: after MQ1A (extended timestamp, shutter, depth), else the last field that is one.
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (trim(f[i]) == "MQ1A" && i + 3 < f.size()) {
      h.counter_depth = number<std::uint32_t>(f[i + 3]).value_or(0);
      break;
    }
  }
  if (h.counter_depth == 0) {
    for (std::size_t i = f.size(); i-- > 8;) {
      if (trim(f[i]).empty()) continue;
      h.counter_depth = number<std::uint32_t>(f[i]).value_or(0);
      break;
    }
  }
  const std::size_t n = std::size_t{h.width} * h.height;
  if (h.pixel_type == "U08") {
    h.dtype = Dtype::kU8;
    h.pixel_bytes = n;
  } else if (h.pixel_type == "U16") {
    h.dtype = Dtype::kU16;
    h.pixel_bytes = 2 * n;
  } else if (h.pixel_type == "U32") {
    h.dtype = Dtype::kU32;
    h.pixel_bytes = 4 * n;
  } else if (h.pixel_type == "R64") {
    h.raw = true;
    if (h.chips != 1) return bad("wrong_dtype", "raw (R64) frames of several chips are not supported");
    switch (h.counter_depth) {
      case 1: h.dtype = Dtype::kU8; h.pixel_bytes = n / 8; break;
      case 6: h.dtype = Dtype::kU8; h.pixel_bytes = n; break;
      case 12: h.dtype = Dtype::kU16; h.pixel_bytes = 2 * n; break;
      case 24: h.dtype = Dtype::kU32; h.pixel_bytes = 4 * n; break;
      default: return bad("wrong_dtype", "raw frame with counter depth " + std::to_string(h.counter_depth));
    }
    if (n % 64 != 0) return bad("wrong_dtype", "raw frame whose pixel count is not a multiple of 64");
  } else {
    return bad("wrong_dtype", "pixel type '" + h.pixel_type + "'");
  }
  return h;
}

std::string encode_frame_header(std::uint64_t sequence, std::uint32_t width, std::uint32_t height,
                                Dtype dtype, std::uint32_t depth) {
  constexpr std::size_t kOffset = 384;  // one chip
  const char* type = dtype == Dtype::kU8 ? "U08" : dtype == Dtype::kU16 ? "U16" : "U32";
  std::string s = fmt::format(
      "MQ1,{:06d},{:05d},01,{:04d},{:04d},{},   1x1,01,2024-01-01 00:00:00.000000,0.001000,0,0,0,"
      "1.000000E+1,0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0,"
      "0.000000E+0,3RX,175,511,000,000,000,000,000,000,125,255,125,125,100,100,082,100,087,030,"
      "128,004,255,129,128,176,168,511,511,MQ1A,2024-01-01T00:00:00.000000000Z,1000000ns,{},",
      sequence, kOffset, width, height, type, depth);
  s.resize(kOffset, '\0');
  return s;
}

Expected<void> decode_pixels(const FrameHeader& h, std::span<const std::uint8_t> in,
                             std::span<std::uint8_t> out) {
  if (in.size() != h.pixel_bytes) {
    return bad("wrong_size", "frame of " + std::to_string(in.size()) + " pixel bytes, header says " +
                                 std::to_string(h.pixel_bytes));
  }
  if (out.size() != h.frame_bytes()) return bad("wrong_size", "destination size");
  const std::size_t n = std::size_t{h.width} * h.height;
  if (!h.raw) {
    const std::size_t es = dtype_size(h.dtype);
    if (es == 1) {
      std::memcpy(out.data(), in.data(), n);
    } else if (es == 2) {
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint16_t v = be16(in.data() + 2 * i);
        std::memcpy(out.data() + 2 * i, &v, 2);
      }
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint8_t* p = in.data() + 4 * i;
        const std::uint32_t v = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                                (std::uint32_t{p[2]} << 8) | p[3];
        std::memcpy(out.data() + 4 * i, &v, 4);
      }
    }
    return {};
  }
  switch (h.counter_depth) {
    case 1:
      for (std::size_t s = 0; s < n / 64; ++s) {
        for (std::size_t b = 0; b < 8; ++b) {
          const std::uint8_t byte = in[(s + 1) * 8 - (b + 1)];
          for (std::size_t p = 0; p < 8; ++p) out[64 * s + 8 * b + p] = (byte >> p) & 1u;
        }
      }
      return {};
    case 6:
      for (std::size_t g = 0; g < n / 8; ++g) {
        for (std::size_t k = 0; k < 8; ++k) out[8 * g + k] = in[8 * g + 7 - k];
      }
      return {};
    case 12:
      decode_raw12(in.data(), reinterpret_cast<std::uint16_t*>(out.data()), n);
      return {};
    case 24: {
      std::vector<std::uint16_t> hi(n), lo(n);
      decode_raw12(in.data(), hi.data(), n);
      decode_raw12(in.data() + 2 * n, lo.data(), n);
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint32_t v = (std::uint32_t{hi[i]} << 12) | lo[i];
        std::memcpy(out.data() + 4 * i, &v, 4);
      }
      return {};
    }
  }
  return bad("wrong_dtype", "raw counter depth");
}

void encode_pixels(Dtype dtype, std::span<const std::uint8_t> in, std::span<std::uint8_t> out) {
  const std::size_t es = dtype_size(dtype);
  for (std::size_t i = 0; i < in.size() / es; ++i) {
    for (std::size_t j = 0; j < es; ++j) out[i * es + j] = in[i * es + (es - 1 - j)];
  }
}

std::string encode_raw_pixels(std::uint32_t depth, std::span<const std::uint8_t> pixels,
                              std::size_t n) {
  std::string out;
  const auto raw12 = [&](auto value_of, std::string& dst) {
    const std::size_t base = dst.size();
    dst.resize(base + 2 * n);
    for (std::size_t g = 0; g < n / 4; ++g) {
      for (std::size_t k = 0; k < 4; ++k) {
        const std::uint16_t v = static_cast<std::uint16_t>(value_of(4 * g + k) & 0x0FFF);
        const std::size_t at = base + 2 * (4 * g + 3 - k);
        dst[at] = static_cast<char>(v >> 8);
        dst[at + 1] = static_cast<char>(v & 0xFF);
      }
    }
  };
  switch (depth) {
    case 1:
      out.assign(n / 8, '\0');
      for (std::size_t s = 0; s < n / 64; ++s) {
        for (std::size_t b = 0; b < 8; ++b) {
          std::uint8_t byte = 0;
          for (std::size_t p = 0; p < 8; ++p) byte |= static_cast<std::uint8_t>((pixels[64 * s + 8 * b + p] & 1u) << p);
          out[(s + 1) * 8 - (b + 1)] = static_cast<char>(byte);
        }
      }
      break;
    case 6:
      out.assign(n, '\0');
      for (std::size_t g = 0; g < n / 8; ++g) {
        for (std::size_t k = 0; k < 8; ++k) out[8 * g + 7 - k] = static_cast<char>(pixels[8 * g + k]);
      }
      break;
    case 12:
      raw12([&](std::size_t i) { std::uint16_t v; std::memcpy(&v, pixels.data() + 2 * i, 2); return v; }, out);
      break;
    case 24:
      raw12([&](std::size_t i) { std::uint32_t v; std::memcpy(&v, pixels.data() + 4 * i, 4); return v >> 12; }, out);
      raw12([&](std::size_t i) { std::uint32_t v; std::memcpy(&v, pixels.data() + 4 * i, 4); return v; }, out);
      break;
  }
  return out;
}

}  // namespace stemflow::ingest::merlin
