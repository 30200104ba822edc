// SPDX-License-Identifier: GPL-3.0-or-later
// stemflow: the engine's command line.
//   stemflow run CONFIG.toml [--set key=value ...] [--series N]
//   stemflow validate CONFIG.toml [--set key=value ...]
//   stemflow schema
//   stemflow info FILE [--format raw|npy|emd|dectris|mib]
//   stemflow probe CONFIG.toml [--operator NAME] [--set key=value ...] --out KERNEL.npy [--probe
//   P.npy]
// Exit codes: 0 done, 1 unexpected error, 2 invalid configuration, 3 results could not be written,
// 130 stopped by a second SIGINT/SIGTERM (results cut short; 3 wins if they could not be written).
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <ctime>
#include <iostream>
#include <thread>

#include "config/config.hpp"
#include "ingest/replay/frame_reader.hpp"
#include "operators/bragg_disks/probe_source.hpp"
#include "operators/registry.hpp"
#include "pipeline/core/expected.hpp"
#include "pipeline/engine.hpp"
#include "pipeline/plan.hpp"
#include "pipeline/progress_line.hpp"
#include "sinks/hdf5/results_info.hpp"
#include "stemflow_version.hpp"
#ifdef STEMFLOW_WITH_MPI
#include "mpi/job.hpp"
#include "mpi/series_events.hpp"
#endif

namespace {

//! SIGINT/SIGTERM are blocked in every thread and taken by one watcher with sigwait, so that the
//! stop runs as ordinary code: the first signal drains and writes the results; a second one cuts
//! them short (Engine::abort: nothing more is processed, the file gets its counts and is closed, so
//! that any reader opens it) and the process exits with 130. If that has not happened within
//! kCutShortDeadline (a sink stuck on a hung file system, say), the watcher exits with 130 anyway:
//! the user asked twice; the file may then be left marked open (h5clear -s).
class SignalWatcher {
 public:
  SignalWatcher() {
    // A shell starts background jobs with SIGINT ignored, and an ignored signal never reaches
    // sigwait: take the default disposition back before blocking.
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGUSR1);  // the destructor's wake-up call for the watcher
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  }
  static constexpr std::chrono::seconds kCutShortDeadline{2};

  void start(stemflow::Engine& engine) {
    thread_ = std::thread([this, &engine] {
      int sig = 0;
      for (int n = 0; n < 2;) {
        if (sigwait(&set_, &sig) != 0) continue;
        if (sig == SIGUSR1) return;  // shutdown of the watcher itself
        if (n++ == 0) {
          spdlog::info("signal {}: stopping after the data already received", sig);
          engine.stop();
        } else {
          spdlog::warn("second signal: stopping now; the results keep what was processed so far");
          engine.abort();
        }
      }
      // Cut short: main() returns (and stops this watcher) once the results are closed.
      const auto deadline = std::chrono::steady_clock::now() + kCutShortDeadline;
      for (;;) {
        const auto left = deadline - std::chrono::steady_clock::now();
        if (left <= std::chrono::steady_clock::duration::zero()) break;
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
        const timespec wait{static_cast<time_t>(ns / 1000000000),
                            static_cast<long>(ns % 1000000000)};
        sig = sigtimedwait(&set_, nullptr, &wait);
        if (sig == SIGUSR1) return;
        if (sig > 0) spdlog::warn("signal {}: already stopping", sig);
      }
      spdlog::error(
          "the results were not closed within {} s of the second signal: exiting now "
          "(the file may be left marked open: h5clear -s FILE)",
          kCutShortDeadline.count());
      std::_Exit(stemflow::Engine::kExitCutShort);
    });
  }
  ~SignalWatcher() {
    if (thread_.joinable()) {
      pthread_kill(thread_.native_handle(), SIGUSR1);
      thread_.join();
    }
  }

 private:
  sigset_t set_;
  std::thread thread_;
};

