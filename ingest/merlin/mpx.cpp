// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/merlin/mpx.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace stemflow::ingest::merlin {

namespace {

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

// ---- Raw (R64) decoding ----------------------------------------------------------------------
// Raw pixel data is a sequence of 64-bit words (the "swap" decoders of LiberTEM io/dataset/mib.py,
// LiberTEM-rs libertem_qd_mpx decoder.rs R1/R6/R12):
//   1 bit:  a big-endian u64 per 64 pixels, pixel k = bit k;
//   6 bit:  a byte per pixel, in reverse order within each word;
//   12 bit: a big-endian u16 per pixel, in reverse order within each word.
// Each function below decodes `n` pixels (a multiple of 64) that are contiguous in the raw data
// into `out`, or, with kFlip, into out[n - 1 - i] (quadrants 3 and 4 of a quad are mirrored).
// The host is little-endian (the decoded frame is little-endian and written through memcpy).
static_assert(std::endian::native == std::endian::little,
              "the Merlin decoders assume a little-endian host");

// For each byte value, its 8 bits as 8 pixel bytes (bit 0 first), and in reverse (bit 7 first).
constexpr std::array<std::uint64_t, 256> bit_expansion(bool reverse) {
  std::array<std::uint64_t, 256> t{};
  for (std::uint32_t b = 0; b < 256; ++b) {
    for (std::uint32_t j = 0; j < 8; ++j) {
      const std::uint32_t bit = reverse ? 7 - j : j;
      t[b] |= std::uint64_t{(b >> bit) & 1u} << (8 * j);
    }
  }
  return t;
}
constexpr auto kBits = bit_expansion(false);
constexpr auto kBitsReversed = bit_expansion(true);

// 1 bit: byte 7 - b of a word holds pixels 8b..8b+7 of its 64.
template <bool kFlip>
void raw1_run(const std::uint8_t* in, std::uint8_t* out, std::size_t n) {
  for (std::size_t w = 0; w < n / 64; ++w) {
    for (std::size_t b = 0; b < 8; ++b) {
      const std::uint8_t byte = in[8 * w + 7 - b];
      const std::size_t first = 64 * w + 8 * b;  // the first of its 8 pixels
      if constexpr (kFlip) {
        std::memcpy(out + n - 8 - first, &kBitsReversed[byte], 8);
      } else {
        std::memcpy(out + first, &kBits[byte], 8);
      }
    }
  }
}

// 6 bit: pixel k of a word is its byte 7 - k; mirrored, the word's bytes are already in order.
template <bool kFlip>
void raw6_run(const std::uint8_t* in, std::uint8_t* out, std::size_t n) {
  for (std::size_t w = 0; w < n / 8; ++w) {
    std::uint64_t v;
    std::memcpy(&v, in + 8 * w, 8);
    if constexpr (kFlip) {
      std::memcpy(out + n - 8 - 8 * w, &v, 8);
    } else {
      v = __builtin_bswap64(v);
      std::memcpy(out + 8 * w, &v, 8);
    }
  }
}

// 12 bit: pixel k of a word is its big-endian u16 number 3 - k, masked to 12 bits and shifted left
// by `shift` (24 bit: 12 for the high half); kOr adds it to what `out` holds (the low half).
template <class OutT, bool kFlip, bool kOr>
void raw12_run(const std::uint8_t* in, OutT* out, std::size_t n, unsigned shift) {
  for (std::size_t w = 0; w < n / 4; ++w) {
    const std::uint8_t* p = in + 8 * w;
    OutT* o = kFlip ? out + n - 4 - 4 * w : out + 4 * w;
    for (std::size_t k = 0; k < 4; ++k) {
      const auto v = static_cast<OutT>(static_cast<OutT>(be16(p + 2 * k) & 0x0FFF) << shift);
      OutT& dst = o[kFlip ? k : 3 - k];
      if constexpr (kOr) {
        dst = static_cast<OutT>(dst | v);
      } else {
        dst = v;
      }
    }
  }
}

// Calls run(raw_px, frame_px, n, flip) for every run of n pixels that is contiguous both in (one
// 12-bit half of) the raw data, from raw pixel raw_px, and in the decoded frame, from pixel
// frame_px (mirrored if flip). One chip: one run. A quad: four per raw row, [Q4 | Q3 | Q2 | Q1]
// (LiberTEM mib.py `_mib_2x2_tile_block`, LiberTEM-rs `decode_2x2_raw`).
template <class RunFn>
void for_each_raw_run(const FrameHeader& h, RunFn&& run) {
  if (h.chip_layout == ChipLayout::kSingle) {
    run(std::size_t{0}, std::size_t{0}, std::size_t{h.width} * h.height, false);
    return;
  }
  const std::size_t w = h.width;
  const std::size_t right = kChipPixels + (w - 2 * kChipPixels);  // first column of Q2 and Q4
  for (std::size_t r = 0; r < kChipPixels; ++r) {
    const std::size_t raw = r * 4 * kChipPixels;
    const std::size_t top = r * w;                                     // row r of Q1 and Q2
    const std::size_t bottom = (h.height - 1 - r) * w;                 // row 255 - r of Q3 and Q4
    run(raw + 3 * kChipPixels, top, std::size_t{kChipPixels}, false);  // Q1
    run(raw + 2 * kChipPixels, top + right, std::size_t{kChipPixels}, false);  // Q2
    run(raw + 1 * kChipPixels, bottom, std::size_t{kChipPixels}, true);        // Q3
    run(raw, bottom + right, std::size_t{kChipPixels}, true);                  // Q4
  }
}

// 2x2G: the two gap rows and columns between the chips are 0 (as LiberTEM-rs leaves them).
template <class OutT>
void zero_gaps(const FrameHeader& h, OutT* out) {
  if (h.chip_layout != ChipLayout::kQuadGap) return;
  const std::size_t w = h.width;
  std::memset(out + kChipPixels * w, 0, kGapPixels * w * sizeof(OutT));
  for (std::size_t y = 0; y < h.height; ++y) {
    std::memset(out + y * w + kChipPixels, 0, kGapPixels * sizeof(OutT));
  }
}

// Bytes of one raw pixel stream of n pixels (one 12-bit half at 24 bit).
std::size_t raw_bytes(std::uint32_t depth, std::size_t n) {
  return depth == 1 ? n / 8 : depth == 6 ? n : 2 * n;
}

Expected<void> decode_raw(const FrameHeader& h, const std::uint8_t* in, std::uint8_t* out) {
  switch (h.counter_depth) {
    case 1:
      for_each_raw_run(h, [&](std::size_t raw, std::size_t at, std::size_t k, bool flip) {
        const std::uint8_t* src = in + raw / 8;
        flip ? raw1_run<true>(src, out + at, k) : raw1_run<false>(src, out + at, k);
      });
      zero_gaps(h, out);
      return {};
    case 6:
      for_each_raw_run(h, [&](std::size_t raw, std::size_t at, std::size_t k, bool flip) {
        flip ? raw6_run<true>(in + raw, out + at, k) : raw6_run<false>(in + raw, out + at, k);
      });
      zero_gaps(h, out);
      return {};
    case 12: {
      auto* o = reinterpret_cast<std::uint16_t*>(out);
      for_each_raw_run(h, [&](std::size_t raw, std::size_t at, std::size_t k, bool flip) {
        const std::uint8_t* src = in + 2 * raw;
        flip ? raw12_run<std::uint16_t, true, false>(src, o + at, k, 0)
             : raw12_run<std::uint16_t, false, false>(src, o + at, k, 0);
      });
      zero_gaps(h, o);
      return {};
    }
    case 24: {
      // Two 12-bit raw frames: the high 12 bits, then the low (LiberTEM mib.py decode_r24_swap).
      auto* o = reinterpret_cast<std::uint32_t*>(out);
      const std::uint8_t* lo = in + h.pixel_bytes / 2;
      for_each_raw_run(h, [&](std::size_t raw, std::size_t at, std::size_t k, bool flip) {
        flip ? raw12_run<std::uint32_t, true, false>(in + 2 * raw, o + at, k, 12)
             : raw12_run<std::uint32_t, false, false>(in + 2 * raw, o + at, k, 12);
      });
      for_each_raw_run(h, [&](std::size_t raw, std::size_t at, std::size_t k, bool flip) {
        flip ? raw12_run<std::uint32_t, true, true>(lo + 2 * raw, o + at, k, 0)
             : raw12_run<std::uint32_t, false, true>(lo + 2 * raw, o + at, k, 0);
      });
      zero_gaps(h, o);
      return {};
    }
  }
  return make_drop(DropReason::kWrongDtype, "raw counter depth");
}

// ---- Raw (R64) encoding (the simulator's): the inverse of the run decoders above ---------------

// Pixel i of a run of n frame pixels from `frame` (mirrored with kFlip), clamped to `max`, counting
// the values clamped.
template <class InT, bool kFlip>
class RunPixels {
 public:
  RunPixels(const InT* frame, std::size_t n, std::uint32_t max) : frame_(frame), n_(n), max_(max) {}
  std::uint32_t operator[](std::size_t i) {
    const std::uint32_t v = frame_[kFlip ? n_ - 1 - i : i];
    clamped_ += v > max_ ? 1 : 0;
    return std::min(v, max_);
  }
  std::uint64_t clamped() const { return clamped_; }

