// SPDX-License-Identifier: GPL-3.0-or-later
#include "sim/send_loop.hpp"

#include <oneapi/tbb/parallel_for.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "pipeline/core/expected.hpp"

namespace stemflow::sim {

namespace {

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

double probability(const std::string& item, const std::string& value) {
  try {
    std::size_t used = 0;
    const double p = std::stod(value, &used);
    if (used != value.size() || p < 0 || p > 1) throw std::invalid_argument(value);
    return p;
  } catch (const std::exception&) {
    throw ConfigError("--inject " + item + ": a probability in [0, 1]");
  }
}

std::uint64_t count(const std::string& item, const std::string& value) {
  try {
    std::size_t used = 0;
    const auto v = std::stoull(value, &used);
    if (used != value.size()) throw std::invalid_argument(value);
    return v;
  } catch (const std::exception&) {
    throw ConfigError("--inject " + item + ": a non-negative integer");
  }
}

// Damages an encoded frame so that no receiver can take it for valid pixels: it is cut short
// (every codec checks lengths).
void damage(std::vector<std::uint8_t>& e) {
  const std::size_t cut = std::min<std::size_t>(e.size(), std::max<std::size_t>(8, e.size() / 8));
  e.resize(e.size() - cut);
}

}  // namespace

FaultPlan FaultPlan::parse(const std::string& spec, std::uint64_t seed) {
  FaultPlan f;
  f.seed = seed;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string::npos) throw ConfigError("--inject " + item + ": expected name=value");
    const std::string name = item.substr(0, eq), value = item.substr(eq + 1);
    if (name == "drop") {
      f.drop = probability(item, value);
    } else if (name == "duplicate") {
      f.duplicate = probability(item, value);
    } else if (name == "reorder") {
      f.reorder = probability(item, value);
    } else if (name == "corrupt") {
      f.corrupt = probability(item, value);
    } else if (name == "stall") {
      const auto at = value.find('@');
      if (at == std::string::npos) throw ConfigError("--inject stall=MS@FRAME");
      f.stall = std::chrono::milliseconds(count(item, value.substr(0, at)));
      f.stall_frame = count(item, value.substr(at + 1));
    } else if (name == "disconnect") {
      f.disconnect_frame = count(item, value);
    } else {
      throw ConfigError("--inject: unknown fault '" + name +
                        "' (drop, duplicate, reorder, stall, disconnect, corrupt)");
    }
  }
  return f;
}

bool FaultPlan::any() const {
  return drop > 0 || duplicate > 0 || reorder > 0 || corrupt > 0 || stall_frame || disconnect_frame;
}

bool FaultPlan::hits(char kind, std::uint64_t index) const {
  const double p = kind == 'd' ? drop : kind == 'u' ? duplicate : kind == 'r' ? reorder : corrupt;
  if (p <= 0) return false;
  const std::uint64_t h = splitmix(seed ^ splitmix(index * 4 + std::uint64_t(kind)));
  return double(h >> 11) * 0x1.0p-53 < p;
}

