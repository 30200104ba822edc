// SPDX-License-Identifier: GPL-3.0-or-later
#include "mpi/result_wire.hpp"

#include <cstring>
#include <string>
#include <type_traits>

namespace stemflow::mpi {

namespace {

struct Writer {
  std::vector<std::byte>& out;
  template <class T>
  void put(const T& v) {
    put_n(&v, 1);
  }
  template <class T>
  void put_n(const T* v, std::size_t n) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (n == 0) return;
    const std::size_t at = out.size();
    out.resize(at + n * sizeof(T));
    std::memcpy(out.data() + at, v, n * sizeof(T));
  }
  void put_string(const std::string& s) {
    put(static_cast<std::uint32_t>(s.size()));
    put_n(s.data(), s.size());
  }
};

struct Reader {
  std::span<const std::byte> in;
  std::size_t at = 0;
  bool ok = true;
  template <class T>
  T get() {
    T v{};
    get_n(&v, 1);
    return v;
  }
  template <class T>
  void get_n(T* dst, std::size_t n) {
    if (!ok || n > (in.size() - at) / sizeof(T)) {
      ok = false;
      return;
    }
    if (n == 0) return;  // dst may be an empty vector's null data(): memcpy must not see it
    std::memcpy(dst, in.data() + at, n * sizeof(T));
    at += n * sizeof(T);
  }
  std::string get_string() {
    const auto n = get<std::uint32_t>();
    if (!ok || n > in.size() - at) {
      ok = false;
      return {};
    }
    std::string s(reinterpret_cast<const char*>(in.data() + at), n);
    at += n;
    return s;
  }
};

Error wire_error(const std::string& what) {
  return Error{"mpi", "a message from another rank: " + what, std::nullopt};
}

}  // namespace

void encode_results(const FrameBatch& batch, std::vector<std::byte>& out) {
  out.clear();
  Writer w{out};
  const std::uint32_t n = batch.count;
  w.put(n);
  w.put(static_cast<std::uint32_t>(batch.results.size()));
  w.put_n(batch.index.data(), n);
  for (const auto& r : batch.results) {
    w.put(r.scalars_per_frame);
    w.put(r.max_peaks);
    w.put_n(r.failed.data(), n);
    w.put_n(r.scalars.data(), std::size_t{n} * r.scalars_per_frame);
    if (r.max_peaks == 0) continue;
    w.put_n(r.peak_counts.data(), n);
    for (std::uint32_t i = 0; i < n; ++i) {
      const auto p = r.frame_peaks(i);
      w.put_n(p.data(), p.size());
    }
  }
}

Expected<void> decode_results(std::span<const std::byte> msg, FrameBatch& batch) {
  Reader r{msg};
  const auto n = r.get<std::uint32_t>();
  const auto ops = r.get<std::uint32_t>();
  if (!r.ok) return tl::unexpected(wire_error("truncated results header"));
  if (n > batch.capacity || n > batch.index.size()) {
    return tl::unexpected(
        wire_error(std::to_string(n) + " frames for a batch of " + std::to_string(batch.capacity)));
  }
  if (ops != batch.results.size()) {
    return tl::unexpected(wire_error(std::to_string(ops) + " operators, this rank has " +
                                     std::to_string(batch.results.size())));
  }
  r.get_n(batch.index.data(), n);
  for (auto& res : batch.results) {
    const auto spf = r.get<std::uint32_t>();
    const auto max_peaks = r.get<std::uint32_t>();
    if (!r.ok || spf != res.scalars_per_frame || max_peaks != res.max_peaks) {
      return tl::unexpected(wire_error("operator results of another layout"));
    }
    r.get_n(res.failed.data(), n);
    r.get_n(res.scalars.data(), std::size_t{n} * spf);
    if (max_peaks == 0) continue;
    r.get_n(res.peak_counts.data(), n);
    for (std::uint32_t i = 0; r.ok && i < n; ++i) {
      if (res.peak_counts[i] > max_peaks) return tl::unexpected(wire_error("too many peaks"));
      r.get_n(res.peaks.data() + std::size_t{i} * max_peaks, res.peak_counts[i]);
    }
  }
  if (!r.ok) return tl::unexpected(wire_error("truncated results"));
  if (r.at != msg.size()) return tl::unexpected(wire_error("trailing bytes after the results"));
  batch.count = n;
  return {};
}

