// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/merlin/mib_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace stemflow::ingest {

namespace {
constexpr std::size_t kHeaderProbe = 4096;
}

bool MibFileReader::probe(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {0};
  return in.read(magic, 4) && std::string_view(magic, 4) == "MQ1,";
}

MibFileReader::MibFileReader(const std::string& path) {
  info_.format = "mib";
  info_.path = path;
  info_.files = {path};
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw ConfigError("'" + path + "': cannot open");
  // A constructor that throws runs no destructor: without this, every file refused below kept its
  // descriptor open (a long-running `stemflow` or a test opening many ran out of descriptors).
  struct CloseOnThrow {
    int& fd;
    bool armed = true;
    ~CloseOnThrow() {
      if (armed && fd >= 0) {
        ::close(fd);
        fd = -1;
      }
    }
  } close_on_throw{fd_};
  std::vector<std::uint8_t> head(kHeaderProbe);
  const ssize_t got = ::pread(fd_, head.data(), head.size(), 0);
  if (got <= 0) throw ConfigError("'" + path + "': empty file");
  head.resize(static_cast<std::size_t>(got));
  auto h = merlin::parse_frame_header(head);
  if (!h) throw ConfigError("'" + path + "': not a Merlin .mib file: " + h.error().message);
  first_ = *h;
  stride_ = first_.data_offset + first_.pixel_bytes;
  const auto size = std::filesystem::file_size(path);
  info_.frames = size / stride_;
  info_.frame_rows = first_.height;
  info_.frame_cols = first_.width;
  info_.dtype = first_.dtype;
  info_.compression =
      first_.raw ? "raw R64 " + std::to_string(first_.counter_depth) + "-bit" : "none";
  info_.metadata["pixel_type"] = first_.pixel_type;
  info_.metadata["counter_depth"] = std::to_string(first_.counter_depth);
  info_.metadata["chips"] = std::to_string(first_.chips);
  info_.metadata["layout"] = first_.layout;
  if (first_.raw && first_.chip_layout != merlin::ChipLayout::kSingle) {
    // Raw quads: the chips' interleaved rows as stored, assembled into the frame shape above.
    info_.metadata["raw_shape"] = std::to_string(first_.wire_height) + " x " +
                                  std::to_string(first_.wire_width) + " (rows x cols, as stored)";
    info_.metadata["assembly"] = first_.chip_layout == merlin::ChipLayout::kQuadGap
                                     ? "2x2 chips with 2-pixel gaps (gap pixels 0)"
                                     : "2x2 chips";
  }
  if (size % stride_ != 0) info_.metadata["trailing_bytes"] = std::to_string(size % stride_);
  // The companion .hdr (same name) holds the acquisition header.
  auto hdr = std::filesystem::path(path).replace_extension(".hdr");
  if (std::filesystem::exists(hdr)) {
    std::ifstream in(hdr, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    auto a = merlin::parse_acquisition_header(
        {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
    if (a) {
      info_.files.push_back(hdr.string());
      for (const auto& [k, v] : a->fields) info_.metadata["hdr." + k] = v;
      if (a->scan_x && a->scan_y && std::uint64_t{*a->scan_x} * *a->scan_y == info_.frames) {
        info_.scan_shape = {*a->scan_y, *a->scan_x};  // ScanY rows of ScanX positions
      }
    }
  }
  close_on_throw.armed = false;
}

MibFileReader::~MibFileReader() {
  if (fd_ >= 0) ::close(fd_);
}

Expected<void> MibFileReader::read_frame(std::uint64_t i, std::span<std::uint8_t> dst) {
  if (i >= info_.frames) return make_drop(DropReason::kIndexOutOfRange, "frame beyond the file");
  // One buffer per thread, not per reader: the replay reads frames on several workers at once.
  thread_local std::vector<std::uint8_t> buf;
  buf.resize(stride_);
  const ssize_t got = ::pread(fd_, buf.data(), stride_, static_cast<off_t>(i * stride_));
  if (got != static_cast<ssize_t>(stride_)) return make_drop(DropReason::kWrongSize, "short read");
  auto h = merlin::parse_frame_header(buf);
  if (!h) return tl::unexpected(h.error());
  if (h->data_offset != first_.data_offset || h->pixel_bytes != first_.pixel_bytes ||
      h->dtype != first_.dtype || h->width != first_.width || h->height != first_.height) {
    return make_drop(DropReason::kWrongSize,
                     "frame " + std::to_string(i) + " differs from the first frame");
  }
  return merlin::decode_pixels(*h, {buf.data() + h->data_offset, h->pixel_bytes}, dst);
}

}  // namespace stemflow::ingest
