// SPDX-License-Identifier: GPL-3.0-or-later
// MD5 (RFC 1321) of a byte string, through libmd (Debian libmd-dev, the BSD <md5.h>). DECTRIS
// stream V1 carries the md5 of every image blob in its "hash" field (docs/protocols.md
// section 1.1). An integrity check against damage in transit or in memory, not a security measure.
// Costs about 1.4 ns per byte on one core (MD5 is serial within one message; OpenSSL's assembly is
// only ~5% faster).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace stemflow::ingest::codecs {

constexpr std::size_t kMd5Bytes = 16;
using Md5Digest = std::array<std::uint8_t, kMd5Bytes>;

Md5Digest md5(std::span<const std::uint8_t> data);
//! 32 lower-case hex digits, as Python's hashlib.md5(data).hexdigest() writes them.
std::string md5_hex(const Md5Digest& digest);
//! The digest written as 32 hex digits (either case); nullopt for anything else.
std::optional<Md5Digest> parse_md5_hex(std::string_view hex);

}  // namespace stemflow::ingest::codecs
