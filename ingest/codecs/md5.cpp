// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/codecs/md5.hpp"

#include <md5.h>

static_assert(MD5_DIGEST_LENGTH == stemflow::ingest::codecs::kMd5Bytes);

namespace stemflow::ingest::codecs {

namespace {
constexpr std::string_view kHexDigits = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

Md5Digest md5(std::span<const std::uint8_t> data) {
  MD5_CTX ctx;
  MD5Init(&ctx);
  MD5Update(&ctx, data.data(), data.size());
  Md5Digest d;
  MD5Final(d.data(), &ctx);
  return d;
}

std::string md5_hex(const Md5Digest& digest) {
  std::string s(2 * kMd5Bytes, '0');
  for (std::size_t i = 0; i < kMd5Bytes; ++i) {
    s[2 * i] = kHexDigits[digest[i] >> 4];
    s[2 * i + 1] = kHexDigits[digest[i] & 0xF];
  }
  return s;
}

std::optional<Md5Digest> parse_md5_hex(std::string_view hex) {
  if (hex.size() != 2 * kMd5Bytes) return std::nullopt;
  Md5Digest d;
  for (std::size_t i = 0; i < kMd5Bytes; ++i) {
    const int hi = hex_value(hex[2 * i]);
    const int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    d[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return d;
}

}  // namespace stemflow::ingest::codecs