std::vector<SendLog> send_series(ProtocolSender& sender, const SendParams& p) {
  const std::size_t fb = p.header.frame_bytes();
  const std::uint64_t total = p.header.scan_size();
  constexpr std::uint64_t kBlock = 64;  // frames rendered and encoded per parallel step
  const FaultPlan& f = p.faults;

  // The send order: reordered frames swap places with their successor.
  std::vector<std::uint64_t> order(total);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> swaps;
  for (std::uint64_t i = 0; i < total; ++i) order[i] = i;
  for (std::uint64_t i = 0; i + 1 < total; ++i) {
    if (f.hits('r', i)) {
      std::swap(order[i], order[i + 1]);
      swaps.emplace_back(i, i + 1);
      ++i;
    }
  }

  // --unique: frames rendered and encoded once, before the first series starts.
  sender.prepare(p.header);
  std::vector<std::vector<std::uint8_t>> cached;
  if (p.unique > 0) {
    const std::uint64_t u = std::min(p.unique, total);
    cached.resize(u);
    tbb::parallel_for(std::uint64_t{0}, u, [&](std::uint64_t i) {
      std::vector<std::byte> px(fb);
      p.render(i, px);
      sender.encode(px, cached[i]);
    });
  }

  std::vector<SendLog> logs;
  std::vector<std::vector<std::uint8_t>> block(kBlock);
  std::vector<std::vector<std::byte>> pixels(kBlock, std::vector<std::byte>(p.unique > 0 ? 0 : fb));
  std::vector<std::uint8_t> bad;
  for (std::uint64_t loop = 0; loop < std::max<std::uint64_t>(p.loops, 1); ++loop) {
    SeriesHeader h = p.header;
    h.series_id = p.header.series_id + loop;
    SendLog log;
    log.series_id = h.series_id;
    log.frames = total;
    log.reordered = swaps;
    sender.start(h);
    const auto t0 = std::chrono::steady_clock::now();
    std::uint64_t sent_slots = 0;
    for (std::uint64_t first = 0; first < total; first += kBlock) {
      const std::uint64_t n = std::min(kBlock, total - first);
      if (p.unique == 0) {
        tbb::parallel_for(std::uint64_t{0}, n, [&](std::uint64_t k) {
          p.render(order[first + k], pixels[k]);
          sender.encode(pixels[k], block[k]);
        });
      }
      for (std::uint64_t k = 0; k < n; ++k) {
        const std::uint64_t index = order[first + k];
        const auto& enc = p.unique > 0 ? cached[index % cached.size()] : block[k];
        if (p.rate > 0) {
          std::this_thread::sleep_until(
              t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                       std::chrono::duration<double>(double(sent_slots) / p.rate)));
        }
        ++sent_slots;
        if (f.stall_frame && *f.stall_frame == index) std::this_thread::sleep_for(f.stall);
        if (f.disconnect_frame && *f.disconnect_frame == index) {
          const std::string resent = sender.reconnect();
          log.disconnects.push_back({index, log.sent, resent});
          log.lost_in_disconnect.push_back(index);
          spdlog::info(
              "series {}: disconnected at frame {} after {} frame messages; reconnected "
              "and re-sent the {}",
              h.series_id,
              index,
              log.sent,
              resent);
          continue;
        }
        if (f.hits('d', index)) {
          log.dropped.push_back(index);
          continue;
        }
        if (f.hits('c', index)) {
          bad = enc;
          damage(bad);
          sender.send_damaged(index, enc, bad);
          log.corrupted.push_back(index);
          ++log.sent;
          continue;
        }
        sender.send_encoded(index, enc);
        ++log.sent;
        if (f.hits('u', index)) {
          sender.send_encoded(index, enc);
          log.duplicated.push_back(index);
          ++log.sent;
        }
      }
    }
    sender.end();
    log.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    log.clamped = sender.take_clamped();
    if (log.clamped > 0) {
      spdlog::warn(
          "series {}: {} pixel values above what the wire format carries were clamped "
          "(Merlin raw: to the counter depth's maximum)",
          h.series_id,
          log.clamped);
    }
    spdlog::info(
        "series {}: sent {} frame messages in {:.2f} s ({:.0f} frames/s, {:.1f} MB/s decoded)",
        h.series_id,
        log.sent,
        log.seconds,
        double(log.sent) / log.seconds,
        double(log.sent) * double(fb) / log.seconds / 1e6);
    logs.push_back(std::move(log));
  }
  return logs;
}

std::string to_json(const std::vector<SendLog>& logs) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& l : logs) {
    nlohmann::json r = nlohmann::json::array();
    for (const auto& [a, b] : l.reordered) r.push_back({a, b});
    nlohmann::json d = nlohmann::json::array();
    for (const auto& x : l.disconnects) {
      d.push_back({{"frame", x.frame}, {"sent_before", x.sent_before}, {"resent", x.resent}});
    }
    out.push_back({{"series_id", l.series_id},
                   {"frames", l.frames},
                   {"sent", l.sent},
                   {"dropped", l.dropped},
                   {"corrupted", l.corrupted},
                   {"duplicated", l.duplicated},
                   {"lost_in_disconnect", l.lost_in_disconnect},
                   {"reordered", r},
                   {"disconnects", d},
                   {"clamped", l.clamped},
                   {"seconds", l.seconds}});
  }
  return out.dump(1);
}

}  // namespace stemflow::sim
