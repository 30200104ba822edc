// SPDX-License-Identifier: GPL-3.0-or-later
#include "config/schema.hpp"

#include <charconv>
#include <cmath>
#include <sstream>

namespace stemflow::config {

std::string_view key_type_name(KeyType t) {
  switch (t) {
    case KeyType::kString:
      return "string";
    case KeyType::kBool:
      return "bool";
    case KeyType::kInt:
      return "integer";
    case KeyType::kFloat:
      return "number";
    case KeyType::kSize:
      return "size";
    case KeyType::kFloatArray:
      return "array of numbers";
    case KeyType::kIntArray:
      return "array of integers";
    case KeyType::kStringArray:
      return "string or array of strings";
  }
  return "?";
}

namespace {

std::string number_text(double v, KeyType type) {
  // Sizes read best in the unit they are written in.
  if (type == KeyType::kSize && v >= 1024 && std::fmod(v, 1048576.0) == 0) {
    return number_text(v / 1048576.0, KeyType::kInt) + "MiB";
  }
  std::ostringstream os;
  os.precision(15);
  os << v;
  return os.str();
}

}  // namespace

std::string Range::text(KeyType type) const {
  const bool has_min = min > -kInf, has_max = max < kInf;
  if (has_min && has_max && !min_exclusive && !max_exclusive) {
    return number_text(min, type) + " to " + number_text(max, type);
  }
  std::string s;
  if (has_min) s += (min_exclusive ? "> " : ">= ") + number_text(min, type);
  if (has_max) {
    s += (s.empty() ? "" : ", ") + std::string(max_exclusive ? "< " : "<= ") +
         number_text(max, type);
  }
  return s;
}

namespace {

//! A port number "1".."65535" (the whole text).
bool is_port(std::string_view text) {
  unsigned port = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  return ec == std::errc() && ptr == text.data() + text.size() && port >= 1 && port <= 65535;
}

// A ZeroMQ endpoint (transport://address); a TCP one needs a port 1..65535 ("*" when bound).
std::string check_endpoint(std::string_view ep) {
  if (ep.empty()) return "is empty";
  const auto scheme = ep.find("://");
  if (scheme == std::string_view::npos || scheme == 0) {
    return "is not an endpoint of the form transport://address (e.g. tcp://127.0.0.1:5555)";
  }
  if (ep.substr(0, scheme) != "tcp") return "";
  const auto colon = ep.rfind(':');
  const auto port = colon > scheme ? ep.substr(colon + 1) : std::string_view();
  if (colon <= scheme + 2 || (port != "*" && !is_port(port))) {
    return "needs tcp://HOST:PORT with a port from 1 to 65535";
  }
  return "";
}

// An HTTP listen address "[host:]port".
std::string check_listen(std::string_view listen) {
  const auto colon = listen.rfind(':');
  const auto port = colon == std::string_view::npos ? listen : listen.substr(colon + 1);
  return is_port(port) ? "" : "needs [host:]port with a port from 1 to 65535";
}

constexpr std::string_view kEndpointText = "transport://address; tcp needs a port 1 to 65535";
constexpr std::string_view kListenText = "[host:]port, port 1 to 65535";

std::vector<SectionSpec> make_sections() {
  return {
      {"input",
       "Where frames come from.",
       {
           {"source",
            KeyType::kString,
            "\"zmq\"",
            "",
            "zmq: a detector or stemflow-sim; file: replay; memory: the array given to "
            "stemflow.run(data=...) in Python (not from the command line)",
            {"zmq", "file", "memory"}},
           {"endpoint",
            KeyType::kString,
            "-",
            "",
            "ZeroMQ endpoint, e.g. \"tcp://127.0.0.1:5555\" (use endpoint or endpoints; one of "
            "them "
            "is required for source = \"zmq\")",
            {},
            {},
            &check_endpoint,
            kEndpointText},
           {"endpoints",
            KeyType::kStringArray,
            "-",
            "",
            "several ZeroMQ endpoints feeding one series (fair-queued)",
            {},
            {},
            &check_endpoint,
            kEndpointText},
           {"bind",
            KeyType::kBool,
            "false",
            "",
            "bind the endpoints instead of connecting (by default the sender binds, as a detector "
            "does)"},
           {"protocol",
            KeyType::kString,
            "\"native\"",
            "",
            "wire protocol: native (stemflow), dectris-stream2 (SIMPLON stream V2, CBOR), "
            "dectris-stream1 (legacy JSON stream), merlin (Quantum Detectors data port, TCP)",
            {"native", "dectris-stream2", "dectris-stream1", "merlin"}},
           {"channel",
            KeyType::kString,
            "-",
            "",
            "dectris-stream2: image channel to take, e.g. \"threshold_1\" (default: the first)"},
           {"image_id_base",
            KeyType::kInt,
            "0",
            "",
            "dectris-stream2: image_id of the first frame of a series (scan position = image_id - "
            "base)",
            {},
            at_least(0)},
           {"io_threads",
            KeyType::kInt,
            "1",
            "threads",
            "ZeroMQ I/O threads of the DECTRIS receivers (more for several fast endpoints)",
            {},
            between(1, 256)},
           {"read_ahead",
            KeyType::kInt,
            "64",
            "frames",
            "compressed frames (stream or file chunks) held before they are decoded in parallel",
            {},
            between(1, 65536)},
           {"verify_hash",
            KeyType::kBool,
            "false",
            "",
            "dectris-stream1: check every image blob against the md5 \"hash\" of its message (an "
            "empty hash is accepted) and drop a blob that does not match as hash_mismatch. Off by "
            "default: md5 costs about 1.4 ns per received byte on one core (it runs on the decode "
            "threads), so 10 GB/s of blobs needs about 14 cores; bslz4 blobs are typically 5-7 "
            "times smaller than their frames"},
           {"reconnect_interval",
            KeyType::kFloat,
            "0.2",
            "s",
            "merlin: how often to try to reconnect to the detector's data port",
            {},
            positive()},
           {"series_timeout",
            KeyType::kFloat,
            "10.0",
            "s",
            "end a started series as incomplete after this long without any message",
            {},
            positive()},
           // 0 would mean "no limit" to ZeroMQ: the socket would queue without bound.
           {"receive_hwm",
            KeyType::kInt,
            "256",
            "messages",
            "ZeroMQ receive high-water mark: messages queued in the socket beyond the batch pool",
            {},
            between(1, 1 << 20)},
           {"path",
            KeyType::kString,
            "-",
            "",
            "file to replay (required for source = \"file\"); relative to the working directory"},
           {"format",
            KeyType::kString,
            "-",
            "",
            "replay format; default from the file name and content: raw, npy, emd (py4DSTEM/EMD "
            "1.0 "
            "datacube), dectris (master file with links to data files, or a data file), mib "
            "(Merlin)",
            {"raw", "npy", "emd", "dectris", "mib"}},
           {"dtype",
            KeyType::kString,
            "\"u16\"",
            "",
            "raw files: pixel type",
            {"u8", "u16", "u32", "f32"}},
           {"frame_shape",
            KeyType::kIntArray,
            "-",
            "px",
            "raw files: [rows, cols] of a frame",
            {},
            between(1, 65536)},
           {"header_bytes",
            KeyType::kInt,
            "0",
            "bytes",
            "raw files: bytes to skip at the start",
            {},
            at_least(0)},
           {"rate",
            KeyType::kFloat,
            "0",
            "frames/s",
            "replay: pace frames at this rate (0 = as fast as possible)",
            {},
            at_least(0)},
       },
       {
           {Rule::Kind::kAtMostOne, {"endpoint", "endpoints"}},
           {Rule::Kind::kOneRequired,
            {"endpoint", "endpoints"},
            "source",
            "zmq",
            "source \"zmq\" needs the endpoint a detector or stemflow-sim sends on"},
           {Rule::Kind::kOneRequired,
            {"path"},
            "source",
            "file",
            "source \"file\" needs the file to replay"},
       }},
      {"scan",
       "The scan. Files without a header need its shape; for a stream, the series header wins and "
       "a different shape here is logged.",
       {
           {"shape",
            KeyType::kIntArray,
            "-",
            "positions",
            "[rows, cols] = (Rx, Ry) of the scan",
            {},
            between(1, 1 << 20)},
       }},
      {"pipeline",
       "How batches flow.",
       {
           {"device",
            KeyType::kString,
            "\"auto\"",
            "",
            "where operators run: auto (CUDA device 0 when the build has CUDA and a GPU is "
            "present), "
            "cpu, cuda (an error without a GPU). On CUDA, bragg_disks (precision f32), "
            "virtual_image, "
            "center_of_mass, mean_pattern and max_pattern run on the GPU in one pass per batch; "
            "the "
            "log says which, and the results file records the device",
            {"auto", "cpu", "cuda"}},
           {"batch_frames",
            KeyType::kInt,
            "64",
            "frames",
            "frames per batch (reduced automatically so that the pool holds at least 2 batches)",
            {},
            between(1, 1 << 20)},
           // The pool must hold two batches of at least one frame; 1 MiB holds two 512x512 u16
           // frames (Merlin quad) or sixteen 128x128 f32 ones (EMPAD): below it no detector's
           // series fits, and every series would be rejected.
           {"memory_limit",
            KeyType::kSize,
            "\"256MiB\"",
            "bytes",
            "size of the batch pool: the bound on frames in flight (e.g. \"256MiB\", \"2GiB\"); at "
            "least two frames must fit, or a series is rejected",
            {},
            at_least(1 << 20)},
           {"results_limit",
            KeyType::kSize,
            "\"4GiB\"",
            "bytes",
            "most memory one series' scan-shaped results may take (maps, coverage, peak index: "
            "about 1.5 x (2 + 8 per scalar output + 12 per peak list) bytes per scan position); a "
            "series header announcing a larger scan is refused (its frames dropped as "
            "series_rejected) before anything is allocated",
            {},
            at_least(1 << 20)},
           {"batch_timeout",
            KeyType::kFloat,
            "0.1",
            "s",
            "a partly filled batch is processed after this long (bounds latency on slow scans)",
            {},
            positive()},
           {"threads",
            KeyType::kInt,
            "0",
            "threads",
            "worker threads for operators (0 = one per core)",
            {},
            between(0, 4096)},
       }},
      {"outputs.hdf5",
       "Results as an EMD 1.0 HDF5 file (py4DSTEM layout). Present = enabled.",
       {
           {"path",
            KeyType::kString,
            "\"stemflow_{series}.h5\"",
            "",
            "output file; {series} is replaced by the series id; relative to the working "
            "directory"},
           {"if_exists",
            KeyType::kString,
            "\"rename\"",
            "",
            "when the file exists: rename (append _1, _2, ...), error (drop the results and log), "
            "overwrite",
            {"rename", "error", "overwrite"}},
           {"flush_interval",
            KeyType::kFloat,
            "1.0",
            "s",
            "while the scan runs, write the rows done so far at least this often (SWMR: readers "
            "may open the file during acquisition)",
            {},
            positive()},
       }},
      {"outputs.metrics",
       "Prometheus metrics served at http://<listen>/metrics. Present = enabled.",
       {
           {"listen",
            KeyType::kString,
            "\"127.0.0.1:9464\"",
            "",
            "host:port to serve /metrics on",
            {},
            {},
            &check_listen,
            kListenText},
       }},
      {"outputs.dashboard",
       "Live web dashboard served by the engine at http://<listen>/: the maps filling in as the "
       "scan "
       "runs, the mean diffraction pattern with the detectors, Bragg peaks under the cursor, "
       "throughput, latency and drops. Updates are server-sent events (deltas with sequence "
       "numbers; "
       "a reconnecting browser resumes). Lossy and rate-limited: it never slows the pipeline. "
       "Present = enabled.",
       {
           {"listen",
            KeyType::kString,
            "\"127.0.0.1:8080\"",
            "",
            "host:port to serve the dashboard on",
            {},
            {},
            &check_listen,
            kListenText},
           {"update_interval",
            KeyType::kFloat,
            "0.1",
            "s",
            "how often browsers get a delta (the pipeline is never waited for)",
            {},
            positive()},
           {"sample_rate",
            KeyType::kFloat,
            "10",
            "frames/s",
            "frames copied for the running mean pattern (replaced by a mean_pattern operator's "
            "image at series end); 0 = none",
            {},
            at_least(0)},
           {"max_clients",
            KeyType::kInt,
            "8",
            "browsers",
            "browsers served at once; more get 503",
            {},
            between(1, 1024)},
       }},
  };
}

}  // namespace

std::span<const SectionSpec> sections() {
  static const std::vector<SectionSpec> kSections = make_sections();
  return kSections;
}

namespace {
OperatorTypesProvider g_operator_types = nullptr;
}  // namespace

void provide_operator_types(OperatorTypesProvider provider) { g_operator_types = provider; }

std::span<const SectionSpec> operator_types() {
  // Built on first use, after every static initialiser has run: the provider is set by then.
  static const std::vector<SectionSpec> kTypes =
      g_operator_types != nullptr ? g_operator_types() : std::vector<SectionSpec>{};
  return kTypes;
}

const SectionSpec* find_section(std::string_view name) {
  for (const auto& s : sections()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const SectionSpec* find_operator_type(std::string_view type) {
  for (const auto& s : operator_types()) {
    if (s.name == type) return &s;
  }
  return nullptr;
}

const KeySpec* find_key(const SectionSpec& section, std::string_view key) {
  for (const auto& k : section.keys) {
    if (k.name == key) return &k;
  }
  return nullptr;
}

std::string schema_markdown() {
  std::ostringstream os;
  auto table = [&](const SectionSpec& s) {
    os << s.description
       << "\n\n| key | type | default | unit | valid values | description |\n"
          "|---|---|---|---|---|---|\n";
    for (const auto& k : s.keys) {
      std::string def(k.default_value);
      if (def.empty()) def = "required";
      if (def == "-") def = "(none)";
      std::string valid;
      if (k.range.bounded()) valid = k.range.text(k.type);
      if (!k.check_text.empty()) valid = k.check_text;
      if (valid.empty() && (k.type == KeyType::kFloat || k.type == KeyType::kFloatArray)) {
        valid = "finite";
      }
      for (auto c : k.choices) valid += (valid.empty() ? "`" : ", `") + std::string(c) + "`";
      os << "| `" << k.name << "` | " << key_type_name(k.type) << " | `" << def << "` | " << k.unit
         << " | " << valid << " | " << k.description << " |\n";
    }
    for (const auto& r : s.rules) {
      std::string keys;
      for (std::size_t i = 0; i < r.keys.size(); ++i) {
        keys += (i == 0 ? "`" : "`, `") + std::string(r.keys[i]);
      }
      keys += "`";
      if (r.kind == Rule::Kind::kAtMostOne) {
        os << "\nAt most one of " << keys << ".\n";
      } else {
        os << "\nWhen `" << r.when_key << " = \"" << r.when_value << "\"`: " << keys
           << (r.keys.size() > 1 ? " (one of them)" : "") << " required"
           << (r.why.empty() ? "" : " (" + std::string(r.why) + ")") << ".\n";
      }
    }
    os << "\n";
  };
  os << "# stemflow configuration reference\n\n";
  for (const auto& s : sections()) {
    os << "## [" << s.name << "]\n\n";
    table(s);
  }
  os << "## [[operators]]\n\nEvery operator has `type` (required, one of the types below) and "
        "`name` "
        "(default: the type; names its outputs and must be unique).\n\n";
  for (const auto& s : operator_types()) {
    os << "### type = \"" << s.name << "\"\n\n";
    table(s);
  }
  return os.str();
}

}  // namespace stemflow::config
