// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/replay/replay_source.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <thread>

namespace stemflow::ingest {

ReplaySource::ReplaySource(BatchPool& pool, ReplayOptions options)
    : options_(std::move(options)),
      reader_(open_frame_reader(options_.path, options_.format, options_.raw)),
      assembler_(pool),
      queue_(options_.read_ahead) {
  deferred_ = options_.read_on_workers && reader_->concurrent();
  const FileInfo& info = reader_->info();
  options_.format = info.format;
  header_.series_id = 1;
  header_.frame_rows = info.frame_rows;
  header_.frame_cols = info.frame_cols;
  header_.dtype = info.dtype;
  header_.detector = "file:" + info.format;
  header_.metadata = info.metadata;
  header_.metadata["source_file"] = std::filesystem::absolute(options_.path).string();
  header_.metadata["format"] = info.format;
  header_.metadata["compression"] = info.compression;
  const auto& cfg = options_.scan_shape;
  if (info.scan_shape[0] != 0) {
    header_.scan_rows = info.scan_shape[0];
    header_.scan_cols = info.scan_shape[1];
    if (cfg[0] != 0 && (cfg[0] != info.scan_shape[0] || cfg[1] != info.scan_shape[1])) {
      spdlog::warn("{} records a {}x{} scan; scan.shape {}x{} is ignored",
                   options_.path,
                   info.scan_shape[0],
                   info.scan_shape[1],
                   cfg[0],
                   cfg[1]);
    }
  } else if (cfg[0] != 0) {
    header_.scan_rows = cfg[0];
    header_.scan_cols = cfg[1];
  } else if (info.format == "raw") {
    throw ConfigError("'" + options_.path + "': a raw file needs scan.shape");
  } else {
    spdlog::warn("{} records no scan shape and scan.shape is not set: replaying it as 1 x {}",
                 options_.path,
                 info.frames);
    header_.scan_rows = 1;
    header_.scan_cols = static_cast<std::uint32_t>(info.frames);
  }
  if (header_.scan_size() == 0 || header_.frame_pixels() == 0) {
    throw ConfigError("'" + options_.path + "' holds no frames");
  }
  frames_ = std::min<std::uint64_t>(info.frames, header_.scan_size());
  if (info.frames != header_.scan_size()) {
    spdlog::warn(
        "{} holds {} frames for a scan of {}: {}",
        options_.path,
        info.frames,
        header_.scan_size(),
        info.frames < header_.scan_size() ? "the rest are missing" : "the rest are ignored");
  }
  if (options_.shares > 1) {
    // Whole scan rows per process: row boundaries fall on frame boundaries of every format, and a
    // DECTRIS data file chunks by frame, so a share reads whole chunks and nothing of the others'.
    const std::uint64_t rows = header_.scan_rows, cols = header_.scan_cols;
    const std::uint64_t k = options_.share_index, n = options_.shares;
    next_ = std::min(frames_, rows * k / n * cols);
    frames_ = std::min(frames_, rows * (k + 1) / n * cols);
  }
}

std::string ReplaySource::describe() const {
  std::string d = options_.format + " file " + options_.path;
  if (options_.shares > 1) {
    d += " (share " + std::to_string(options_.share_index + 1) + " of " +
         std::to_string(options_.shares) + ": frames " + std::to_string(next_) + ".." +
         std::to_string(frames_) + ")";
  }
  return d;
}

std::chrono::steady_clock::time_point ReplaySource::due(std::uint64_t i) const {
  return t0_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                   std::chrono::duration<double>(double(i) / options_.rate));
}

FrameBatch* ReplaySource::take_batch() {
  FrameBatch* b = queue_.fix_batch(assembler_.take_ready());
  if (b != nullptr && deferred_) b->fill = this;
  return b;
}

void ReplaySource::fill(FrameBatch& b) {
  // Each frame is read straight to its place in the compacted batch: a frame that fails leaves
  // no gap to close.
  std::uint32_t kept = 0;
  for (std::uint32_t i = 0; i < b.count; ++i) {
    const std::uint64_t index = b.index[i];
    auto r = reader_->read_frame(
        index, {reinterpret_cast<std::uint8_t*>(b.frame_data(kept)), b.frame_bytes});
    if (!r) {
      std::lock_guard lock(failed_mutex_);
      failed_.emplace_back(drop_reason_of(r.error()),
                           "frame " + std::to_string(index) + ": " + r.error().message);
      continue;
    }
    b.index[kept++] = index;
  }
  b.count = kept;
}

void ReplaySource::settle() {
  std::vector<std::pair<DropReason, std::string>> failed;
  {
    std::lock_guard lock(failed_mutex_);
    failed.swap(failed_);
  }
  for (const auto& [reason, detail] : failed) {
    assembler_.drop_committed(reason, detail, header_.frame_bytes());
  }
}

SourceStatus ReplaySource::next() {
  settle();  // the workers' failed reads so far, for the live counts
  const std::size_t fb = header_.frame_bytes();
  for (;;) {
    if (assembler_.has_ready()) return SourceStatus::kBatchReady;
    switch (state_) {
      case State::kStart:
        assembler_.start(header_);
        t0_ = std::chrono::steady_clock::now();
        state_ = State::kRunning;
        return SourceStatus::kSeriesStarted;
      case State::kRunning: {
        if (stop_requested() || next_ >= frames_) {
          if (!queue_.empty()) {
            queue_.assemble(assembler_, fb);
            continue;
          }
          assembler_.finish(stop_requested() ? SeriesEnd::kInterrupted : SeriesEnd::kEndOfFile);
          state_ = State::kEnding;
          continue;
        }
        if (options_.rate > 0 && std::chrono::steady_clock::now() < due(next_)) {
          // Frames read so far are due now: decode them before waiting for the next one.
          if (!queue_.empty()) {
            queue_.assemble(assembler_, fb);
            continue;
          }
          std::this_thread::sleep_until(due(next_));
        }
        if (reader_->encoded()) {
          if (queue_.full()) {
            queue_.assemble(assembler_, fb);
            continue;
          }
          ++assembler_.counts().frames_received;
          auto& f = queue_.push();
          auto r = reader_->read_encoded(next_, f.buffer);
          if (!r) {
            queue_.pop_back();
            assembler_.drop(drop_reason_of(r.error()), r.error().message);
          } else {
            f.index = next_;
            f.codec = r->first;
            f.elem_size = r->second;
            f.data = f.buffer;
          }
          ++next_;
          continue;
        }
        ++assembler_.counts().frames_received;
        auto dst = assembler_.reserve(next_);
        if (dst && deferred_) {
          assembler_.commit(next_, fb);  // read by fill(), on a worker
        } else if (dst) {
          auto r = reader_->read_frame(next_, {reinterpret_cast<std::uint8_t*>(*dst), fb});
          if (r) {
            assembler_.commit(next_, fb);
          } else {
            assembler_.drop(drop_reason_of(r.error()),
                            "frame " + std::to_string(next_) + ": " + r.error().message);
          }
        }
        ++next_;
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
