// SPDX-License-Identifier: GPL-3.0-or-later
// Prometheus metrics (prometheus-cpp, served on outputs.metrics.listen at /metrics). A lossy sink:
// every update is an atomic increment or set; scraping never touches the pipeline.
//
//   stemflow_frames_received_total, stemflow_frames_processed_total, stemflow_received_bytes_total
//   stemflow_frames_dropped_total{reason} (inside a series or not)
//   stemflow_messages_outside_series_total{reason} (the part of it that belonged to no series)
//   stemflow_batches_total, stemflow_series_total{end} (end: how it ended, or "rejected"),
//   stemflow_series_active
//   stemflow_queue_depth{edge}, stemflow_queue_high_water{edge}, stemflow_queue_capacity{edge}
//   stemflow_pool_slots_in_use, stemflow_pool_slots, stemflow_pool_bytes
//   stemflow_operator_batch_duration_seconds{operator} (histogram)
//   stemflow_operator_busy_seconds_total{operator,device}
//   stemflow_end_to_end_latency_seconds (histogram: frame arrival to its results in the store)
#pragma once

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/core/observer.hpp"

namespace stemflow::sinks {

class PrometheusMetrics final : public Observer {
 public:
  //! Starts serving on `listen` ("host:port"); throws ConfigError if it cannot bind. `constant`
  //! labels go on every series (an MPI job's `rank`).
  PrometheusMetrics(const std::string& listen,
                    const std::vector<std::string>& operators,
                    const std::string& device,
                    const std::map<std::string, std::string>& constant = {});
  ~PrometheusMetrics() override;

  std::string_view name() const override { return "metrics"; }
  void series_started(const ResultStore& store, const Provenance& prov) override;
  void batch_done(const FrameBatch& batch, const ResultStore& store) override;
  Expected<std::string> series_ended(const ResultStore& store, const Provenance& prov) override;

  void series_refused(const SeriesHeader& series, std::string_view why) override;
  void source_counts(const SeriesCounts& series,
                     bool in_series,
                     const SeriesCounts& outside) override;
  void operator_batch(std::size_t op, double seconds) override;
  void edge_enter(Edge e) override;
  void edge_leave(Edge e) override;
  void pool(std::size_t in_use, std::size_t slots, std::size_t bytes) override;

  //! The port actually bound (useful with port 0).
  int port() const;

 private:
  //! The current series' counters; the totals move by the difference since the last call.
  void series_counts(const SeriesCounts& counts);
  //! Messages outside any series (cumulative over the run).
  void outside_counts(const SeriesCounts& counts);

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  prometheus::Counter* received_;
  prometheus::Counter* processed_;
  prometheus::Counter* bytes_;
  prometheus::Counter* batches_;
  std::array<prometheus::Counter*, kDropReasonCount> dropped_{};
  std::array<prometheus::Counter*, kDropReasonCount> outside_{};
  prometheus::Family<prometheus::Counter>* series_total_;
  prometheus::Gauge* series_active_;
  std::array<prometheus::Gauge*, std::size_t(Edge::kCount)> depth_{};
  std::array<prometheus::Gauge*, std::size_t(Edge::kCount)> high_water_{};
  std::array<prometheus::Gauge*, std::size_t(Edge::kCount)> capacity_{};
  std::array<std::atomic<int>, std::size_t(Edge::kCount)> depth_value_{};
  prometheus::Gauge* pool_in_use_;
  prometheus::Gauge* pool_slots_;
  prometheus::Gauge* pool_bytes_;
  std::vector<prometheus::Histogram*> op_duration_;
  std::vector<prometheus::Counter*> op_busy_;
  prometheus::Histogram* latency_;
  SeriesCounts last_{};
  SeriesCounts outside_last_{};  // what source_counts() last saw, this series
  std::uint64_t failed_seen_ = 0;
};

}  // namespace stemflow::sinks
