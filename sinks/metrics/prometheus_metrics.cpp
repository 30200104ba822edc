// SPDX-License-Identifier: GPL-3.0-or-later
#include "sinks/metrics/prometheus_metrics.hpp"

#include <chrono>

namespace stemflow::sinks {

namespace {
constexpr std::array<const char*, std::size_t(Edge::kCount)> kEdgeNames = {
    "compute", "order", "sink"};

// Batches take 10 us (virtual images of small frames) to seconds (multicorr of large ones).
prometheus::Histogram::BucketBoundaries duration_buckets() {
  return {1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0};
}
}  // namespace

PrometheusMetrics::PrometheusMetrics(const std::string& listen,
                                     const std::vector<std::string>& operators,
                                     const std::string& device,
                                     const std::map<std::string, std::string>& constant)
    : registry_(std::make_shared<prometheus::Registry>()) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(listen);
  } catch (const std::exception& e) {
    throw ConfigError("outputs.metrics.listen '" + listen + "': cannot serve: " + e.what());
  }
  using prometheus::BuildCounter;
  using prometheus::BuildGauge;
  using prometheus::BuildHistogram;
  auto& r = *registry_;
  received_ = &BuildCounter()
                   .Name("stemflow_frames_received_total")
                   .Help("Frame messages received, valid or not")
                   .Labels(constant)
                   .Register(r)
                   .Add({});
  processed_ = &BuildCounter()
                    .Name("stemflow_frames_processed_total")
                    .Help("Frames whose results reached the result store")
                    .Labels(constant)
                    .Register(r)
                    .Add({});
  bytes_ = &BuildCounter()
                .Name("stemflow_received_bytes_total")
                .Help("Pixel bytes of the frames accepted into batches")
                .Labels(constant)
                .Register(r)
                .Add({});
  batches_ = &BuildCounter()
                  .Name("stemflow_batches_total")
                  .Help("Batches that went through the graph")
                  .Labels(constant)
                  .Register(r)
                  .Add({});
  auto& dropped = BuildCounter()
                      .Name("stemflow_frames_dropped_total")
                      .Help("Frames received but not in the results, by reason")
                      .Labels(constant)
                      .Register(r);
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    dropped_[i] =
        &dropped.Add({{"reason", std::string(drop_reason_name(static_cast<DropReason>(i)))}});
  }
  auto& outside = BuildCounter()
                      .Name("stemflow_messages_outside_series_total")
                      .Help(
                          "Messages that belonged to no current series (also counted in "
                          "stemflow_frames_dropped_total), by reason")
                      .Labels(constant)
                      .Register(r);
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    outside_[i] =
        &outside.Add({{"reason", std::string(drop_reason_name(static_cast<DropReason>(i)))}});
  }
  series_total_ = &BuildCounter()
                       .Name("stemflow_series_total")
                       .Help("Series ended, by how they ended")
                       .Labels(constant)
                       .Register(r);
  series_active_ = &BuildGauge()
                        .Name("stemflow_series_active")
                        .Help("1 while a series is being received")
                        .Labels(constant)
                        .Register(r)
                        .Add({});
  auto& depth = BuildGauge()
                    .Name("stemflow_queue_depth")
                    .Help("Batches queued at or in a flow-graph node")
                    .Labels(constant)
                    .Register(r);
  auto& hw = BuildGauge()
                 .Name("stemflow_queue_high_water")
                 .Help("Highest queue depth seen this series")
                 .Labels(constant)
                 .Register(r);
  auto& cap = BuildGauge()
                  .Name("stemflow_queue_capacity")
                  .Help("Batches a queue can hold (the pool's slots bound every edge)")
                  .Labels(constant)
                  .Register(r);
  for (std::size_t e = 0; e < kEdgeNames.size(); ++e) {
    depth_[e] = &depth.Add({{"edge", kEdgeNames[e]}});
    high_water_[e] = &hw.Add({{"edge", kEdgeNames[e]}});
    capacity_[e] = &cap.Add({{"edge", kEdgeNames[e]}});
  }
  pool_in_use_ = &BuildGauge()
                      .Name("stemflow_pool_slots_in_use")
                      .Help("Batch slots taken (filling, in the graph)")
                      .Labels(constant)
                      .Register(r)
                      .Add({});
  pool_slots_ = &BuildGauge()
                     .Name("stemflow_pool_slots")
                     .Help("Batch slots of the pool this series")
                     .Labels(constant)
                     .Register(r)
                     .Add({});
  pool_bytes_ = &BuildGauge()
                     .Name("stemflow_pool_bytes")
                     .Help("Bytes of the batch pool (pipeline.memory_limit)")
                     .Labels(constant)
                     .Register(r)
                     .Add({});
  auto& dur = BuildHistogram()
                  .Name("stemflow_operator_batch_duration_seconds")
                  .Help("Time an operator took for one batch")
                  .Labels(constant)
                  .Register(r);
  auto& busy = BuildCounter()
                   .Name("stemflow_operator_busy_seconds_total")
                   .Help("Time spent in each operator, summed over batches")
                   .Labels(constant)
                   .Register(r);
  for (const auto& op : operators) {
    op_duration_.push_back(&dur.Add({{"operator", op}}, duration_buckets()));
    op_busy_.push_back(&busy.Add({{"operator", op}, {"device", device}}));
  }
  latency_ = &BuildHistogram()
                  .Name("stemflow_end_to_end_latency_seconds")
                  .Help("From a batch's first frame arriving to its results in the store")
                  .Labels(constant)
                  .Register(r)
                  .Add({}, duration_buckets());
  exposer_->RegisterCollectable(registry_);
}

