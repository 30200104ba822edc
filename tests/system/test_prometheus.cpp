// SPDX-License-Identifier: GPL-3.0-or-later
// A real Prometheus server (Debian `prometheus`) scrapes the engine every 0.5 s during a paced
// simulated scan; the frame counters read back through Prometheus's HTTP API match what was sent,
// and the deploy/ files (scrape config, Grafana queries) are valid for that server.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/sinks/test_dashboard_http.hpp"
#include "tests/support/process.hpp"

using namespace stemflow;
namespace fs = std::filesystem;
using std::chrono::milliseconds;
using Json = nlohmann::json;

namespace {

std::string find_prometheus() {
  for (const char* p : {"/usr/bin/prometheus", "/usr/local/bin/prometheus"}) {
    if (fs::exists(p)) return p;
  }
  return {};
}

//! The result of an instant query, or null if Prometheus did not answer with success.
Json query(int port, const std::string& promql) {
  const auto r = test::http_get(port, "/api/v1/query?query=" + test::url_encode(promql));
  if (!r || r->status != 200) return nullptr;
  const Json j = Json::parse(r->body, nullptr, false);
  if (j.is_discarded() || j.value("status", "") != "success") return nullptr;
  return j["data"]["result"];
}

//! The single sample value of an instant vector query, or -1.
double scalar(int port, const std::string& promql) {
  const Json r = query(port, promql);
  if (!r.is_array() || r.size() != 1) return -1;
  return std::stod(r[0]["value"][1].get<std::string>());
}

}  // namespace