 private:
  const InT* frame_;
  std::size_t n_;
  std::uint32_t max_;
  std::uint64_t clamped_ = 0;
};

// 1 bit: byte 7 - b of each word holds pixels 8b..8b+7 of its 64, bit 0 first.
template <class PixelsT>
void raw1_encode(PixelsT& px, std::size_t n, std::uint8_t* out) {
  for (std::size_t w = 0; w < n / 64; ++w) {
    for (std::size_t b = 0; b < 8; ++b) {
      std::uint32_t byte = 0;
      for (std::size_t p = 0; p < 8; ++p) byte |= px[64 * w + 8 * b + p] << p;
      out[8 * w + 7 - b] = static_cast<std::uint8_t>(byte);
    }
  }
}

// 6 bit: pixel k of a word is its byte 7 - k.
template <class PixelsT>
void raw6_encode(PixelsT& px, std::size_t n, std::uint8_t* out) {
  for (std::size_t w = 0; w < n / 8; ++w) {
    for (std::size_t k = 0; k < 8; ++k) {
      out[8 * w + 7 - k] = static_cast<std::uint8_t>(px[8 * w + k]);
    }
  }
}

// 12 bit: pixel k of a word is its big-endian u16 number 3 - k. k24: the high 12 bits go to `hi`,
// the low 12 to `lo` (the two 12-bit frames of a 24-bit one).
template <bool k24, class PixelsT>
void raw12_encode(PixelsT& px, std::size_t n, std::uint8_t* hi, std::uint8_t* lo) {
  const auto put = [](std::uint8_t* at, std::uint32_t v) {
    at[0] = static_cast<std::uint8_t>((v >> 8) & 0x0F);
    at[1] = static_cast<std::uint8_t>(v & 0xFF);
  };
  for (std::size_t w = 0; w < n / 4; ++w) {
    for (std::size_t k = 0; k < 4; ++k) {
      const std::uint32_t v = px[4 * w + k];
      const std::size_t at = 8 * w + 2 * (3 - k);
      if constexpr (k24) {
        put(hi + at, v >> 12);
        put(lo + at, v);
      } else {
        put(hi + at, v);
      }
    }
  }
}

template <class InT>
std::uint64_t encode_raw(const FrameHeader& h, const InT* frame, std::uint8_t* out) {
  const std::uint32_t max = (std::uint32_t{1} << h.counter_depth) - 1;
  std::uint64_t clamped = 0;
  for_each_raw_run(h, [&](std::size_t raw, std::size_t at, std::size_t n, bool flip) {
    const auto run = [&]<bool kFlip>() {
      RunPixels<InT, kFlip> px(frame + at, n, max);
      switch (h.counter_depth) {
        case 1:
          raw1_encode(px, n, out + raw / 8);
          break;
        case 6:
          raw6_encode(px, n, out + raw);
          break;
        case 12:
          raw12_encode<false>(px, n, out + 2 * raw, nullptr);
          break;
        default:
          raw12_encode<true>(px, n, out + 2 * raw, out + h.pixel_bytes / 2 + 2 * raw);
          break;
      }
      clamped += px.clamped();
    };
    if (flip) {
      run.template operator()<true>();
    } else {
      run.template operator()<false>();
    }
  });
  return clamped;
}

// The MQ1 text of a frame header, NUL-padded to `offset` bytes; one DAC block per chip.
std::string header_text(std::uint64_t sequence,
                        std::size_t offset,
                        std::uint32_t chips,
                        std::uint32_t width,
                        std::uint32_t height,
                        std::string_view type,
                        std::string_view layout,
                        std::uint32_t depth) {
  std::string s = fmt::format(
      "MQ1,{:06d},{:05d},{:02d},{:04d},{:04d},{},{:>6},{:02X},2024-01-01 00:00:00.000000,0.001000,"
      "0,0,0,1.000000E+1,0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0,"
      "0.000000E+0,0.000000E+0,",
      sequence,
      offset,
      chips,
      width,
      height,
      type,
      layout,
      (1u << chips) - 1);
  for (std::uint32_t c = 0; c < chips; ++c) {
    s += "3RX,175,511,000,000,000,000,000,000,125,255,125,125,100,100,082,100,087,030,128,004,255,"
         "129,128,176,168,511,511,";
  }
  s += fmt::format("MQ1A,2024-01-01T00:00:00.000000000Z,1000000ns,{},", depth);
  s.resize(offset, '\0');
  return s;
}

}  // namespace

