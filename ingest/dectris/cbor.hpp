// SPDX-License-Identifier: GPL-3.0-or-later
// CBOR (RFC 8949) through libcbor: CborDocument decodes one data item with libcbor's streaming
// decoder into a flat, reusable node list whose byte and text strings point into the message (no
// copy of the pixels); CborWriter encodes with libcbor's encoders into a growable buffer.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "pipeline/core/expected.hpp"

namespace stemflow::ingest::cbor {

enum class Kind : std::uint8_t {
  kUint,
  kNegint,
  kBytes,
  kText,
  kArray,
  kMap,
  kTag,
  kFloat,
  kBool,
  kNull,
  kUndefined
};

struct Node {
  Kind kind = Kind::kNull;
  bool b = false;
  std::uint64_t u = 0;  // uint value; negint n for -1-n; tag number; array/map item count
  double f = 0;
  std::span<const std::uint8_t> bytes;  // byte or text string, inside the decoded buffer
  std::uint32_t end = 0;                // index one past this node's subtree
};

//! One decoded data item. Nodes are in pre-order: a container's (or tag's) first child is the next
//! node, and each child's `end` is its next sibling. Parsing reuses the node storage.
class CborDocument {
 public:
  static constexpr std::size_t kMaxDepth = 32;
  static constexpr std::size_t kMaxNodes = 1 << 20;

  //! Errors: "malformed" (invalid or truncated item, indefinite lengths, too deep or too large).
  //! `bytes` must outlive the document's use.
  Expected<void> parse(std::span<const std::uint8_t> bytes);

  const Node& operator[](std::uint32_t i) const { return nodes_[i]; }
  std::uint32_t size() const { return static_cast<std::uint32_t>(nodes_.size()); }

  //! The value of text key `key` in map `map`, if present (not a map: nullopt).
  std::optional<std::uint32_t> find(std::uint32_t map, std::string_view key) const;
  //! Skips tags: returns the first untagged node under `i`.
  std::uint32_t untag(std::uint32_t i) const;
  std::optional<std::uint64_t> as_uint(std::uint32_t i) const;
  std::optional<double> as_number(std::uint32_t i) const;
  std::optional<std::string_view> as_text(std::uint32_t i) const;
  //! Children of container `i` (for a map: keys and values alternate).
  std::vector<std::uint32_t> children(std::uint32_t i) const;

 private:
  friend struct Builder;
  std::vector<Node> nodes_;
};

class CborWriter {
 public:
  //! Appends to `out`, which is cleared first.
  explicit CborWriter(std::vector<std::uint8_t>& out);
  CborWriter& uint(std::uint64_t v);
  CborWriter& integer(std::int64_t v);
  CborWriter& text(std::string_view s);
  CborWriter& bytes(std::span<const std::uint8_t> b);
  CborWriter& array(std::size_t n);
  CborWriter& map(std::size_t n);
  CborWriter& tag(std::uint64_t t);
  CborWriter& number(double v);
  CborWriter& boolean(bool v);
  CborWriter& null();
  //! Raw bytes, already CBOR (or the body of a byte string whose header was written).
  CborWriter& raw(std::span<const std::uint8_t> b);
  CborWriter& bytes_header(std::size_t n);

 private:
  template <class F>
  CborWriter& put(F&& encode);
  std::vector<std::uint8_t>& out_;
};

}  // namespace stemflow::ingest::cbor
