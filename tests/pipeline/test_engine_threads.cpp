// SPDX-License-Identifier: GPL-3.0-or-later
// pipeline.threads counts the threads that compute. A file replay hands its reads to the graph's
// workers (FrameBatch::fill), and the engine's thread, which feeds the graph and waits for it at
// a series' end, runs no batch: before, a threads = 1 replay computed a quarter of its batches on
// the engine's thread, and reading on that thread held a 2-thread replay to ~1.4x of one.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "config/config.hpp"
#include "ingest/npy.hpp"
#include "pipeline/engine.hpp"
#include "pipeline/plan.hpp"

using namespace stemflow;

namespace {

//! Wraps the plan's placement to see which threads compute, and that every batch arrives read.
class Watching final : public Placement {
 public:
  explicit Watching(std::unique_ptr<Placement> inner) : inner_(std::move(inner)) {}
  BatchPool::MemoryHooks pinning() const override { return inner_->pinning(); }
  void set_timer(BatchTimer timer) override { inner_->set_timer(std::move(timer)); }
  void start(const SeriesHeader& s, std::uint32_t capacity) override { inner_->start(s, capacity); }
  void process(FrameBatch& b) const override {
    {
      std::lock_guard lock(mutex);
      threads.insert(std::this_thread::get_id());
      if (b.fill != nullptr) ++unfilled;
      for (std::uint32_t i = 0; i < b.count; ++i) {
        // The file holds frame i's pixels as i + k: a batch computed before it was read fails.
        const auto* p = b.frame<std::uint16_t>(i);
        if (p[0] != static_cast<std::uint16_t>(b.index[i]) ||
            p[5] != static_cast<std::uint16_t>(b.index[i] + 5)) {
          ++wrong_pixels;
        }
      }
      batches += 1;
    }
    inner_->process(b);
  }
  std::vector<SeriesImage> finish(std::size_t i) override { return inner_->finish(i); }

  mutable std::mutex mutex;
  mutable std::set<std::thread::id> threads;
  mutable int batches = 0, unfilled = 0, wrong_pixels = 0;

 private:
  std::unique_ptr<Placement> inner_;
};

struct Outcome {
  std::set<std::thread::id> threads;
  int batches = 0, unfilled = 0, wrong_pixels = 0;
  SeriesReport report;
};

Outcome replay(const std::filesystem::path& npy, int threads) {
  const std::string toml =
      "[input]\nsource = \"file\"\npath = \"" + npy.string() +
      "\"\n[pipeline]\nbatch_frames = 4\nthreads = " + std::to_string(threads) +
      "\n[[operators]]\ntype = \"virtual_image\"\nname = \"bf\"\n"
      "detector = \"circle\"\ncenter = [4.0, 4.0]\nradius = 3.0\n";
  auto parts = make_plan(config::Config::parse(toml, "threads.toml"), PlanFor::kRun);
  Watching* watching = nullptr;
  auto make = std::move(parts.make_placement);
  parts.make_placement = [&](const std::vector<std::unique_ptr<Operator>>& ops) {
    auto w = std::make_unique<Watching>(make(ops));
    watching = w.get();
    return std::unique_ptr<Placement>(std::move(w));
  };
  Engine engine(std::move(parts));
  EXPECT_EQ(engine.run(std::nullopt), 0);
  Outcome r;
  r.threads = watching->threads;
  r.batches = watching->batches;
  r.unfilled = watching->unfilled;
  r.wrong_pixels = watching->wrong_pixels;
  r.report = engine.reports().at(0);
  return r;
}

}  // namespace

// Spec: with pipeline.threads = T, the batches are computed on at most T threads, none of them the
// engine's; every batch reaches the operators read; the report counts every frame.
TEST(EngineThreads, TheEnginesThreadComputesNothing) {
  const auto dir = std::filesystem::temp_directory_path() / "stemflow-test-engine-threads";
  std::filesystem::create_directories(dir);
  const auto npy = dir / "scan.npy";
  constexpr std::uint32_t kRows = 32, kCols = 32, kSide = 8;
  {
    std::ofstream f(npy, std::ios::binary);
    ingest::write_npy_header(f, Dtype::kU16, {kRows, kCols, kSide, kSide});
    std::vector<std::uint16_t> frame(kSide * kSide);
    for (std::uint32_t i = 0; i < kRows * kCols; ++i) {
      for (std::uint32_t k = 0; k < frame.size(); ++k) frame[k] = static_cast<std::uint16_t>(i + k);
      f.write(reinterpret_cast<const char*>(frame.data()), frame.size() * 2);
    }
  }
  for (int threads : {1, 2, 3}) {
    SCOPED_TRACE("threads = " + std::to_string(threads));
    const Outcome r = replay(npy, threads);
    EXPECT_EQ(r.batches, int(kRows * kCols / 4));
    EXPECT_EQ(r.unfilled, 0);
    EXPECT_EQ(r.wrong_pixels, 0);
    EXPECT_EQ(r.threads.count(std::this_thread::get_id()), 0u);
    EXPECT_GE(r.threads.size(), 1u);
    EXPECT_LE(r.threads.size(), std::size_t(threads));
    EXPECT_EQ(r.report.frames_processed, kRows * kCols);
    EXPECT_EQ(r.report.counts.frames_accepted, kRows * kCols);
  }
}
