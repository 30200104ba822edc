// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/replay/frame_reader.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <limits>
#include <sstream>

#include "ingest/dectris/dectris_file.hpp"
#include "ingest/emd/emd_file.hpp"
#include "ingest/merlin/mib_file.hpp"
#include "ingest/npy.hpp"

namespace stemflow::ingest {

namespace {

// The longest frame side any reader accepts (as input.frame_shape for raw files).
constexpr std::uint64_t kMaxFrameSide = 65536;

// Raw and .npy: frames at a fixed offset and stride, read with pread.
class FlatFileReader final : public FrameReader {
 public:
  FlatFileReader(const std::string& path, const std::string& format, const RawLayout& raw) {
    info_.format = format;
    info_.path = path;
    info_.files = {path};
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) throw ConfigError("'" + path + "': " + ec.message());
    offset_ = raw.header_bytes;
    if (format == "npy") {
      auto h = read_npy_header(path);
      if (!h && h.error().code != "npy_truncated")
        throw ConfigError("'" + path + "': " + h.error().message);
      if (!h) {
        // Replayed as far as it goes, as the engine's .npy replay does.
        std::vector<std::byte> head(std::min<std::uintmax_t>(size, 1 << 20));
        std::FILE* f = std::fopen(path.c_str(), "rb");
        if (f == nullptr || std::fread(head.data(), 1, head.size(), f) != head.size()) {
          if (f != nullptr) std::fclose(f);
          throw ConfigError("'" + path + "': cannot read");
        }
        std::fclose(f);
        h = parse_npy_header(head, std::nullopt);
        if (!h) throw ConfigError("'" + path + "': " + h.error().message);
      }
      const auto dt = dtype_from_npy_descr(h->descr);
      if (!dt)
        throw ConfigError("'" + path + "': .npy dtype " + h->descr + " is not u8/u16/u32/f32");
      info_.dtype = *dt;
      const auto& s = h->shape;
      if (s.size() == 4) {
        info_.scan_shape = {std::uint32_t(s[0]), std::uint32_t(s[1])};
        info_.frame_rows = std::uint32_t(s[2]);
        info_.frame_cols = std::uint32_t(s[3]);
      } else if (s.size() == 3) {
        info_.frame_rows = std::uint32_t(s[1]);
        info_.frame_cols = std::uint32_t(s[2]);
      } else {
        throw ConfigError("'" + path + "': .npy must be 4-D (Rx, Ry, Qx, Qy) or 3-D (N, Qx, Qy)");
      }
      // The frame count below divides by the frame's size; a dimension beyond 32 bits would be
      // cut by the casts above.
      const bool four_d = s.size() == 4;
      for (std::size_t k = 0; k < s.size(); ++k) {
        const bool frame_axis = k + 2 >= s.size();
        if ((frame_axis && (s[k] == 0 || s[k] > kMaxFrameSide)) ||
            (four_d && !frame_axis && s[k] > std::numeric_limits<std::uint32_t>::max())) {
          throw ConfigError("'" + path + "': .npy shape axis " + std::to_string(k) + " is " +
                            std::to_string(s[k]) +
                            (frame_axis ? " (frames need 1 to 65536 pixels a side)"
                                        : " (more than 2^32 - 1 positions)"));
        }
      }
      offset_ = h->data_offset;
    } else {
      info_.dtype = raw.dtype;
      info_.frame_rows = raw.frame_shape[0];
      info_.frame_cols = raw.frame_shape[1];
      if (info_.frame_bytes() == 0) throw ConfigError("raw files need a frame shape");
    }
    // A file cut inside a frame still lists that frame: reading it gives wrong_size, so that a
    // replay counts it as dropped instead of silently leaving it out.
    const std::uint64_t data = size > offset_ ? size - offset_ : 0;
    info_.frames = (data + info_.frame_bytes() - 1) / info_.frame_bytes();
    if (data % info_.frame_bytes() != 0) {
      info_.metadata["truncated"] =
          "the file ends inside frame " + std::to_string(info_.frames - 1);
    }
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw ConfigError("'" + path + "': cannot open");
  }
  ~FlatFileReader() override {
    if (fd_ >= 0) ::close(fd_);
  }
  const FileInfo& info() const override { return info_; }
  bool concurrent() const override { return true; }  // pread, nothing shared
  Expected<void> read_frame(std::uint64_t i, std::span<std::uint8_t> dst) override {
    if (i >= info_.frames) return make_drop(DropReason::kIndexOutOfRange, "frame beyond the file");
    const std::size_t fb = info_.frame_bytes();
    if (dst.size() != fb) return make_drop(DropReason::kWrongSize, "destination size");
    const ssize_t got = ::pread(fd_, dst.data(), fb, static_cast<off_t>(offset_ + i * fb));
    if (got != static_cast<ssize_t>(fb)) {
      return make_drop(DropReason::kWrongSize,
                       "the file ends inside frame " + std::to_string(i) + " (truncated)");
    }
    return {};
  }

