// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/file/file_source.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <thread>

#include "ingest/npy.hpp"

namespace stemflow::ingest {

namespace {
constexpr std::size_t kMaxNpyHeader = 1 << 20;  // .npy headers are a few hundred bytes
}  // namespace

FileSource::FileSource(BatchPool& pool, FileOptions options)
    : options_(std::move(options)), assembler_(pool) {
  const std::filesystem::path p(options_.path);
  if (options_.format.empty()) options_.format = p.extension() == ".npy" ? "npy" : "raw";
  std::error_code ec;
  const auto size = std::filesystem::file_size(p, ec);
  if (ec) throw ConfigError("input.path '" + options_.path + "': " + ec.message());

  std::uint64_t offset = options_.header_bytes;
  header_.series_id = 1;
  header_.detector = "file";
  header_.metadata["source_file"] = std::filesystem::absolute(p).string();
  if (options_.format == "npy") {
    // Parse the header without checking the data size: a truncated .npy is replayed as far as it
    // goes, and what is missing is counted, as for any other incomplete series.
    std::vector<std::byte> head(std::min<std::uintmax_t>(size, kMaxNpyHeader));
    {
      std::FILE* f = std::fopen(options_.path.c_str(), "rb");
      const bool ok = f != nullptr && std::fread(head.data(), 1, head.size(), f) == head.size();
      if (f != nullptr) std::fclose(f);
      if (!ok) throw ConfigError("input.path '" + options_.path + "': cannot read");
    }
    auto h = parse_npy_header(head, std::nullopt);
    if (!h) throw ConfigError("input.path '" + options_.path + "': " + h.error().message);
    auto dtype = dtype_from_npy_descr(h->descr);
    if (!dtype) throw ConfigError("input.path: .npy dtype " + h->descr + " is not u8/u16/u32/f32");
    header_.dtype = *dtype;
    const auto& s = h->shape;
    if (s.size() == 4) {
      header_.scan_rows = static_cast<std::uint32_t>(s[0]);
      header_.scan_cols = static_cast<std::uint32_t>(s[1]);
      header_.frame_rows = static_cast<std::uint32_t>(s[2]);
      header_.frame_cols = static_cast<std::uint32_t>(s[3]);
    } else if (s.size() == 3) {
      header_.frame_rows = static_cast<std::uint32_t>(s[1]);
      header_.frame_cols = static_cast<std::uint32_t>(s[2]);
      header_.scan_rows = options_.scan_shape[0];
      header_.scan_cols = options_.scan_shape[1];
      if (header_.scan_size() != s[0]) {
        throw ConfigError("input.path: a 3-D .npy of " + std::to_string(s[0]) +
                          " frames needs scan.shape with that many positions");
      }
    } else {
      throw ConfigError("input.path: .npy must be 4-D (Rx, Ry, Qx, Qy) or 3-D (N, Qx, Qy)");
    }
    offset = h->data_offset;
  } else if (options_.format == "raw") {
    header_.dtype = options_.dtype;
    header_.frame_rows = options_.frame_shape[0];
    header_.frame_cols = options_.frame_shape[1];
    header_.scan_rows = options_.scan_shape[0];
    header_.scan_cols = options_.scan_shape[1];
    if (header_.frame_pixels() == 0) throw ConfigError("input.frame_shape is required for raw files");
    if (header_.scan_size() == 0) throw ConfigError("scan.shape is required for raw files");
  } else {
    throw ConfigError("input.format '" + options_.format + "' is not supported");
  }
  const std::uint64_t data = size > offset ? size - offset : 0;
  frames_in_file_ = std::min<std::uint64_t>(data / header_.frame_bytes(), header_.scan_size());
  truncated_tail_ = frames_in_file_ < header_.scan_size() && data % header_.frame_bytes() != 0;
  if (frames_in_file_ < header_.scan_size()) {
    spdlog::warn("{} holds {} of the scan's {} frames{}", options_.path, frames_in_file_,
                 header_.scan_size(), truncated_tail_ ? " (it ends inside a frame)" : "");
  }
  file_.reset(std::fopen(options_.path.c_str(), "rb"));
  if (!file_ || std::fseek(file_.get(), static_cast<long>(offset), SEEK_SET) != 0) {
    throw ConfigError("input.path '" + options_.path + "': cannot open for reading");
  }
}

SourceStatus FileSource::next() {
  for (;;) {
    if (assembler_.has_ready()) return SourceStatus::kBatchReady;
    switch (state_) {
      case State::kStart:
        assembler_.start(header_);
        t0_ = std::chrono::steady_clock::now();
        state_ = State::kRunning;
        return SourceStatus::kSeriesStarted;
      case State::kRunning: {
        if (stop_requested() || next_index_ >= frames_in_file_) {
          if (!stop_requested() && truncated_tail_) {
            ++assembler_.counts().frames_received;
            assembler_.drop(DropReason::kWrongSize, "the file ends inside a frame (truncated)");
          }
          assembler_.finish(stop_requested() ? SeriesEnd::kInterrupted : SeriesEnd::kEndOfFile);
          state_ = State::kEnding;
          continue;
        }
        if (options_.rate > 0) {
          std::this_thread::sleep_until(
              t0_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                        std::chrono::duration<double>(double(next_index_) / options_.rate)));
        }
        auto dst = assembler_.reserve(next_index_);
        ++assembler_.counts().frames_received;
        if (!dst) {  // cannot happen for sequential indices; counted by reserve()
          ++next_index_;
          continue;
        }
        const std::size_t n = header_.frame_bytes();
        if (std::fread(*dst, 1, n, file_.get()) != n) {
          assembler_.drop(DropReason::kWrongSize, "read error or truncated file at frame " +
                                                      std::to_string(next_index_));
          frames_in_file_ = next_index_;  // stop here
          truncated_tail_ = false;
          continue;
        }
        assembler_.commit(next_index_, n);
        ++next_index_;
        continue;
      }
      case State::kEnding:
        state_ = State::kDone;
        return SourceStatus::kSeriesEnded;
      case State::kDone:
        return SourceStatus::kFinished;
    }
  }
}

}  // namespace stemflow::ingest
