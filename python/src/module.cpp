// SPDX-License-Identifier: GPL-3.0-or-later
// stemflow._core: the engine for Python (nanobind). A Run builds the engine from a configuration
// (make_plan, as `stemflow run` does), optionally over a caller's 4-D array (a MemorySource in
// place of the configured input), and runs it on a thread of its own with the GIL released. Python
// watches it through an Observer (LiveObserver): on the sink node it copies each batch's values
// into its own maps under its lock, so that progress() and snapshot() never touch the engine's
// store; at the series' end it copies the final results (maps, peaks, images, counts) for
// results(). Every engine error is a Python exception (ConfigError or RuntimeError).
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <limits>
#include <mutex>
#include <thread>

#include "config/config.hpp"
#include "ingest/memory/memory_source.hpp"
#include "pipeline/core/observer.hpp"
#include "pipeline/engine.hpp"
#include "pipeline/plan.hpp"
#include "stemflow_version.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace stemflow::python {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

//! A numpy array that owns `v` (moved into a capsule: no copy).
template <class T>
nb::object to_numpy(std::vector<T> v, std::vector<std::size_t> shape) {
  auto* owned = new std::vector<T>(std::move(v));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::cast(nb::ndarray<nb::numpy, T>(owned->data(), shape.size(), shape.data(), owner));
}

std::string map_name(const OutputInfo& out, const ScalarOutput& s) {
  return s.suffix.empty() ? out.name : out.name + "_" + s.suffix;
}

//! The final results of one series, copied off the engine's store at its end.
struct SeriesResults {
  SeriesHeader header;
  std::vector<std::pair<std::string, std::vector<double>>> maps;
  struct PeakList {
    std::string name;
    std::vector<double> flat;           // qx, qy, intensity per peak, positions in scan order
    std::vector<std::int64_t> offsets;  // scan_size + 1
  };
  std::vector<PeakList> peaks;
  std::vector<std::pair<std::string, SeriesImage>> images;
  std::vector<std::uint8_t> coverage;
  std::uint64_t processed = 0;
  std::uint64_t failed = 0;
};

class LiveObserver final : public Observer {
 public:
  std::string_view name() const override { return "python"; }

  void series_started(const ResultStore& store, const Provenance&) override {
    std::lock_guard lock(mutex_);
    header_ = store.series();
    names_.clear();
    live_.clear();
    for (std::size_t o = 0; o < store.outputs().size(); ++o) {
      const auto& out = store.outputs()[o];
      for (std::size_t k = 0; k < out.spec.scalars.size(); ++k) {
        names_.push_back({map_name(out, out.spec.scalars[k]), o, k});
        live_.emplace_back(header_.scan_size(), kNaN);
      }
    }
    processed_ = 0;
    failed_ = 0;
    in_series_ = true;
    ++series_;
    t0_ = std::chrono::steady_clock::now();
  }

  void batch_done(const FrameBatch& batch, const ResultStore& store) override {
    // The sink node: a copy of this batch's values, a few doubles per frame.
    std::lock_guard lock(mutex_);
    for (std::size_t m = 0; m < names_.size(); ++m) {
      const auto& src = store.map(names_[m].op, names_[m].k);
      auto& dst = live_[m];
      for (std::uint32_t i = 0; i < batch.count; ++i) dst[batch.index[i]] = src[batch.index[i]];
    }
    processed_ = store.frames_processed();
    failed_ = store.frames_failed();
  }

  Expected<std::string> series_ended(const ResultStore& store, const Provenance&) override {
    SeriesResults r;
    r.header = store.series();
    const auto n = r.header.scan_size();
    for (std::size_t o = 0; o < store.outputs().size(); ++o) {
      const auto& out = store.outputs()[o];
      for (std::size_t k = 0; k < out.spec.scalars.size(); ++k) {
        r.maps.emplace_back(map_name(out, out.spec.scalars[k]), store.map(o, k));
      }
      if (out.spec.max_peaks > 0) {
        SeriesResults::PeakList pl{out.name, {}, {}};
        pl.offsets.reserve(n + 1);
        pl.offsets.push_back(0);
        for (std::uint64_t i = 0; i < n; ++i) {
          for (const Peak& p : store.peaks(o, i)) {
            pl.flat.insert(pl.flat.end(), {p.qx, p.qy, p.intensity});
          }
          pl.offsets.push_back(static_cast<std::int64_t>(pl.flat.size() / 3));
        }
        r.peaks.push_back(std::move(pl));
      }
      for (const auto& img : store.series_images(o)) {
        r.images.emplace_back(img.suffix.empty() ? out.name : out.name + "_" + img.suffix, img);
      }
    }
    r.coverage = store.coverage();
    r.processed = store.frames_processed();
    r.failed = store.frames_failed();
    std::lock_guard lock(mutex_);
    processed_ = r.processed;
    failed_ = r.failed;
    final_ = std::move(r);
    in_series_ = false;
    t_end_ = std::chrono::steady_clock::now();
    return std::string("memory");
  }