 private:
  FileInfo info_;
  std::uint64_t offset_ = 0;
  int fd_ = -1;
};

}  // namespace

Expected<std::pair<codecs::Codec, std::uint32_t>> FrameReader::read_encoded(
    std::uint64_t i, std::vector<std::uint8_t>& buf) {
  buf.resize(info().frame_bytes());
  auto r = read_frame(i, buf);
  if (!r) return tl::unexpected(r.error());
  return std::pair{codecs::Codec::kNone, static_cast<std::uint32_t>(dtype_size(info().dtype))};
}

std::string detect_format(const std::string& path) {
  const auto ext = std::filesystem::path(path).extension().string();
  if (ext == ".npy") return "npy";
  if (ext == ".mib" || MibFileReader::probe(path)) return "mib";
  if (ext == ".h5" || ext == ".hdf5" || ext == ".emd" || ext == ".nxs" || ext == ".py4dstem") {
    if (DectrisFileReader::probe(path)) return "dectris";
    if (EmdFileReader::probe(path)) return "emd";
  }
  return "raw";
}

std::unique_ptr<FrameReader> open_frame_reader(const std::string& path,
                                               std::string format,
                                               const RawLayout& raw) {
  if (!std::filesystem::exists(path)) throw ConfigError("'" + path + "': no such file");
  if (format.empty()) format = detect_format(path);
  if (format == "dectris") return std::make_unique<DectrisFileReader>(path);
  if (format == "emd") return std::make_unique<EmdFileReader>(path);
  if (format == "mib") return std::make_unique<MibFileReader>(path);
  if (format == "raw" || format == "npy")
    return std::make_unique<FlatFileReader>(path, format, raw);
  throw ConfigError("file format '" + format + "' is not supported (raw, npy, emd, dectris, mib)");
}

std::string describe(const FileInfo& i) {
  std::ostringstream os;
  os << "file:        " << i.path << "\n";
  os << "format:      " << i.format << "\n";
  if (i.files.size() > 1 || (i.files.size() == 1 && i.files[0] != i.path)) {
    os << "files:       ";
    for (std::size_t k = 0; k < i.files.size(); ++k)
      os << (k ? "\n             " : "") << i.files[k];
    os << "\n";
  }
  os << "frames:      " << i.frames << "\n";
  os << "frame shape: " << i.frame_rows << " x " << i.frame_cols << " (rows x cols)\n";
  os << "dtype:       " << dtype_name(i.dtype) << "\n";
  os << "compression: " << i.compression << "\n";
  if (i.scan_shape[0] != 0) {
    os << "scan shape:  " << i.scan_shape[0] << " x " << i.scan_shape[1] << " (Rx x Ry)\n";
  } else {
    os << "scan shape:  not recorded (set scan.shape)\n";
  }
  os << "frame bytes: " << i.frame_bytes() << " ("
     << fmt::format("{:.1f}", double(i.frame_bytes()) * double(i.frames) / 1e6) << " MB decoded)\n";
  if (!i.metadata.empty()) {
    os << "metadata:\n";
    for (const auto& [k, v] : i.metadata) os << "  " << k << ": " << v << "\n";
  }
  return os.str();
}

}  // namespace stemflow::ingest