//! `stemflow run`, on every rank of an MPI job (or alone). A job fails as a whole: every rank
//! reaches the same checks (the same configuration, every rank ready) and agrees before the scan,
//! so that no rank waits for one that has already given up.
int run_command(const std::string& config_path,
                const std::vector<std::string>& overrides,
                std::uint64_t max_series,
                SignalWatcher& signals,
                int& argc,
                char**& argv) {
  (void)argc;
  (void)argv;
  stemflow::JobRole role;
#ifdef STEMFLOW_WITH_MPI
  stemflow::mpi::Job job(argc, argv);
  role.rank = job.rank();
  role.ranks = job.ranks();
  if (role.ranks > 1) {
    role.peers = std::make_shared<stemflow::mpi::MpiSeriesPeers>(role.rank, role.ranks);
    // Every log line names its rank.
    spdlog::set_pattern("[%H:%M:%S.%e] [%^%l%$] [rank " + std::to_string(role.rank) + "] %v");
  }
  const auto agree = [&](bool ok, const std::string& why) { return job.agree(ok, why); };
#else
  const auto agree = [](bool ok, const std::string& why) {
    return ok ? std::vector<std::string>{} : std::vector<std::string>{why};
  };
#endif
  int code = 0;
  std::string why;
  std::optional<stemflow::config::Config> config;
  std::unique_ptr<stemflow::Engine> engine;
  const auto attempt = [&](auto&& step) {
    if (code != 0) return;
    try {
      step();
    } catch (const stemflow::ConfigError& e) {
      code = 2;
      why = e.what();
    } catch (const std::exception& e) {
      code = 1;
      why = std::string("fatal: ") + e.what();
    }
  };
  attempt([&] { config.emplace(stemflow::config::Config::load(config_path, overrides)); });
#ifdef STEMFLOW_WITH_MPI
  if (role.ranks > 1) {
    // A collective step every rank reaches, even one whose configuration did not load.
    const auto differ = job.differ_from_rank0(config ? config->effective_toml() : std::string{});
    if (code == 0 && !differ.empty()) {
      code = 2;
      std::string list;
      for (auto r : differ) list += (list.empty() ? "" : ", ") + std::to_string(r);
      why = "the configuration differs from rank 0's on rank(s) " + list +
            " (each rank must run the same file with the same --set overrides)";
    }
  }
#endif
  attempt([&] {
    auto parts = stemflow::make_plan(*config, stemflow::PlanFor::kRun, role);
    // A progress line on a terminal only (rank 0's in a job: it sees the whole scan); a log file
    // or a pipe gets none.
    if (role.writes() && isatty(STDERR_FILENO) == 1) {
      parts.observers.push_back(std::make_unique<stemflow::ProgressLine>(stderr));
    }
    engine = std::make_unique<stemflow::Engine>(std::move(parts));
  });
  const auto failed = agree(code == 0, why);
  if (!failed.empty()) {
    if (role.ranks == 1) {
      spdlog::error("{}", why);
      return code;
    }
    // Rank 0 says it for the job; a rank that failed says it too (its log may be elsewhere).
    if (role.rank == 0 || code != 0) {
      for (const auto& f : failed) spdlog::error("{}", f);
    }
    if (role.rank == 0) spdlog::error("the job does not start");
    return code != 0 ? code : 2;
  }
  if (role.ranks > 1 && role.rank == 0) {
    spdlog::info("MPI job of {} ranks: each {}; rank 0 writes the results",
                 role.ranks,
                 config->section("input").get_string("source") == "file"
                     ? "reads its share of the scan rows"
                     : "receives the frames the sender deals it");
  }
  signals.start(*engine);
  const int rc =
      engine->run(max_series > 0 ? std::optional<std::uint64_t>(max_series) : std::nullopt);
  std::uint64_t frames = 0;
  for (const auto& r : engine->reports()) frames += r.frames_processed;
  spdlog::info("done: {} series, {} frames processed", engine->reports().size(), frames);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  SignalWatcher signals;  // before any thread exists, so that all inherit the mask
  CLI::App app{"stemflow: streaming 4D-STEM analysis"};
  app.set_version_flag("--version", std::string("stemflow ") + STEMFLOW_VERSION);
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str();

  std::string config_path;
  std::vector<std::string> overrides;
  std::uint64_t max_series = 0;
  auto* run = app.add_subcommand("run", "receive series and analyse them");
  run->add_option("config", config_path, "configuration file (TOML)")->required();
  run->add_option("--set", overrides, "override a key: --set pipeline.batch_frames=32");
  run->add_option("--series", max_series, "exit after N series (default: run until stopped)");

  auto* validate = app.add_subcommand("validate", "check a configuration file");
  validate->add_option("config", config_path, "configuration file (TOML)")->required();
  validate->add_option("--set", overrides, "override a key");

  auto* schema = app.add_subcommand("schema", "print the configuration reference (Markdown)");

  std::string info_path, info_format;
  std::string probe_operator, probe_out, probe_image_out;
  auto* probe = app.add_subcommand(
      "probe", "build the Bragg correlation template of a bragg_disks operator and write it out");
  probe->add_option("config", config_path, "configuration file (TOML)")->required();
  probe->add_option("--operator", probe_operator, "bragg_disks operator (default: the first)");
  probe->add_option("--set", overrides, "override a key");
  probe->add_option("--out", probe_out, "the corner-centred kernel as .npy")->required();
  probe->add_option("--probe", probe_image_out, "also the masked vacuum probe as .npy");

  auto* info = app.add_subcommand("info",
                                  "print what a recorded file holds (shape, dtype, "
                                  "compression, detector metadata)");
  info->add_option("file", info_path, "raw, .npy, EMD/py4DSTEM, DECTRIS master or data file, .mib")
      ->required();
  info->add_option("--format", info_format, "raw, npy, emd, dectris, mib (default: detected)");

  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");

  try {
    if (*schema) {
      std::cout << stemflow::config::schema_markdown();
      return 0;
    }
    if (*info) {
      // A results file stemflow wrote is described as one (scan, operators, coverage, counts),
      // not taken for a recorded data file.
      if (info_format.empty()) {
        if (auto results = stemflow::sinks::describe_results_file(info_path)) {
          std::cout << *results;
          return 0;
        }
      }
      auto reader = stemflow::ingest::open_frame_reader(info_path, info_format);
      std::cout << stemflow::ingest::describe(reader->info());
      return 0;
    }
    if (*run) return run_command(config_path, overrides, max_series, signals, argc, argv);
    const auto config = stemflow::config::Config::load(config_path, overrides);
    if (*probe) {
      stemflow::ops::write_probe(config, probe_operator, probe_out, probe_image_out, std::cout);
      return 0;
    }
    if (*validate) {
      (void)stemflow::make_plan(config, stemflow::PlanFor::kValidate);
      std::cout << config_path << ": valid (" << config.operators().size() << " operators)\n";
      return 0;
    }
    return 0;
  } catch (const stemflow::ConfigError& e) {
    spdlog::error("{}", e.what());
    return 2;
  } catch (const std::exception& e) {
    spdlog::error("fatal: {}", e.what());
    return 1;
  }
}
