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
#include <memory>
#include <optional>
#include <string_view>

#include "ingest/drop_log.hpp"
#include "ingest/series_assembler.hpp"
#include "ingest/source.hpp"
#include "pipeline/core/series_peers.hpp"

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
  //! `peers`: the other receivers of an MPI job on the same sender (null for a receiver of its
  //! own). Starts and complete ends this receiver gets are announced to them, theirs start and end
  //! series here, and frames that arrive before the start another receiver got are held.
  Receiver(BatchPool& pool, ReceiverTiming timing, std::shared_ptr<SeriesPeers> peers = nullptr)
      : timing_(timing), assembler_(pool), peers_(std::move(peers)) {
    assembler_.set_shared_sender(peers_ != nullptr);
  }

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
  //! A message of a later series (its start, or a frame) arrived on this receiver's socket during
  //! the current series. Alone, the series was restarted. With peers, the sender has moved on and
  //! this receiver's share of the series is complete: it ends as complete once the end another
  //! receiver got is known (waiting for it up to kAwaitPeerEnd), else as restarted.
  void close_for_new_series(std::string_view by);
  bool has_peers() const { return peers_ != nullptr; }
  //! A frame arrived outside any series while other receivers share the sender: its start may be
  //! on its way from another receiver. The protocol then keeps the frame (up to kMaxEarlyFrames)
  //! and places it from resume_held() once the series is active; held longer than the series
  //! timeout without a start, it drops it (early_frames_expired()).
  bool may_hold_early_frame(std::size_t held) const {
    return peers_ && !assembler_.active() && held < kMaxEarlyFrames;
  }
  bool early_frames_expired(std::chrono::steady_clock::time_point since) const {
    return std::chrono::steady_clock::now() - since > timing_.series_timeout;
  }
  static constexpr std::size_t kMaxEarlyFrames = 1024;

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
  // Another receiver got the end: what is still on its way to this one arrives within moments
  // (the sender sent it before the end); the series ends here once the socket has been quiet for
  // kPeerEndQuiet.
  static constexpr std::chrono::milliseconds kPeerEndQuiet{250};
  static constexpr std::chrono::milliseconds kAwaitPeerEnd{2000};
  bool poll_peers();
  bool handle_peer_event(const SeriesPeers::Event& e);
  std::deque<SeriesPeers::Event> peer_backlog_;  // events read while waiting for an end
  void end_series_here(SeriesEnd how);
  std::shared_ptr<SeriesPeers> peers_;
  std::optional<std::chrono::steady_clock::time_point> peer_end_;
};

}  // namespace stemflow::ingest