void encode_end(const EndMessage& end, std::vector<std::byte>& out) {
  out.clear();
  Writer w{out};
  const auto& c = end.counts;
  w.put(c.frames_received);
  w.put(c.frames_accepted);
  w.put(c.bytes_received);
  w.put(c.dropped);
  w.put(c.frames_announced);
  w.put(c.end);
  w.put(static_cast<std::uint8_t>(c.split_suspected));
  w.put(static_cast<std::uint32_t>(end.images.size()));
  for (const auto& op : end.images) {
    w.put(static_cast<std::uint32_t>(op.size()));
    for (const auto& img : op) {
      w.put_string(img.suffix);
      w.put_string(img.units);
      w.put(img.rows);
      w.put(img.cols);
      w.put(img.combine);
      w.put(img.frames);
      w.put(static_cast<std::uint64_t>(img.values.size()));
      w.put_n(img.values.data(), img.values.size());
    }
  }
}

Expected<EndMessage> decode_end(std::span<const std::byte> msg) {
  Reader r{msg};
  EndMessage end;
  auto& c = end.counts;
  c.frames_received = r.get<std::uint64_t>();
  c.frames_accepted = r.get<std::uint64_t>();
  c.bytes_received = r.get<std::uint64_t>();
  c.dropped = r.get<decltype(c.dropped)>();
  c.frames_announced = r.get<std::uint64_t>();
  const auto e = r.get<std::uint8_t>();
  if (e > static_cast<std::uint8_t>(SeriesEnd::kCutShort)) r.ok = false;
  c.end = static_cast<SeriesEnd>(e);
  c.split_suspected = r.get<std::uint8_t>() != 0;
  const auto ops = r.get<std::uint32_t>();
  for (std::uint32_t o = 0; r.ok && o < ops; ++o) {
    const auto k = r.get<std::uint32_t>();
    auto& images = end.images.emplace_back();
    for (std::uint32_t i = 0; r.ok && i < k; ++i) {
      SeriesImage img;
      img.suffix = r.get_string();
      img.units = r.get_string();
      img.rows = r.get<std::uint32_t>();
      img.cols = r.get<std::uint32_t>();
      const auto rule = r.get<std::uint8_t>();
      if (rule > static_cast<std::uint8_t>(Combine::kMean)) r.ok = false;
      img.combine = static_cast<Combine>(rule);
      img.frames = r.get<std::uint64_t>();
      const auto n = r.get<std::uint64_t>();
      if (!r.ok || n != std::uint64_t{img.rows} * img.cols || n > (msg.size() - r.at) / 8) {
        r.ok = false;
        break;
      }
      img.values.resize(n);
      r.get_n(img.values.data(), n);
      images.push_back(std::move(img));
    }
  }
  if (!r.ok || r.at != msg.size()) return tl::unexpected(wire_error("a malformed end message"));
  return end;
}

void encode_event(const SeriesPeers::Event& e, std::vector<std::byte>& out) {
  out.clear();
  Writer w{out};
  w.put(e.kind);
  w.put(e.series_id);
  w.put(e.frames_announced);
  const auto& h = e.header;
  w.put(h.series_id);
  w.put(h.scan_rows);
  w.put(h.scan_cols);
  w.put(h.frame_rows);
  w.put(h.frame_cols);
  w.put(h.dtype);
  w.put_string(h.detector);
  w.put(static_cast<std::uint32_t>(h.metadata.size()));
  for (const auto& [k, v] : h.metadata) {
    w.put_string(k);
    w.put_string(v);
  }
}

Expected<SeriesPeers::Event> decode_event(std::span<const std::byte> msg) {
  Reader r{msg};
  SeriesPeers::Event e;
  const auto kind = r.get<std::uint8_t>();
  if (kind > static_cast<std::uint8_t>(SeriesPeers::Event::Kind::kEnd)) r.ok = false;
  e.kind = static_cast<SeriesPeers::Event::Kind>(kind);
  e.series_id = r.get<std::uint64_t>();
  e.frames_announced = r.get<std::uint64_t>();
  auto& h = e.header;
  h.series_id = r.get<std::uint64_t>();
  h.scan_rows = r.get<std::uint32_t>();
  h.scan_cols = r.get<std::uint32_t>();
  h.frame_rows = r.get<std::uint32_t>();
  h.frame_cols = r.get<std::uint32_t>();
  const auto dtype = r.get<std::uint8_t>();
  if (dtype > static_cast<std::uint8_t>(Dtype::kF32)) r.ok = false;
  h.dtype = static_cast<Dtype>(dtype);
  h.detector = r.get_string();
  const auto n = r.get<std::uint32_t>();
  for (std::uint32_t i = 0; r.ok && i < n; ++i) {
    auto k = r.get_string();
    h.metadata[std::move(k)] = r.get_string();
  }
  if (!r.ok || r.at != msg.size()) return tl::unexpected(wire_error("a malformed series event"));
  return e;
}

}  // namespace stemflow::mpi
