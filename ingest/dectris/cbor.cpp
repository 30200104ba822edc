// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/dectris/cbor.hpp"

#include <cbor.h>

#include <cstring>
#include <string>

namespace stemflow::ingest::cbor {

// Turns libcbor's stream of decoder callbacks into the pre-order node list.
struct Builder {
  std::vector<Node>& nodes;
  // Open containers: node index and children still expected.
  std::vector<std::pair<std::uint32_t, std::uint64_t>> stack;
  bool done = false;
  const char* error = nullptr;

  void close_completed() {
    while (!stack.empty() && stack.back().second == 0) {
      nodes[stack.back().first].end = static_cast<std::uint32_t>(nodes.size());
      stack.pop_back();
      child_done();
    }
    if (stack.empty()) done = true;
  }
  void child_done() {
    if (!stack.empty()) --stack.back().second;
  }
  void add(Node n, std::uint64_t children) {
    if (error != nullptr) return;
    if (nodes.size() >= CborDocument::kMaxNodes) {
      error = "too many items";
      return;
    }
    const auto idx = static_cast<std::uint32_t>(nodes.size());
    n.end = idx + 1;
    nodes.push_back(n);
    if (children > 0) {
      if (stack.size() >= CborDocument::kMaxDepth) {
        error = "nested too deeply";
        return;
      }
      stack.emplace_back(idx, children);
      return;
    }
    child_done();
    close_completed();
  }
  static Builder& of(void* ctx) { return *static_cast<Builder*>(ctx); }
};

namespace {

void on_uint(void* c, std::uint64_t v) {
  Node n;
  n.kind = Kind::kUint;
  n.u = v;
  Builder::of(c).add(n, 0);
}
void on_u8(void* c, std::uint8_t v) { on_uint(c, v); }
void on_u16(void* c, std::uint16_t v) { on_uint(c, v); }
void on_u32(void* c, std::uint32_t v) { on_uint(c, v); }
void on_neg(void* c, std::uint64_t v) {
  Node n;
  n.kind = Kind::kNegint;
  n.u = v;
  Builder::of(c).add(n, 0);
}
void on_n8(void* c, std::uint8_t v) { on_neg(c, v); }
void on_n16(void* c, std::uint16_t v) { on_neg(c, v); }
void on_n32(void* c, std::uint32_t v) { on_neg(c, v); }
void on_bytes(void* c, cbor_data d, std::size_t len) {
  Node n;
  n.kind = Kind::kBytes;
  n.bytes = {d, len};
  Builder::of(c).add(n, 0);
}
void on_text(void* c, cbor_data d, std::size_t len) {
  Node n;
  n.kind = Kind::kText;
  n.bytes = {d, len};
  Builder::of(c).add(n, 0);
}
void on_array(void* c, std::size_t len) {
  Node n;
  n.kind = Kind::kArray;
  n.u = len;
  Builder::of(c).add(n, len);
}
void on_map(void* c, std::size_t len) {
  Node n;
  n.kind = Kind::kMap;
  n.u = len;
  // Guard the doubling: a hostile length must not wrap.
  Builder::of(c).add(
      n, len > (std::uint64_t{1} << 40) ? (std::uint64_t{1} << 41) : 2 * std::uint64_t{len});
}
void on_tag(void* c, std::uint64_t t) {
  Node n;
  n.kind = Kind::kTag;
  n.u = t;
  Builder::of(c).add(n, 1);
}
void on_f4(void* c, float v) {
  Node n;
  n.kind = Kind::kFloat;
  n.f = v;
  Builder::of(c).add(n, 0);
}
void on_f8(void* c, double v) {
  Node n;
  n.kind = Kind::kFloat;
  n.f = v;
  Builder::of(c).add(n, 0);
}
void on_bool(void* c, bool v) {
  Node n;
  n.kind = Kind::kBool;
  n.b = v;
  Builder::of(c).add(n, 0);
}
void on_null(void* c) { Builder::of(c).add(Node{}, 0); }
void on_undef(void* c) {
  Node n;
  n.kind = Kind::kUndefined;
  Builder::of(c).add(n, 0);
}
void on_indefinite(void* c) { Builder::of(c).error = "indefinite-length items are not supported"; }

const cbor_callbacks& callbacks() {
  static const cbor_callbacks kCallbacks = [] {
    cbor_callbacks cb = cbor_empty_callbacks;
    cb.uint8 = on_u8;
    cb.uint16 = on_u16;
    cb.uint32 = on_u32;
    cb.uint64 = on_uint;
    cb.negint8 = on_n8;
    cb.negint16 = on_n16;
    cb.negint32 = on_n32;
    cb.negint64 = on_neg;
    cb.byte_string = on_bytes;  // definite (libcbor names the indefinite start byte_string_start)
    cb.byte_string_start = on_indefinite;
    cb.string = on_text;
    cb.string_start = on_indefinite;
    cb.array_start = on_array;
    cb.indef_array_start = on_indefinite;
    cb.map_start = on_map;
    cb.indef_map_start = on_indefinite;
    cb.tag = on_tag;
    cb.float2 = on_f4;
    cb.float4 = on_f4;
    cb.float8 = on_f8;
    cb.boolean = on_bool;
    cb.null = on_null;
    cb.undefined = on_undef;
    cb.indef_break = on_indefinite;
    return cb;
  }();
  return kCallbacks;
}

}  // namespace

Expected<void> CborDocument::parse(std::span<const std::uint8_t> bytes) {
  nodes_.clear();
  Builder b{nodes_, {}, false, nullptr};
  std::size_t pos = 0;
  while (!b.done) {
    if (pos >= bytes.size()) return make_drop(DropReason::kMalformed, "CBOR item truncated");
    const auto r = cbor_stream_decode(bytes.data() + pos, bytes.size() - pos, &callbacks(), &b);
    if (r.status == CBOR_DECODER_NEDATA) {
      return make_drop(DropReason::kMalformed, "CBOR item truncated");
    }
    if (r.status != CBOR_DECODER_FINISHED || r.read == 0) {
      return make_drop(DropReason::kMalformed, "invalid CBOR at byte " + std::to_string(pos));
    }
    if (b.error != nullptr) {
      return make_drop(DropReason::kMalformed, std::string("CBOR: ") + b.error);
    }
    pos += r.read;
  }
  return {};
}

std::optional<std::uint32_t> CborDocument::find(std::uint32_t map, std::string_view key) const {
  if (map >= nodes_.size() || nodes_[map].kind != Kind::kMap) return std::nullopt;
  const std::uint32_t end = nodes_[map].end;
  for (std::uint32_t k = map + 1; k < end;) {
    const std::uint32_t v = nodes_[k].end;
    if (v >= end) break;
    const Node& kn = nodes_[k];
    if (kn.kind == Kind::kText &&
        std::string_view(reinterpret_cast<const char*>(kn.bytes.data()), kn.bytes.size()) == key) {
      return v;
    }
    k = nodes_[v].end;
  }
  return std::nullopt;
}

std::uint32_t CborDocument::untag(std::uint32_t i) const {
  while (i < nodes_.size() && nodes_[i].kind == Kind::kTag) ++i;
  return i;
}

std::optional<std::uint64_t> CborDocument::as_uint(std::uint32_t i) const {
  i = untag(i);
  if (i >= nodes_.size() || nodes_[i].kind != Kind::kUint) return std::nullopt;
  return nodes_[i].u;
}

std::optional<double> CborDocument::as_number(std::uint32_t i) const {
  i = untag(i);
  if (i >= nodes_.size()) return std::nullopt;
  const Node& n = nodes_[i];
  if (n.kind == Kind::kFloat) return n.f;
  if (n.kind == Kind::kUint) return static_cast<double>(n.u);
  if (n.kind == Kind::kNegint) return -1.0 - static_cast<double>(n.u);
  return std::nullopt;
}

std::optional<std::string_view> CborDocument::as_text(std::uint32_t i) const {
  i = untag(i);
  if (i >= nodes_.size() || nodes_[i].kind != Kind::kText) return std::nullopt;
  return std::string_view(reinterpret_cast<const char*>(nodes_[i].bytes.data()),
                          nodes_[i].bytes.size());
}

std::vector<std::uint32_t> CborDocument::children(std::uint32_t i) const {
  std::vector<std::uint32_t> out;
  if (i >= nodes_.size()) return out;
  for (std::uint32_t c = i + 1; c < nodes_[i].end; c = nodes_[c].end) out.push_back(c);
  return out;
}

// ---- writer
// ---------------------------------------------------------------------------------------

CborWriter::CborWriter(std::vector<std::uint8_t>& out) : out_(out) { out_.clear(); }

template <class F>
CborWriter& CborWriter::put(F&& encode) {
  unsigned char head[16];
  const std::size_t n = encode(head, sizeof(head));
  out_.insert(out_.end(), head, head + n);
  return *this;
}

CborWriter& CborWriter::uint(std::uint64_t v) {
  return put([&](unsigned char* p, std::size_t s) { return cbor_encode_uint(v, p, s); });
}
CborWriter& CborWriter::integer(std::int64_t v) {
  if (v >= 0) return uint(static_cast<std::uint64_t>(v));
  return put([&](unsigned char* p, std::size_t s) {
    return cbor_encode_negint(static_cast<std::uint64_t>(-(v + 1)), p, s);
  });
}
CborWriter& CborWriter::text(std::string_view t) {
  put([&](unsigned char* p, std::size_t s) { return cbor_encode_string_start(t.size(), p, s); });
  out_.insert(out_.end(), t.begin(), t.end());
  return *this;
}
CborWriter& CborWriter::bytes_header(std::size_t n) {
  return put(
      [&](unsigned char* p, std::size_t s) { return cbor_encode_bytestring_start(n, p, s); });
}
CborWriter& CborWriter::bytes(std::span<const std::uint8_t> b) {
  bytes_header(b.size());
  return raw(b);
}
CborWriter& CborWriter::raw(std::span<const std::uint8_t> b) {
  out_.insert(out_.end(), b.begin(), b.end());
  return *this;
}
CborWriter& CborWriter::array(std::size_t n) {
  return put([&](unsigned char* p, std::size_t s) { return cbor_encode_array_start(n, p, s); });
}
CborWriter& CborWriter::map(std::size_t n) {
  return put([&](unsigned char* p, std::size_t s) { return cbor_encode_map_start(n, p, s); });
}
CborWriter& CborWriter::tag(std::uint64_t t) {
  return put([&](unsigned char* p, std::size_t s) { return cbor_encode_tag(t, p, s); });
}
CborWriter& CborWriter::number(double v) {
  return put([&](unsigned char* p, std::size_t s) { return cbor_encode_double(v, p, s); });
}
CborWriter& CborWriter::boolean(bool v) {
  return put([&](unsigned char* p, std::size_t s) { return cbor_encode_bool(v, p, s); });
}
CborWriter& CborWriter::null() {
  return put([&](unsigned char* p, std::size_t s) { return cbor_encode_null(p, s); });
}

}  // namespace stemflow::ingest::cbor