Expected<std::uint64_t> parse_mpx_prefix(std::span<const std::uint8_t> p) {
  if (p.size() < kMpxPrefixBytes || std::memcmp(p.data(), "MPX,", 4) != 0 || p[14] != ',') {
    return make_drop(DropReason::kMalformed, "message does not start with MPX,<length>,");
  }
  const auto len = number<std::uint64_t>({reinterpret_cast<const char*>(p.data()) + 4, 10});
  if (!len || *len == 0 || *len > kMaxMessageBytes) {
    return make_drop(DropReason::kMalformed, "bad MPX length");
  }
  return *len - 1;  // the length counts the comma after it
}

std::string mpx_prefix(std::uint64_t payload_bytes) {
  return fmt::format("MPX,{:010d},", payload_bytes + 1);
}

Expected<AcquisitionHeader> parse_acquisition_header(std::span<const std::uint8_t> payload) {
  std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
  if (text.substr(0, 4) != "HDR,") {
    return make_drop(DropReason::kMalformed, "acquisition header without HDR,");
  }
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
  if (h.frames == 0) {
    return make_drop(DropReason::kMalformed, "acquisition header without Frames in Acquisition");
  }
  return h;
}

std::string encode_acquisition_header(std::uint64_t frames,
                                      std::uint32_t depth,
                                      std::uint32_t scan_x,
                                      std::uint32_t scan_y,
                                      std::string_view assembly) {
  std::string s = "HDR,\t\n";
  s += "Time and Date Stamp (day, mnth, yr, hr, min, s):\t01/01/2024 00:00:00\n";
  s += "Chip ID:\tW000_X0,-,-,-\n";
  s += "Chip Type (Medipix 3.0, Medipix 3.1, Medipix 3RX):\tMedipix 3RX\n";
  s += fmt::format("Assembly Size (NX1, 2X2):\t{:>6}\n", assembly);
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
  std::string_view text(reinterpret_cast<const char*>(bytes.data()),
                        std::min<std::size_t>(bytes.size(), 4096));
  if (text.substr(0, 4) != "MQ1,") {
    return make_drop(DropReason::kMalformed, "frame header without MQ1,");
  }
  std::vector<std::string_view> f;
  for (std::size_t pos = 0; pos <= text.size();) {
    std::size_t c = text.find(',', pos);
    if (c == std::string_view::npos) c = text.size();
    f.push_back(text.substr(pos, c - pos));
    pos = c + 1;
  }
  if (f.size() < 8) return make_drop(DropReason::kMalformed, "MQ1 header with fewer than 8 fields");
  FrameHeader h;
  const auto seq = number<std::uint64_t>(f[1]);
  const auto off = number<std::size_t>(f[2]);
  const auto chips = number<std::uint32_t>(f[3]);
  const auto w = number<std::uint32_t>(f[4]);
  const auto ht = number<std::uint32_t>(f[5]);
  if (!seq || !off || !chips || !w || !ht || *w == 0 || *ht == 0 || *w > 65536 || *ht > 65536 ||
      *off < 16 || *off > (1u << 20)) {
    return make_drop(DropReason::kMalformed,
                     "MQ1 header with unreadable sequence, offset or shape");
  }
  h.sequence = *seq;
  h.data_offset = *off;
  h.chips = *chips;
  h.width = h.wire_width = *w;
  h.height = h.wire_height = *ht;
  h.pixel_type = std::string(trim(f[6]));
  h.layout = std::string(trim(f[7]));
  // Counter depth: after MQ1A (extended timestamp, shutter, depth), else the last field that is
  // one.
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
    switch (h.counter_depth) {
      case 1:
      case 6:
        h.dtype = Dtype::kU8;
        break;
      case 12:
        h.dtype = Dtype::kU16;
        break;
      case 24:
        h.dtype = Dtype::kU32;
        break;
      default:
        return make_drop(DropReason::kWrongDtype,
                         "raw frame with counter depth " + std::to_string(h.counter_depth));
    }
    // 24 bit: two 12-bit frames, and the header's width counts both (LiberTEM halves it).
    if (h.counter_depth == 24) {
      if (h.width % 2 != 0) {
        return make_drop(DropReason::kWrongDtype, "24-bit raw frame of odd width");
      }
      h.width /= 2;
    }
    const std::size_t px = std::size_t{h.width} * h.height;
    if (h.chips == 1) {
      h.chip_layout = ChipLayout::kSingle;
      if (px % 64 != 0) {
        return make_drop(DropReason::kWrongDtype,
                         "raw frame whose pixel count is not a multiple of 64");
      }
    } else if (h.chips == 4 && (h.layout == "2x2" || h.layout == "2x2G")) {
      // The raw rows of the four chips (1024 x 256) are assembled into the quad's frame.
      if (px != 4 * kChipPixels * kChipPixels) {
        return make_drop(DropReason::kWrongDtype,
                         "raw 2x2 frame of " + std::to_string(h.wire_width) + " x " +
                             std::to_string(h.wire_height) + " pixels, not four 256 x 256 chips");
      }
      h.chip_layout = h.layout == "2x2G" ? ChipLayout::kQuadGap : ChipLayout::kQuad;
      const std::uint32_t side =
          2 * kChipPixels + (h.chip_layout == ChipLayout::kQuadGap ? kGapPixels : 0);
      h.width = h.height = side;
    } else {
      // Nx1 and partial quads: no peer decodes them (LiberTEM and LiberTEM-rs stop at 1x1 and 2x2).
      return make_drop(DropReason::kWrongDtype,
                       "raw (R64) frames of layout '" + h.layout + "' with " +
                           std::to_string(h.chips) + " chips are not supported (1x1, 2x2, 2x2G)");
    }
    h.pixel_bytes = raw_bytes(h.counter_depth, px) * (h.counter_depth == 24 ? 2 : 1);
  } else {
    return make_drop(DropReason::kWrongDtype, "pixel type '" + h.pixel_type + "'");
  }
  return h;
}

