// SPDX-License-Identifier: GPL-3.0-or-later
// The bookkeeping every source shares: the current series, its counters and coverage, and the batch
// being filled. A frame is checked (series, index range, duplicate), given a place in a batch slot,
// filled by the source (straight from the socket or file), then committed.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "ingest/drop_log.hpp"
#include "pipeline/core/batch_pool.hpp"
#include "pipeline/core/expected.hpp"
#include "pipeline/core/series.hpp"

namespace stemflow::ingest {

//! True when the received positions look dealt out among several receivers: most of the scan
//! missing and most received frames without a received neighbour.
bool looks_interleaved(const std::vector<std::uint8_t>& seen);

class SeriesAssembler {
 public:
  explicit SeriesAssembler(BatchPool& pool) : pool_(pool) {}

  //! Starts a series (the previous one must have been finished).
  void start(const SeriesHeader& header);
  bool active() const { return active_; }
  //! Every further frame of this series is dropped as series_rejected.
  void reject() { rejected_ = true; }
  //! True when the series was refused (by the pool's admission at start, or by reject()).
  bool rejected() const { return rejected_; }
  const SeriesHeader& header() const { return header_; }
  SeriesCounts& counts() { return counts_; }
  const SeriesCounts& counts() const { return counts_; }

  //! Checks frame `index` of the current series and returns where its pixels go (frame_bytes bytes
  //! in a batch slot). Waits for a free slot if needed. On error the drop is already counted.
  Expected<std::byte*> reserve(std::uint64_t index);
  //! The pixels written at the reserved place are valid: the frame joins the batch.
  void commit(std::uint64_t index, std::size_t bytes);
  //! Counts a drop (the frame never reached a batch).
  void drop(DropReason reason, std::string_view detail) { log_.record(counts_, reason, detail); }
  //! Counts a drop of a frame committed (`bytes` of it) and then lost before the operators saw it
  //! (its decoding or its read failed): it leaves the accepted counts, which its batch leaves too.
  void drop_committed(DropReason reason, std::string_view detail, std::size_t bytes) {
    --counts_.frames_accepted;
    counts_.bytes_received -= bytes;
    drop(reason, detail);
  }

  //! A batch ready for the graph (a full one, or one moved there by flush()), or nullptr.
  FrameBatch* take_ready();
  bool has_ready() const { return n_ready_ > 0; }
  //! Moves a partial batch to ready. Returns false if there was nothing to flush.
  bool flush();
  //! Age of the oldest frame in the batch being filled (zero if none).
  std::chrono::steady_clock::duration pending_age() const;
  //! The two clocks of a live series, checked while the source is idle: a partial batch older than
  //! `batch_timeout` is flushed (latency on slow scans); true (after logging why) when nothing has
  //! arrived for `series_timeout`: the caller then ends the series as kTimeout, its own way.
  bool silent_too_long(std::chrono::steady_clock::time_point last_message,
                       std::chrono::milliseconds series_timeout,
                       std::chrono::milliseconds batch_timeout);
  //! Ends the series: flushes, records how it ended. take_ready() may still return the last batch.
  void finish(SeriesEnd how);
  //! The sender is shared on purpose (the ranks of an MPI job each receive a dealt share): do
  //! not take the interleaved frames for a second engine.
  void set_shared_sender(bool shared) { shared_sender_ = shared; }

 private:
  bool shared_sender_ = false;
  void push_ready();

  BatchPool& pool_;
  SeriesHeader header_;
  SeriesCounts counts_;
  std::vector<std::uint8_t> seen_;  // coverage: one byte per scan position (a reduced result)
  FrameBatch* filling_ = nullptr;
  // At most a full batch and the partial one flushed after it wait here, in order.
  std::array<FrameBatch*, 2> ready_{};
  std::size_t n_ready_ = 0;
  bool active_ = false;
  bool rejected_ = false;
  DropLog log_;
};

}  // namespace stemflow::ingest