// Spec: Prometheus scrapes the engine on loopback during the run (several samples, some taken
// mid-scan), and stemflow_frames_received_total / processed_total read back through its HTTP API
// equal the frames the simulator sent; no frame is counted as dropped.
TEST(Prometheus, ScrapesFrameCountersDuringARun) {
  const std::string prometheus = find_prometheus();
  if (prometheus.empty()) {
    GTEST_SKIP()
        << "prometheus is not installed (deploy/install-deps.sh installs Debian's package)";
  }
  const auto dir = test::work_dir("prometheus");
  const int zmq_port = test::free_port();
  const int metrics_port = test::free_port();
  const int prom_port = test::free_port();
  constexpr int kRows = 48, kCols = 64, kFrames = kRows * kCols;

  std::ofstream(dir / "engine.toml")
      << "[input]\nendpoint = \"tcp://127.0.0.1:" << zmq_port << "\"\nseries_timeout = 10.0\n"
      << "[pipeline]\nbatch_frames = 16\nmemory_limit = \"8MiB\"\n"
      << "[[operators]]\ntype = \"virtual_image\"\nname = \"bf\"\ndetector = \"circle\"\n"
      << "center = [32.0, 32.0]\nradius = 5.0\n"
      << "[outputs.metrics]\nlisten = \"127.0.0.1:" << metrics_port << "\"\n";
  std::ofstream(dir / "prometheus.yml")
      << "global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\n"
      << "scrape_configs:\n  - job_name: stemflow\n    static_configs:\n"
      << "      - targets: ['127.0.0.1:" << metrics_port << "']\n";

  // The engine stays up after the series (no --series) so that Prometheus scrapes the final counts.
  test::Process engine({STEMFLOW_EXE, "run", (dir / "engine.toml").string()},
                       (dir / "engine.log").string());
  test::Process prom({prometheus,
                      "--config.file=" + (dir / "prometheus.yml").string(),
                      "--storage.tsdb.path=" + (dir / "tsdb").string(),
                      "--web.listen-address=127.0.0.1:" + std::to_string(prom_port),
                      "--log.level=warn"},
                     (dir / "prometheus.log").string());
  bool ready = false;
  for (int i = 0; i < 300 && !ready; ++i) {
    const auto r = test::http_get(prom_port, "/-/ready", milliseconds(1000));
    ready = r && r->status == 200;
    if (!ready) std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(ready) << test::read_text((dir / "prometheus.log").string());
  // Wait for a first scrape, so that the run is observed from its start.
  bool up = false;
  for (int i = 0; i < 200 && !up; ++i) {
    up = scalar(prom_port, "up{job=\"stemflow\"}") == 1;
    if (!up) std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(up) << "Prometheus never scraped the engine\n"
                  << test::read_text((dir / "engine.log").string());

  // 3072 frames at 1000 frames/s: about 3 s, six or so scrapes while frames arrive.
  test::Process sim({STEMFLOW_SIM_EXE,
                     "synth",
                     "--scan",
                     std::to_string(kRows) + "x" + std::to_string(kCols),
                     "--frame",
                     "64x64",
                     "--rate",
                     "1000",
                     "--seed",
                     "3",
                     "--bind",
                     "tcp://127.0.0.1:" + std::to_string(zmq_port)},
                    (dir / "sim.log").string());
  ASSERT_EQ(sim.wait(milliseconds(60000)), 0) << test::read_text((dir / "sim.log").string());

  double received = -1, processed = -1;
  for (int i = 0; i < 200; ++i) {
    received = scalar(prom_port, "stemflow_frames_received_total{job=\"stemflow\"}");
    processed = scalar(prom_port, "stemflow_frames_processed_total{job=\"stemflow\"}");
    if (received == kFrames && processed == kFrames) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(received, kFrames) << test::read_text((dir / "engine.log").string());
  EXPECT_EQ(processed, kFrames);
  EXPECT_EQ(scalar(prom_port, "sum(stemflow_frames_dropped_total{job=\"stemflow\"})"), 0);
  EXPECT_EQ(scalar(prom_port, "stemflow_series_total{job=\"stemflow\",end=\"complete\"}"), 1);
  EXPECT_GT(scalar(prom_port, "stemflow_received_bytes_total{job=\"stemflow\"}"), 0);

  // The samples Prometheus stored during the last minute: the counter was seen mid-scan, rising.
  const Json series = query(prom_port, "stemflow_frames_received_total{job=\"stemflow\"}[1m]");
  ASSERT_TRUE(series.is_array() && series.size() == 1) << series.dump();
  std::vector<double> values;
  for (const auto& v : series[0]["values"]) values.push_back(std::stod(v[1].get<std::string>()));
  EXPECT_GE(values.size(), 6u);
  const auto mid =
      std::count_if(values.begin(), values.end(), [](double v) { return v > 0 && v < kFrames; });
  EXPECT_GE(mid, 2) << "no scrape saw the scan in progress: " << series.dump();
  EXPECT_TRUE(std::is_sorted(values.begin(), values.end())) << series.dump();

  // Every query of the Grafana dashboard (deploy/grafana/stemflow.json) is valid PromQL for this
  // Prometheus, and the throughput panel has data for this run.
  const Json dash = Json::parse(
      test::read_text((fs::path(STEMFLOW_SOURCE_DIR) / "deploy/grafana/stemflow.json").string()),
      nullptr,
      false);
  ASSERT_TRUE(dash.is_object()) << "deploy/grafana/stemflow.json is not JSON";
  int queries = 0;
  for (const auto& panel : dash["panels"]) {
    for (const auto& target : panel["targets"]) {
      std::string expr = target["expr"];
      for (const auto& [var, value] :
           {std::pair<std::string, std::string>{"$__rate_interval", "5s"},
            {"$__range", "1m"},
            {"$job", ".*"},
            {"$instance", ".*"}}) {
        for (auto at = expr.find(var); at != std::string::npos; at = expr.find(var)) {
          expr.replace(at, var.size(), value);
        }
      }
      EXPECT_TRUE(query(prom_port, expr).is_array()) << panel["title"] << ": " << expr;
      ++queries;
    }
  }
  EXPECT_GE(queries, 10);
  EXPECT_GT(scalar(prom_port, "sum(increase(stemflow_frames_processed_total[1m]))"), 0);

  engine.signal(SIGINT);
  EXPECT_EQ(engine.wait(milliseconds(20000)), 0) << test::read_text((dir / "engine.log").string());
  prom.signal(SIGTERM);
  prom.wait(milliseconds(20000));
}

// Spec: the scrape configuration shipped in deploy/prometheus/ is valid for Debian's Prometheus.
TEST(Prometheus, ShippedScrapeConfigIsValid) {
  const fs::path promtool = "/usr/bin/promtool";
  if (!fs::exists(promtool))
    GTEST_SKIP() << "promtool (Debian package prometheus) is not installed";
  const auto dir = test::work_dir("promtool");
  test::Process check(
      {promtool.string(),
       "check",
       "config",
       (fs::path(STEMFLOW_SOURCE_DIR) / "deploy/prometheus/prometheus.yml").string()},
      (dir / "promtool.log").string());
  EXPECT_EQ(check.wait(milliseconds(30000)), 0) << test::read_text((dir / "promtool.log").string());
}
