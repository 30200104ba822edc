// SPDX-License-Identifier: GPL-3.0-or-later
// What every live receiver (native, DECTRIS stream, Merlin) shares: the state machine of next() and
// the series bookkeeping around the assembler. next() hands out a ready batch first, then the
// statuses messages produced, in order (the assembler starts a series only when the engine reads
// its kSeriesStarted, after the previous series' kSeriesEnded), then receives; when nothing comes
// it checks the series' clocks and says kIdle. A protocol supplies how to receive and handle one
// message and what work it holds between messages, and calls the helpers below from its handlers.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string_view>

#include "ingest/drop_log.hpp"
#include "ingest/series_assembler.hpp"
#include "ingest/source.hpp"

namespace stemflow::ingest {

//! The clocks of a receiver (each protocol's options carry them under these names).
struct ReceiverTiming {
  std::chrono::milliseconds series_timeout;  // silence that ends a series as kTimeout
  std::chrono::milliseconds batch_timeout;   // age at which a partial batch is handed out
  std::chrono::milliseconds poll_interval;   // longest wait for a message before kIdle
  std::chrono::milliseconds drain_limit;     // on stop: read what has arrived for at most this
};

template <class Options>
ReceiverTiming timing_of(const Options& o) {
  return {o.series_timeout, o.batch_timeout, o.poll_interval, o.drain_limit};
}

class Receiver : public Source {
 public:
  SourceStatus next() final;
  const SeriesHeader& header() const override { return assembler_.header(); }
  FrameBatch* take_batch() override { return assembler_.take_ready(); }
  const SeriesCounts& counts() const override { return assembler_.counts(); }
  void reject_series() override { assembler_.reject(); }
  //! Messages that belonged to no series (before any start, or after an end), by reason.
  const SeriesCounts& outside_counts() const override { return outside_; }

 protected:
  Receiver(BatchPool& pool, ReceiverTiming timing) : timing_(timing), assembler_(pool) {}

  // The protocol's part, called by next() only.

  //! Receives and handles at most one message, waiting up to `wait` for one to arrive. True when
  //! something was done (next() then looks again), false when nothing came.
  virtual bool receive(std::chrono::milliseconds wait) = 0;
  //! After a stop: the same for a message that has already arrived (never waits).
  virtual bool receive_queued() { return receive(std::chrono::milliseconds(0)); }
  //! Work held back from an earlier message (one that must wait for what came before it); true if
  //! some was done. Runs before anything else is received, stop or not.
  virtual bool resume_held() { return false; }
  //! Frames received but not yet in a batch, when nothing more is to be received now (idle, or
  //! stopping): places some and returns true, or false when there are none.
  virtual bool place_pending() { return false; }
  //! The assembler has just started the series of the kSeriesStarted being returned.
  virtual void on_series_started() {}

  // For the protocol's handlers.

  SeriesAssembler& assembler() { return assembler_; }
  const SeriesAssembler& assembler() const { return assembler_; }
  //! A message arrived: the series timeout counts from the last one.
  void message_arrived() { last_message_ = std::chrono::steady_clock::now(); }
  //! Counts a dropped message: in the current series, or outside any when there is none.
  void count_drop(DropReason reason, std::string_view detail);
  //! A message that could not be decoded: during a series it counts as a received frame too.
  void count_undecodable(DropReason reason, std::string_view detail);
  //! An end message that ends no current series: counted outside (wrong_series during a series,
  //! no_series between series).
  void count_stray_end(std::uint64_t series_id);
  //! False, after counting it as malformed, for a start with an empty scan or frame shape.
  bool usable_start(const SeriesHeader& header);
  //! `header` starts a series once the engine has taken everything before it.
  void start_series(const SeriesHeader& header);
  //! Ends the current series `how`; the engine learns it after the last batch.
  void end_series(SeriesEnd how);
  //! Ends the current series as restarted by `by` ("series 7", "a new acquisition"), logging it.
  void restart_series(std::string_view by);

 private:
  ReceiverTiming timing_;
  SeriesAssembler assembler_;
  std::deque<SourceStatus> pending_;
  std::optional<SeriesHeader> next_header_;
  SeriesCounts outside_;
  DropLog outside_log_;
  std::chrono::steady_clock::time_point last_message_{};
  std::optional<std::chrono::steady_clock::time_point> drain_started_;
  bool finished_ = false;
};

}  // namespace stemflow::ingest