std::string encode_frame_header(std::uint64_t sequence,
                                std::uint32_t width,
                                std::uint32_t height,
                                Dtype dtype,
                                std::uint32_t depth) {
  constexpr std::size_t kOffset = 384;  // one chip
  const char* type = dtype == Dtype::kU8 ? "U08" : dtype == Dtype::kU16 ? "U16" : "U32";
  return header_text(sequence, kOffset, 1, width, height, type, "1x1", depth);
}

bool set_frame_sequence(std::span<char> header, std::uint64_t sequence) {
  constexpr std::size_t kFirst = 4;  // after "MQ1,"
  const std::string_view text(header.data(), header.size());
  const std::size_t end = text.find(',', kFirst);
  if (text.substr(0, kFirst) != "MQ1," || end == std::string_view::npos) return false;
  std::uint64_t limit = 1;  // 10 ^ digits
  for (std::size_t d = kFirst; d < end && limit <= sequence; ++d) limit *= 10;
  if (sequence >= limit) return false;
  for (std::size_t at = end; at-- > kFirst;) {
    header[at] = static_cast<char>('0' + sequence % 10);
    sequence /= 10;
  }
  return true;
}

std::string encode_raw_frame_header(std::uint64_t sequence,
                                    std::string_view layout,
                                    std::uint32_t depth,
                                    std::uint32_t rows,
                                    std::uint32_t cols) {
  const std::uint32_t double_width = depth == 24 ? 2 : 1;
  if (layout == "1x1") {
    if (std::size_t{rows} * cols % 64 != 0)
      throw std::invalid_argument("raw frame of a pixel count not a multiple of 64");
    return header_text(sequence, 384, 1, cols * double_width, rows, "R64", layout, depth);
  }
  const std::uint32_t side = 2 * kChipPixels + (layout == "2x2G" ? kGapPixels : 0);
  if ((layout != "2x2" && layout != "2x2G") || rows != side || cols != side) {
    throw std::invalid_argument("raw layout '" + std::string(layout) + "' of " +
                                std::to_string(rows) + " x " + std::to_string(cols));
  }
  // Four chips: raw rows of 4 x 256 pixels, 256 of them (LiberTEM-rs base_types.rs maps these to
  // 512 or 514 square).
  return header_text(
      sequence, 768, 4, 4 * kChipPixels * double_width, kChipPixels, "R64", layout, depth);
}