  void source_counts(const SeriesCounts& series, bool in_series, const SeriesCounts&) override {
    if (!in_series) return;
    std::lock_guard lock(mutex_);
    counts_ = series;
  }

  nb::dict progress() {
    std::lock_guard lock(mutex_);
    nb::dict d;
    const auto until = in_series_ ? std::chrono::steady_clock::now() : t_end_;
    const double elapsed = series_ > 0 ? std::chrono::duration<double>(until - t0_).count() : 0.0;
    const double fps = elapsed > 0 ? double(processed_) / elapsed : 0.0;
    const std::uint64_t total = header_.scan_size();
    d["series"] = series_;
    d["in_series"] = in_series_;
    d["frames"] = total;
    d["received"] = counts_.frames_received;
    d["processed"] = processed_;
    d["dropped"] = counts_.dropped_total() + failed_;
    d["elapsed"] = elapsed;
    d["fps"] = fps;
    d["eta"] = fps > 0 && total > processed_ ? double(total - processed_) / fps : 0.0;
    return d;
  }

  std::vector<std::string> map_names() {
    std::lock_guard lock(mutex_);
    std::vector<std::string> v;
    for (const auto& n : names_) v.push_back(n.name);
    return v;
  }

  //! A copy of a live map; false when there is no such map.
  bool snapshot(const std::string& name, std::vector<double>& out, SeriesHeader& header) {
    std::lock_guard lock(mutex_);
    for (std::size_t m = 0; m < names_.size(); ++m) {
      if (names_[m].name == name) {
        out = live_[m];
        header = header_;
        return true;
      }
    }
    return false;
  }

  void series_refused(const SeriesHeader& series, std::string_view why) override {
    std::lock_guard lock(mutex_);
    refused_ = {series.series_id, std::string(why)};
  }
  std::optional<std::pair<std::uint64_t, std::string>> refused() {
    std::lock_guard lock(mutex_);
    return refused_;
  }

  std::optional<SeriesResults> take_final() {
    std::lock_guard lock(mutex_);
    return final_;
  }

 private:
  struct MapRef {
    std::string name;
    std::size_t op, k;
  };
  std::mutex mutex_;
  SeriesHeader header_;
  std::vector<MapRef> names_;
  std::vector<std::vector<double>> live_;
  SeriesCounts counts_;
  std::uint64_t processed_ = 0, failed_ = 0, series_ = 0;
  bool in_series_ = false;
  std::chrono::steady_clock::time_point t0_{}, t_end_{};
  std::optional<SeriesResults> final_;
  std::optional<std::pair<std::uint64_t, std::string>> refused_;  // series id, why
};

Dtype dtype_of(const nb::ndarray<nb::ro>& a) {
  const auto t = a.dtype();
  using nb::dlpack::dtype_code;
  if (t.lanes == 1 && t.code == static_cast<std::uint8_t>(dtype_code::UInt)) {
    if (t.bits == 8) return Dtype::kU8;
    if (t.bits == 16) return Dtype::kU16;
    if (t.bits == 32) return Dtype::kU32;
  }
  if (t.lanes == 1 && t.code == static_cast<std::uint8_t>(dtype_code::Float) && t.bits == 32) {
    return Dtype::kF32;
  }
  throw nb::type_error("data: expected a 4-D array of uint8, uint16, uint32 or float32");
}

}  // namespace