PrometheusMetrics::~PrometheusMetrics() = default;

int PrometheusMetrics::port() const {
  const auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? -1 : ports.front();
}

void PrometheusMetrics::series_started(const ResultStore&, const Provenance&) {
  last_ = SeriesCounts{};
  failed_seen_ = 0;
  series_active_->Set(1);
  for (std::size_t e = 0; e < high_water_.size(); ++e) high_water_[e]->Set(0);
}

void PrometheusMetrics::batch_done(const FrameBatch& batch, const ResultStore& store) {
  processed_->Increment(batch.count);
  batches_->Increment();
  const std::uint64_t failed = store.frames_failed();
  if (failed > failed_seen_) {
    dropped_[std::size_t(DropReason::kOperatorError)]->Increment(double(failed - failed_seen_));
    failed_seen_ = failed;
  }
  latency_->Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - batch.first_arrival)
          .count());
}

Expected<std::string> PrometheusMetrics::series_ended(const ResultStore&, const Provenance& prov) {
  series_counts(prov.counts);
  series_total_->Add({{"end", std::string(series_end_name(prov.counts.end))}}).Increment();
  series_active_->Set(0);
  return std::string("metrics");
}

void PrometheusMetrics::series_counts(const SeriesCounts& c) {
  // Counters only go up; within a series the source's counts only go up too.
  if (c.frames_received > last_.frames_received) {
    received_->Increment(double(c.frames_received - last_.frames_received));
  }
  if (c.bytes_received > last_.bytes_received) {
    bytes_->Increment(double(c.bytes_received - last_.bytes_received));
  }
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    if (c.dropped[i] > last_.dropped[i])
      dropped_[i]->Increment(double(c.dropped[i] - last_.dropped[i]));
  }
  last_ = c;
}

void PrometheusMetrics::outside_counts(const SeriesCounts& c) {
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    if (c.dropped[i] > outside_last_.dropped[i]) {
      const double d = double(c.dropped[i] - outside_last_.dropped[i]);
      dropped_[i]->Increment(d);
      outside_[i]->Increment(d);
    }
  }
  outside_last_ = c;
}

void PrometheusMetrics::source_counts(const SeriesCounts& series,
                                      bool in_series,
                                      const SeriesCounts& outside) {
  if (in_series) series_counts(series);
  outside_counts(outside);
}

void PrometheusMetrics::series_refused(const SeriesHeader&, std::string_view) {
  // The engine refused the series before any sink saw it: its frames (all dropped as
  // series_rejected) are counted from zero, and the series ends as "rejected".
  last_ = SeriesCounts{};
  series_total_->Add({{"end", "rejected"}}).Increment();
}

void PrometheusMetrics::operator_batch(std::size_t op, double seconds) {
  op_duration_[op]->Observe(seconds);
  op_busy_[op]->Increment(seconds);
}

void PrometheusMetrics::edge_enter(Edge e) {
  const auto i = std::size_t(e);
  const int d = ++depth_value_[i];
  depth_[i]->Set(d);
  if (d > high_water_[i]->Value()) high_water_[i]->Set(d);
}

void PrometheusMetrics::edge_leave(Edge e) {
  const auto i = std::size_t(e);
  depth_[i]->Set(--depth_value_[i]);
}

void PrometheusMetrics::pool(std::size_t in_use, std::size_t slots, std::size_t bytes) {
  pool_in_use_->Set(double(in_use));
  pool_slots_->Set(double(slots));
  pool_bytes_->Set(double(bytes));
  for (auto* c : capacity_) c->Set(double(slots));
}

}  // namespace stemflow::sinks