Expected<void> decode_pixels(const FrameHeader& h,
                             std::span<const std::uint8_t> in,
                             std::span<std::uint8_t> out) {
  if (in.size() != h.pixel_bytes) {
    return make_drop(DropReason::kWrongSize,
                     "frame of " + std::to_string(in.size()) + " pixel bytes, header says " +
                         std::to_string(h.pixel_bytes));
  }
  if (out.size() != h.frame_bytes()) return make_drop(DropReason::kWrongSize, "destination size");
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
  return decode_raw(h, in.data(), out.data());
}

void encode_pixels(Dtype dtype, std::span<const std::uint8_t> in, std::span<std::uint8_t> out) {
  const std::size_t es = dtype_size(dtype);
  for (std::size_t i = 0; i < in.size() / es; ++i) {
    for (std::size_t j = 0; j < es; ++j) out[i * es + j] = in[i * es + (es - 1 - j)];
  }
}

std::string encode_raw_pixels(std::uint32_t depth,
                              std::span<const std::uint8_t> pixels,
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
          for (std::size_t p = 0; p < 8; ++p)
            byte |= static_cast<std::uint8_t>((pixels[64 * s + 8 * b + p] & 1u) << p);
          out[(s + 1) * 8 - (b + 1)] = static_cast<char>(byte);
        }
      }
      break;
    case 6:
      out.assign(n, '\0');
      for (std::size_t g = 0; g < n / 8; ++g) {
        for (std::size_t k = 0; k < 8; ++k)
          out[8 * g + 7 - k] = static_cast<char>(pixels[8 * g + k]);
      }
      break;
    case 12:
      raw12(
          [&](std::size_t i) {
            std::uint16_t v;
            std::memcpy(&v, pixels.data() + 2 * i, 2);
            return v;
          },
          out);
      break;
    case 24:
      raw12(
          [&](std::size_t i) {
            std::uint32_t v;
            std::memcpy(&v, pixels.data() + 4 * i, 4);
            return v >> 12;
          },
          out);
      raw12(
          [&](std::size_t i) {
            std::uint32_t v;
            std::memcpy(&v, pixels.data() + 4 * i, 4);
            return v;
          },
          out);
      break;
  }
  return out;
}