class Run {
 public:
  Run(const std::string& config,
      bool is_file,
      const std::string& name,
      const std::vector<std::string>& overrides,
      std::optional<nb::ndarray<nb::ro>> data,
      const std::string& data_description,
      std::optional<std::uint64_t> max_series)
      : max_series_(max_series) {
    std::optional<ingest::MemoryArray> array;
    if (data) {
      data_ = *data;
      if (data_.ndim() != 4) {
        throw nb::value_error("data: expected a 4-D array (Rx, Ry, Qx, Qy)");
      }
      if (data_.device_type() != nb::device::cpu::value) {
        throw nb::value_error("data: expected an array in host memory");
      }
      ingest::MemoryArray a;
      a.dtype = dtype_of(data_);
      a.data = static_cast<const std::byte*>(data_.data());
      for (std::size_t d = 0; d < 4; ++d) {
        if (data_.shape(d) == 0 || data_.shape(d) > std::numeric_limits<std::uint32_t>::max()) {
          throw nb::value_error("data: every axis must hold 1 to 2^32 - 1 elements");
        }
        a.shape[d] = static_cast<std::uint32_t>(data_.shape(d));
        a.strides[d] = data_.stride(d) * static_cast<std::int64_t>(dtype_size(a.dtype));
      }
      a.description = data_description;
      array = a;
    }
    auto obs = std::make_unique<LiveObserver>();
    observer_ = obs.get();
    {
      nb::gil_scoped_release unlocked;  // FFTW plans and the pool take their time
      const auto cfg = is_file ? config::Config::load(config, overrides)
                               : config::Config::parse(config, name, overrides);
      // make_plan warns when [outputs.hdf5] is absent ("results are not saved"): here they are
      // kept in memory and returned, so the warning would mislead.
      const auto level = spdlog::get_level();
      if (!cfg.has_section("outputs.hdf5")) spdlog::set_level(std::max(level, spdlog::level::err));
      auto parts = [&] {
        try {
          return make_plan(cfg, PlanFor::kRun);
        } catch (...) {
          spdlog::set_level(level);
          throw;
        }
      }();
      spdlog::set_level(level);
      if (array) {
        // A few batches per worker keep every core busy; more would only lengthen a stop().
        const int threads = parts.threads > 0
                                ? parts.threads
                                : int(std::max(1u, std::thread::hardware_concurrency()));
        array->max_in_flight = std::size_t(4 * threads + 4);
        // The pool is allocated (and zeroed) whole at start: 256 MiB by default, a tenth of a
        // second here. A batch of an array points into the array or has its frames gathered into
        // its slot, and at most max_in_flight are out: the pool needs no more slots than that
        // (memory_limit stays the upper bound).
        const std::size_t frame_bytes =
            std::size_t{array->shape[2]} * array->shape[3] * dtype_size(array->dtype);
        const std::size_t slot_bytes =
            (std::size_t{parts.batch_frames} * frame_bytes + 63) / 64 * 64;
        const std::size_t needed = (array->max_in_flight + 2) * slot_bytes;
        parts.memory_limit = std::min(parts.memory_limit, std::max<std::size_t>(needed, 1 << 20));
        parts.input = "memory";
        parts.make_source = [a = *array](BatchPool& pool) {
          return std::make_unique<ingest::MemorySource>(pool, a);
        };
      }
      parts.observers.push_back(std::move(obs));
      engine_ = std::make_unique<Engine>(std::move(parts));
    }
    thread_ = std::thread([this] {
      int rc = 0;
      std::string error;
      bool config_error = false;
      try {
        rc = engine_->run(max_series_);
      } catch (const ConfigError& e) {
        error = e.what();
        config_error = true;
      } catch (const std::exception& e) {
        error = e.what();
      }
      std::lock_guard lock(mutex_);
      rc_ = rc;
      error_ = error;
      config_error_ = config_error;
      done_ = true;
      cv_.notify_all();
    });
  }

  ~Run() {
    nb::gil_scoped_release unlocked;
    if (thread_.joinable()) {
      engine_->stop();
      thread_.join();
    }
    engine_.reset();
  }

  //! Waits up to `timeout` seconds (None: until done); true when the run is over.
  bool wait(std::optional<double> timeout) {
    nb::gil_scoped_release unlocked;
    std::unique_lock lock(mutex_);
    if (timeout) {
      cv_.wait_for(lock, std::chrono::duration<double>(*timeout), [&] { return done_; });
    } else {
      cv_.wait(lock, [&] { return done_; });
    }
    return done_;
  }
  bool done() {
    std::lock_guard lock(mutex_);
    return done_;
  }
  void stop() { engine_->stop(); }
  void abort() { engine_->abort(); }
  nb::dict progress() {
    nb::dict d = observer_->progress();
    d["done"] = done();
    return d;
  }
  std::vector<std::string> map_names() { return observer_->map_names(); }

  nb::object snapshot(const std::string& name) {
    std::vector<double> v;
    SeriesHeader h;
    if (!observer_->snapshot(name, v, h)) {
      const auto names = observer_->map_names();
      std::string known;
      for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
      throw nb::key_error(
          ("no map named '" + name + "' (maps: " + (known.empty() ? "none yet" : known) + ")")
              .c_str());
    }
    return to_numpy(std::move(v), {h.scan_rows, h.scan_cols});
  }

