// SPDX-License-Identifier: GPL-3.0-or-later
// Headless Chromium (Debian `chromium`) loads the engine's dashboard during a paced simulated scan:
// the map canvas is coloured and changes as the scan progresses, the page resumes after its event
// stream is cut (Last-Event-ID, no second snapshot), and it ends showing the whole scan.
// Screenshots are kept under <build>/test-output/dashboard_browser/.
//
// Chromium is driven through the DevTools protocol over --remote-debugging-pipe (JSON messages
// ending in NUL on fds 3 and 4): no WebSocket client and no timing guesses, the test asks the page.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spawn.h>

#include <cmath>
#include <cstring>
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

std::string find_chromium() {
  for (const char* p :
       {"/usr/bin/chromium", "/usr/lib/chromium/chromium", "/usr/bin/chromium-browser"}) {
    if (fs::exists(p)) return p;
  }
  return {};
}

std::vector<std::uint8_t> unbase64(const std::string& s) {
  std::vector<std::uint8_t> out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    int v = -1;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+')
      v = 62;
    else if (c == '/')
      v = 63;
    if (v < 0) continue;
    acc = (acc << 6) | std::uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(std::uint8_t((acc >> bits) & 0xff));
    }
  }
  return out;
}

//! A headless Chromium driven over the DevTools pipe, with one page attached.
class Browser {
 public:
  Browser(const std::string& exe, const fs::path& dir) {
    int to_chrome[2], from_chrome[2];
    if (::pipe2(to_chrome, O_CLOEXEC) != 0 || ::pipe2(from_chrome, O_CLOEXEC) != 0) return;
    // Keep our ends away from 3 and 4, which the child's ends are moved to.
    auto high = [](int fd) {
      const int h = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
      ::close(fd);
      return h;
    };
    for (int* fd : {&to_chrome[0], &to_chrome[1], &from_chrome[0], &from_chrome[1]})
      *fd = high(*fd);
    std::vector<std::string> argv = {exe,
                                     "--headless",
                                     "--no-sandbox",
                                     "--disable-gpu",
                                     "--disable-dev-shm-usage",
                                     "--no-first-run",
                                     "--disable-extensions",
                                     "--remote-debugging-pipe",
                                     "--user-data-dir=" + (dir / "profile").string(),
                                     "--window-size=1400,1150",
                                     "about:blank"};
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    const std::string log = (dir / "chromium.log").string();
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_adddup2(&fa, to_chrome[0], 3);
    posix_spawn_file_actions_adddup2(&fa, from_chrome[1], 4);
    if (posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    ::close(to_chrome[0]);
    ::close(from_chrome[1]);
    out_ = to_chrome[1];
    in_ = from_chrome[0];
  }
  ~Browser() {
    if (pid_ > 0) {
      // Browser.close lets Chromium take its renderer and GPU processes down with it.
      send("Browser.close", Json::object(), false);
      for (int i = 0; i < 100 && ::waitpid(pid_, nullptr, WNOHANG) == 0; ++i) {
        std::this_thread::sleep_for(milliseconds(100));
      }
      if (::waitpid(pid_, nullptr, WNOHANG) == 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
      }
    }
    if (out_ >= 0) ::close(out_);
    if (in_ >= 0) ::close(in_);
  }
  Browser(const Browser&) = delete;
  Browser& operator=(const Browser&) = delete;

  bool started() const { return pid_ > 0; }

  //! Opens `url` in a new page and attaches to it; false if Chromium did not answer.
  bool open(const std::string& url) {
    const Json t = call("Target.createTarget", {{"url", url}}, false);
    if (!t.contains("targetId")) return false;
    const Json s =
        call("Target.attachToTarget", {{"targetId", t["targetId"]}, {"flatten", true}}, false);
    if (!s.contains("sessionId")) return false;
    session_ = s["sessionId"];
    return true;
  }

  //! The value of a JS expression in the page (returned by value), or null.
  Json eval(const std::string& expression) {
    const Json r = call("Runtime.evaluate", {{"expression", expression}, {"returnByValue", true}});
    if (!r.contains("result") || r.contains("exceptionDetails")) return nullptr;
    return r["result"].value("value", Json());
  }

  //! Moves the mouse to page coordinates (x, y), as a user pointing at something.
  void mouse_move(double x, double y) {
    call("Input.dispatchMouseEvent", {{"type", "mouseMoved"}, {"x", x}, {"y", y}});
  }

  //! A PNG of the page, or empty.
  std::vector<std::uint8_t> screenshot() {
    const Json r = call("Page.captureScreenshot", {{"format", "png"}});
    return r.contains("data") ? unbase64(r["data"].get<std::string>())
                              : std::vector<std::uint8_t>{};
  }

 private:
  int send(const std::string& method, const Json& params, bool in_session) {
    const int id = ++next_id_;
    Json m = {{"id", id}, {"method", method}, {"params", params}};
    if (in_session && !session_.empty()) m["sessionId"] = session_;
    const std::string s = m.dump() + '\0';
    if (::write(out_, s.data(), s.size()) != static_cast<ssize_t>(s.size())) return -1;
    return id;
  }

  Json call(const std::string& method, const Json& params, bool in_session = true) {
    const int id = send(method, params, in_session);
    if (id < 0) return Json::object();
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
      // Answers and events arrive NUL-terminated; events are of no interest here.
      for (auto at = buf_.find('\0'); at != std::string::npos; at = buf_.find('\0')) {
        const Json msg = Json::parse(buf_.substr(0, at), nullptr, false);
        buf_.erase(0, at + 1);
        if (!msg.is_discarded() && msg.value("id", -1) == id) {
          return msg.contains("result") ? msg["result"] : Json::object();
        }
      }
      const auto left =
          std::chrono::duration_cast<milliseconds>(end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return Json::object();
      pollfd p{in_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return Json::object();
      char chunk[65536];
      const ssize_t n = ::read(in_, chunk, sizeof chunk);
      if (n <= 0) return Json::object();
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  pid_t pid_ = -1;
  int out_ = -1, in_ = -1;
  int next_id_ = 0;
  std::string buf_;
  std::string session_;
};

void save(const fs::path& path, const std::vector<std::uint8_t>& png) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
}

constexpr const char* kProbe =
    "JSON.stringify(window.stemflowDash ? {stats: stemflowDash.stats, status: "
    "stemflowDash.state.status,"
    " canvas: stemflowDash.canvasStats('bf'), maps: stemflowDash.state.maps.length} : null)";

}  // namespace

// Spec: in a real browser the bf canvas fills in while the scan runs (coloured pixels grow, the
// image hash changes), the page survives its event stream being closed every 25 events by
// resuming from its Last-Event-ID (one snapshot in all, no sequence gap), and at the end every
// scan position is coloured. Screenshots: test-output/dashboard_browser/dashboard_{mid,end}.png.
TEST(DashboardBrowser, FillsInResumesAfterReconnectAndShowsTheWholeScan) {
  const std::string chromium = find_chromium();
  if (chromium.empty()) {
    GTEST_SKIP() << "chromium is not installed (deploy/install-deps.sh installs Debian's package)";
  }
  const auto dir = test::work_dir("dashboard_browser");
  const int zmq_port = test::free_port();
  const int dash_port = test::free_port();
  constexpr int kRows = 48, kCols = 64, kFrames = kRows * kCols;
  std::ofstream(dir / "engine.toml")
      << "[input]\nendpoint = \"tcp://127.0.0.1:" << zmq_port << "\"\nseries_timeout = 20.0\n"
      << "[pipeline]\nbatch_frames = 16\nmemory_limit = \"16MiB\"\n"
      << "[[operators]]\ntype = \"virtual_image\"\nname = \"bf\"\ndetector = \"circle\"\n"
      << "center = [64.0, 64.0]\nradius = 7.0\n"
      << "[[operators]]\ntype = \"virtual_image\"\nname = \"adf\"\ndetector = \"annulus\"\n"
      << "center = [64.0, 64.0]\nradii = [10.0, 40.0]\n"
      << "[[operators]]\ntype = \"center_of_mass\"\nname = \"com\"\n"
      << "[outputs.dashboard]\nlisten = \"127.0.0.1:" << dash_port << "\"\n";
  test::Process engine({STEMFLOW_EXE, "run", (dir / "engine.toml").string()},
                       (dir / "engine.log").string());
  bool serving = false;
  for (int i = 0; i < 100 && !serving; ++i) {
    const auto r = test::http_get(dash_port, "/", milliseconds(1000));
    serving = r && r->status == 200;
    if (!serving) std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(serving) << test::read_text((dir / "engine.log").string());

  Browser browser(chromium, dir);
  ASSERT_TRUE(browser.started());
  // max_events=25: the engine ends each event stream after 25 events (2.5 s at 10 per second), and
  // the browser's EventSource reconnects by itself with the last id it saw.
  ASSERT_TRUE(browser.open("http://127.0.0.1:" + std::to_string(dash_port) + "/?max_events=25"))
      << test::read_text((dir / "chromium.log").string());
  auto probe = [&] {
    const Json v = browser.eval(kProbe);
    return v.is_string() ? Json::parse(v.get<std::string>(), nullptr, false) : Json();
  };
  Json p;
  for (int i = 0; i < 300; ++i) {
    p = probe();
    if (p.is_object() && p["stats"]["snapshots"].get<int>() >= 1) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(p.is_object() && p["stats"]["snapshots"].get<int>() >= 1) << p.dump();

  // 3072 frames of 128x128 at 400 frames/s: about 8 s of scan.
  test::Process sim({STEMFLOW_SIM_EXE,
                     "synth",
                     "--scan",
                     std::to_string(kRows) + "x" + std::to_string(kCols),
                     "--frame",
                     "128x128",
                     "--rate",
                     "400",
                     "--seed",
                     "9",
                     "--bind",
                     "tcp://127.0.0.1:" + std::to_string(zmq_port)},
                    (dir / "sim.log").string());

  // Not blank: some positions coloured, but the scan not yet done.
  Json first;
  for (int i = 0; i < 300; ++i) {
    first = probe();
    if (first.is_object() && first["canvas"].is_object() &&
        first["canvas"]["coloured"].get<int>() > 0)
      break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(first["canvas"].is_object()) << first.dump();
  ASSERT_GT(first["canvas"]["coloured"].get<int>(), 0) << first.dump();
  EXPECT_EQ(first["canvas"]["width"], kCols);
  EXPECT_EQ(first["canvas"]["height"], kRows);
  EXPECT_GT(first["canvas"]["distinct"].get<int>(), 1) << "a blank (one-colour) image";

  // ... and it changes while the scan progresses.
  std::this_thread::sleep_for(milliseconds(1500));
  const Json second = probe();
  ASSERT_TRUE(second["canvas"].is_object()) << second.dump();
  EXPECT_GT(second["canvas"]["coloured"].get<int>(), first["canvas"]["coloured"].get<int>())
      << second.dump();
  EXPECT_NE(second["canvas"]["hash"], first["canvas"]["hash"]);
  EXPECT_LT(first["canvas"]["coloured"].get<int>(), kFrames)
      << "the scan was over before it was seen";
  save(dir / "dashboard_mid.png", browser.screenshot());

  // The stream was cut every 25 events: the page reconnected and resumed, without a snapshot.
  Json last;
  for (int i = 0; i < 600; ++i) {
    last = probe();
    if (last.is_object() && last["status"].is_object() && last["status"]["state"] == "ended" &&
        last["canvas"]["coloured"].get<int>() == kFrames) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_EQ(sim.wait(milliseconds(60000)), 0) << test::read_text((dir / "sim.log").string());
  ASSERT_TRUE(last.is_object()) << last.dump();
  EXPECT_EQ(last["status"]["state"], "ended") << last.dump();
  EXPECT_EQ(last["canvas"]["coloured"].get<int>(), kFrames) << last.dump();
  const auto& stats = last["stats"];
  EXPECT_GE(stats["opens"].get<int>(), 2)
      << "the stream was never cut and reopened: " << stats.dump();
  EXPECT_EQ(stats["snapshots"].get<int>(), 1) << "a reconnect needed a snapshot: " << stats.dump();
  EXPECT_EQ(stats["gaps"].get<int>(), 0) << stats.dump();
  // Every event after the first snapshot was a delta with the next sequence number.
  EXPECT_EQ(stats["lastSeq"].get<int>() - stats["firstSeq"].get<int>(), stats["deltas"].get<int>())
      << stats.dump();
  EXPECT_GT(stats["deltas"].get<int>(), 25) << stats.dump();

  // The page shows what the engine has: its snapshot covers every position too.
  const auto snap = test::http_get(dash_port, "/api/snapshot");
  ASSERT_TRUE(snap.has_value());
  const Json s = Json::parse(snap->body);
  EXPECT_EQ(s["status"]["covered"], kFrames);
  EXPECT_GE(s["seq"].get<int>(), stats["lastSeq"].get<int>());  // graphs keep ticking after the end

  // Hover: the cursor over scan position (rx 10, ry 20) of the bf map reads its value.
  const Json box = browser.eval(
      "(() => { const r = document.querySelector('canvas[data-name=bf]').getBoundingClientRect();"
      " return {x: r.left, y: r.top, w: r.width, h: r.height}; })()");
  ASSERT_TRUE(box.is_object()) << box.dump();
  const double x = box["x"].get<double>() + (20 + 0.5) * box["w"].get<double>() / kCols;
  const double y = box["y"].get<double>() + (10 + 0.5) * box["h"].get<double>() / kRows;
  browser.mouse_move(x, y);
  std::this_thread::sleep_for(milliseconds(300));
  const Json shown = browser.eval(
      "(() => { const h = stemflowDash.state.hover; const td = document.querySelector('#readout "
      "td.v');"
      " return h && td ? {i: h.i, value: td.textContent} : null; })()");
  ASSERT_TRUE(shown.is_object()) << shown.dump();
  EXPECT_EQ(shown["i"], 10 * kCols + 20);
  const auto bf = s["maps"][0]["data"].get<std::string>();
  const auto bytes = unbase64(bf);
  float expected = 0;
  std::memcpy(&expected, bytes.data() + 4 * (10 * kCols + 20), 4);
  EXPECT_NEAR(std::stod(shown["value"].get<std::string>()), expected, 1e-5 * std::abs(expected))
      << shown.dump();

  std::this_thread::sleep_for(milliseconds(300));  // let the last render land in the picture
  const auto png = browser.screenshot();
  ASSERT_GT(png.size(), 10000u);
  EXPECT_EQ(std::string(png.begin() + 1, png.begin() + 4), "PNG");
  save(dir / "dashboard_end.png", png);

  engine.signal(SIGINT);
  EXPECT_EQ(engine.wait(milliseconds(20000)), 0) << test::read_text((dir / "engine.log").string());
}