std::string encode_raw_frame(const FrameHeader& h, std::span<const std::uint8_t> pixels) {
  std::string out(h.pixel_bytes, '\0');
  encode_raw_frame(h, h.dtype, pixels, {reinterpret_cast<std::uint8_t*>(out.data()), out.size()});
  return out;
}

std::uint64_t encode_raw_frame(const FrameHeader& h,
                               Dtype dtype,
                               std::span<const std::uint8_t> pixels,
                               std::span<std::uint8_t> out) {
  // Each run of pixels contiguous in the frame and in the raw data (one per chip row of a quad) is
  // encoded on its own: the 64-bit words never straddle two chip rows.
  const std::size_t n = std::size_t{h.width} * h.height;
  const bool depth_ok = h.counter_depth == 1 || h.counter_depth == 6 || h.counter_depth == 12 ||
                        h.counter_depth == 24;
  if (!h.raw || !depth_ok || dtype == Dtype::kF32 || pixels.size() != n * dtype_size(dtype) ||
      out.size() != h.pixel_bytes) {
    throw std::invalid_argument("encode_raw_frame: not a raw header, or buffers of the wrong size");
  }
  switch (dtype) {
    case Dtype::kU8:
      return encode_raw(h, pixels.data(), out.data());
    case Dtype::kU16:
      return encode_raw(h, reinterpret_cast<const std::uint16_t*>(pixels.data()), out.data());
    default:
      return encode_raw(h, reinterpret_cast<const std::uint32_t*>(pixels.data()), out.data());
  }
}

}  // namespace stemflow::ingest::merlin