  //! Everything the run gave; raises the engine's error if it failed.
  nb::dict results() {
    {
      std::lock_guard lock(mutex_);
      if (!done_) throw nb::value_error("the run is still going: wait() first");
      if (!error_.empty()) {
        if (config_error_) throw ConfigError(error_);
        throw std::runtime_error(error_);
      }
    }
    if (thread_.joinable()) thread_.join();
    nb::dict d;
    d["exit_code"] = rc_;
    const auto& reports = engine_->reports();
    d["series"] = reports.size();
    if (!reports.empty()) {
      const auto& rep = reports.back();
      if (!rep.output_path.empty()) d["path"] = rep.output_path;
      if (!rep.output_error.empty()) d["output_error"] = rep.output_error;
      d["seconds"] = rep.seconds;
    }
    if (!reports.empty()) {
      // From the engine's report: a series it refused has counts but no results.
      const auto& rep = reports.back();
      const auto& c = rep.counts;
      nb::dict counts, dropped;
      counts["received"] = c.frames_received;
      counts["accepted"] = c.frames_accepted;
      counts["processed"] = rep.frames_processed;
      counts["failed"] = rep.frames_failed;
      for (std::size_t r = 0; r < kDropReasonCount; ++r) {
        if (c.dropped[r] > 0) {
          dropped[std::string(drop_reason_name(static_cast<DropReason>(r))).c_str()] = c.dropped[r];
        }
      }
      if (rep.frames_failed > 0) dropped["operator_error"] = rep.frames_failed;
      counts["dropped"] = dropped;
      counts["end"] = std::string(series_end_name(c.end));
      d["counts"] = counts;
      d["scan_shape"] = nb::make_tuple(rep.header.scan_rows, rep.header.scan_cols);
      d["frame_shape"] = nb::make_tuple(rep.header.frame_rows, rep.header.frame_cols);
    }
    if (const auto refused = observer_->refused();
        refused && !reports.empty() && refused->first == reports.back().header.series_id) {
      d["refused"] = refused->second;
    }
    auto final = observer_->take_final();
    if (!final || reports.empty() || final->header.series_id != reports.back().header.series_id) {
      return d;
    }
    const auto& h = final->header;
    const std::vector<std::size_t> scan{h.scan_rows, h.scan_cols};
    d["dtype"] = std::string(dtype_name(h.dtype));
    nb::dict maps, peaks, images;
    for (auto& [name, v] : final->maps) maps[name.c_str()] = to_numpy(std::move(v), scan);
    for (auto& pl : final->peaks) {
      const std::size_t n = pl.flat.size() / 3;
      peaks[pl.name.c_str()] = nb::make_tuple(to_numpy(std::move(pl.flat), {n, 3}),
                                              to_numpy(std::move(pl.offsets), {h.scan_size() + 1}));
    }
    for (auto& [name, img] : final->images) {
      images[name.c_str()] = to_numpy(std::move(img.values), {img.rows, img.cols});
    }
    d["maps"] = maps;
    d["peaks"] = peaks;
    d["images"] = images;
    d["coverage"] = to_numpy(std::move(final->coverage), scan);

    return d;
  }

 private:
  std::optional<std::uint64_t> max_series_;
  nb::ndarray<nb::ro> data_;  // keeps the caller's array alive while the engine reads it
  LiveObserver* observer_ = nullptr;
  std::unique_ptr<Engine> engine_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  int rc_ = 0;
  std::string error_;
  bool config_error_ = false;
};

}  // namespace stemflow::python

NB_MODULE(_core, m) {
  using stemflow::python::Run;
  m.attr("__version__") = STEMFLOW_VERSION;
  static nb::exception<stemflow::ConfigError> config_error(m, "ConfigError", PyExc_ValueError);
  m.def(
      "set_log_level",
      [](const std::string& level) {
        const auto l = spdlog::level::from_str(level);
        if (l == spdlog::level::off && level != "off") {
          throw nb::value_error(
              ("log level '" + level + "': expected trace, debug, info, warn, error or off")
                  .c_str());
        }
        spdlog::set_level(l);
      },
      "level"_a);
  nb::class_<Run>(m, "_Run")
      .def(nb::init<const std::string&,
                    bool,
                    const std::string&,
                    const std::vector<std::string>&,
                    std::optional<nb::ndarray<nb::ro>>,
                    const std::string&,
                    std::optional<std::uint64_t>>(),
           "config"_a,
           "is_file"_a,
           "name"_a,
           "overrides"_a,
           "data"_a.none().noconvert(),
           "data_description"_a,
           "max_series"_a.none())
      .def("wait", &Run::wait, "timeout"_a.none())
      .def("done", &Run::done)
      .def("stop", &Run::stop)
      .def("abort", &Run::abort)
      .def("progress", &Run::progress)
      .def("map_names", &Run::map_names)
      .def("snapshot", &Run::snapshot, "name"_a)
      .def("results", &Run::results);
}
