// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/dectris/stream1.hpp"

#include <nlohmann/json.hpp>

namespace stemflow::ingest::stream1 {

namespace {

using nlohmann::json;

std::optional<json> parse_json(std::span<const std::uint8_t> part) {
  json j = json::parse(part.begin(), part.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

// A text field, `fallback` when absent. json::value() would throw on a field of another type; a
// sender's mistake must be a dropped message, so that is an error "malformed" here.
Expected<std::string> get_text(const json& j, const char* key, std::string fallback = {}) {
  auto it = j.find(key);
  if (it == j.end()) return fallback;
  if (!it->is_string()) {
    return make_drop(DropReason::kMalformed, std::string("'") + key + "' is not a string");
  }
  return it->get<std::string>();
}

std::optional<std::uint64_t> get_uint(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer() || it->get<std::int64_t>() < 0) return std::nullopt;
  return it->get<std::uint64_t>();
}

std::string type_name(Dtype d) {
  switch (d) {
    case Dtype::kU8:
      return "uint8";
    case Dtype::kU16:
      return "uint16";
    case Dtype::kU32:
      return "uint32";
    case Dtype::kF32:
      return "float32";
  }
  return "?";
}

Expected<Message> decode_header(const json& h1,
                                std::span<const std::span<const std::uint8_t>> parts) {
  Header h;
  h.series = get_uint(h1, "series").value_or(0);
  auto detail = get_text(h1, "header_detail", "basic");
  if (!detail) return tl::unexpected(detail.error());
  h.header_detail = std::move(*detail);
  if (h.header_detail == "none" || parts.size() < 2) {
    // Without the detector config there is no frame shape, bit depth or frame count.
    return make_drop(DropReason::kMalformed,
                     "global header without detector config (header_detail none)");
  }
  auto cfg = parse_json(parts[1]);
  if (!cfg) return make_drop(DropReason::kMalformed, "global header part 2 is not a JSON object");
  const auto x = get_uint(*cfg, "x_pixels_in_detector");
  const auto y = get_uint(*cfg, "y_pixels_in_detector");
  const auto bits = get_uint(*cfg, "bit_depth_image");
  if (!x || !y || !bits || *x == 0 || *y == 0 || *x > (1u << 20) || *y > (1u << 20)) {
    return make_drop(DropReason::kMalformed,
                     "detector config without x/y_pixels_in_detector or bit_depth_image");
  }
  h.x_pixels = static_cast<std::uint32_t>(*x);
  h.y_pixels = static_cast<std::uint32_t>(*y);
  switch (*bits) {
    case 8:
      h.dtype = Dtype::kU8;
      break;
    case 16:
      h.dtype = Dtype::kU16;
      break;
    case 32:
      h.dtype = Dtype::kU32;
      break;
    default:
      return make_drop(DropReason::kWrongDtype, "bit_depth_image " + std::to_string(*bits));
  }
  const auto nimages = get_uint(*cfg, "nimages").value_or(1);
  const auto ntrigger = get_uint(*cfg, "ntrigger").value_or(1);
  const auto trigger = get_text(*cfg, "trigger_mode", "ints");
  auto description = get_text(*cfg, "description");
  auto compression = get_text(*cfg, "compression");
  if (!trigger) return tl::unexpected(trigger.error());
  if (!description) return tl::unexpected(description.error());
  if (!compression) return tl::unexpected(compression.error());
  h.frames = (*trigger == "exte" || *trigger == "inte") ? ntrigger : nimages * ntrigger;
  h.description = std::move(*description);
  h.compression = std::move(*compression);
  if (auto s = cfg->find("stemflow_scan_shape"); s != cfg->end() && s->is_array() &&
                                                 s->size() == 2 && (*s)[0].is_number_unsigned() &&
                                                 (*s)[1].is_number_unsigned()) {
    h.scan_shape =
        std::array<std::uint32_t, 2>{(*s)[0].get<std::uint32_t>(), (*s)[1].get<std::uint32_t>()};
  }
  for (const auto& [k, v] : cfg->items()) {
    if (v.is_primitive() && !v.is_null())
      h.metadata[k] = v.is_string() ? v.get<std::string>() : v.dump();
  }
  return h;
}

Expected<Message> decode_image(const json& h1,
                               std::span<const std::span<const std::uint8_t>> parts) {
  Image im;
  const auto series = get_uint(h1, "series");
  const auto frame = get_uint(h1, "frame");
  if (!series || !frame) {
    return make_drop(DropReason::kMalformed, "dimage-1.0 without series or frame");
  }
  im.series = *series;
  im.frame = *frame;
  // "hash": absent, null and "" mean that the sender did not hash.
  if (auto hash = h1.find("hash"); hash != h1.end() && !hash->is_null()) {
    if (hash->is_string()) {
      const auto& hex = hash->get_ref<const std::string&>();
      if (!hex.empty()) im.md5 = codecs::parse_md5_hex(hex);
      im.md5_malformed = !hex.empty() && !im.md5;
    } else {
      im.md5_malformed = true;
    }
  }
  if (parts.size() < 3) {
    return make_drop(DropReason::kMalformed, "image message with fewer than 3 parts");
  }
  auto d = parse_json(parts[1]);
  if (!d || get_text(*d, "htype").value_or("") != "dimage_d-1.0") {
    return make_drop(DropReason::kMalformed, "image part 2 is not dimage_d-1.0");
  }
  auto shape = d->find("shape");
  if (shape == d->end() || !shape->is_array() || shape->size() != 2 ||
      !(*shape)[0].is_number_unsigned() || !(*shape)[1].is_number_unsigned()) {
    return make_drop(DropReason::kMalformed, "dimage_d-1.0 without shape [x, y]");
  }
  im.x = static_cast<std::uint32_t>(
      std::min<std::uint64_t>((*shape)[0].get<std::uint64_t>(), 1u << 30));
  im.y = static_cast<std::uint32_t>(
      std::min<std::uint64_t>((*shape)[1].get<std::uint64_t>(), 1u << 30));
  const auto type = get_text(*d, "type");
  if (!type) return tl::unexpected(type.error());
  const auto dtype = parse_dtype(*type);
  if (!dtype) return make_drop(DropReason::kWrongDtype, "image type '" + *type + "'");
  im.dtype = *dtype;
  const auto encoding = get_text(*d, "encoding", "<");
  if (!encoding) return tl::unexpected(encoding.error());
  auto enc = parse_encoding(*encoding, dtype_size(*dtype));
  if (!enc) return tl::unexpected(enc.error());
  im.codec = enc->first;
  im.elem_size = enc->second;
  im.data = parts[2];
  if (auto size = get_uint(*d, "size"); size && *size != im.data.size()) {
    return make_drop(DropReason::kWrongSize,
                     "blob of " + std::to_string(im.data.size()) + " bytes, dimage_d says " +
                         std::to_string(*size));
  }
  return im;
}

}  // namespace

Expected<std::pair<codecs::Codec, std::uint32_t>> parse_encoding(std::string_view e,
                                                                 std::size_t elem_size) {
  if (!e.empty() && e.back() == '>') {
    return make_drop(DropReason::kWrongDtype, "big-endian pixels ('" + std::string(e) + "')");
  }
  if (!e.empty() && e.back() == '<') e.remove_suffix(1);
  if (e.empty()) return std::pair{codecs::Codec::kNone, static_cast<std::uint32_t>(elem_size)};
  if (e == "lz4") return std::pair{codecs::Codec::kLz4Block, static_cast<std::uint32_t>(elem_size)};
  for (std::uint32_t bits : {8u, 16u, 32u}) {
    const std::string bs = "bs" + std::to_string(bits);
    if (e == bs + "-lz4" || e == bs + "lz4") {
      if (bits / 8 != elem_size) {
        return make_drop(
            DropReason::kWrongDtype,
            "encoding " + std::string(e) + " for " + std::to_string(elem_size * 8) + "-bit pixels");
      }
      return std::pair{codecs::Codec::kBslz4, bits / 8};
    }
  }
  return make_drop(DropReason::kDecodeError, "encoding '" + std::string(e) + "' is not supported");
}

std::string encoding_name(codecs::Codec codec, std::size_t elem_size) {
  switch (codec) {
    case codecs::Codec::kBslz4:
      return "bs" + std::to_string(elem_size * 8) + "-lz4<";
    case codecs::Codec::kLz4Block:
      return "lz4<";
    default:
      return "<";
  }
}

Expected<Message> decode(std::span<const std::span<const std::uint8_t>> parts) {
  if (parts.empty()) return make_drop(DropReason::kMalformed, "empty message");
  auto h1 = parse_json(parts[0]);
  if (!h1) return make_drop(DropReason::kMalformed, "part 1 is not a JSON object");
  const auto htype_field = get_text(*h1, "htype");
  if (!htype_field) return tl::unexpected(htype_field.error());
  const std::string& htype = *htype_field;
  if (htype == "dimage-1.0") return decode_image(*h1, parts);
  if (htype == "dheader-1.0") return decode_header(*h1, parts);
  if (htype == "dseries_end-1.0") return End{get_uint(*h1, "series").value_or(0)};
  return make_drop(DropReason::kUnknownMessage, "htype '" + htype + "'");
}

std::vector<std::string> encode_header(const Header& h) {
  json p1 = {{"htype", "dheader-1.0"}, {"series", h.series}, {"header_detail", h.header_detail}};
  json cfg = json::object();
  for (const auto& [k, v] : h.metadata) cfg[k] = v;
  cfg["x_pixels_in_detector"] = h.x_pixels;
  cfg["y_pixels_in_detector"] = h.y_pixels;
  cfg["bit_depth_image"] = dtype_size(h.dtype) * 8;
  cfg["nimages"] = h.frames;
  cfg["ntrigger"] = 1;
  cfg["trigger_mode"] = "ints";
  cfg["description"] = h.description;
  cfg["compression"] = h.compression;
  if (h.scan_shape) cfg["stemflow_scan_shape"] = {(*h.scan_shape)[0], (*h.scan_shape)[1]};
  return {p1.dump(), cfg.dump()};
}

ImageParts encode_image(std::uint64_t series,
                        std::uint64_t frame,
                        std::uint32_t rows,
                        std::uint32_t cols,
                        Dtype dtype,
                        codecs::Codec codec,
                        std::size_t blob_bytes,
                        std::string_view md5_hex) {
  ImageParts p;
  p.part1 =
      json{{"htype", "dimage-1.0"}, {"series", series}, {"frame", frame}, {"hash", md5_hex}}.dump();
  p.part2 = json{{"htype", "dimage_d-1.0"},
                 {"shape", {cols, rows}},
                 {"type", type_name(dtype)},
                 {"encoding", encoding_name(codec, dtype_size(dtype))},
                 {"size", blob_bytes}}
                .dump();
  p.part4 =
      json{{"htype", "dconfig-1.0"}, {"start_time", 0}, {"stop_time", 0}, {"real_time", 0}}.dump();
  return p;
}

std::string encode_end(std::uint64_t series) {
  return json{{"htype", "dseries_end-1.0"}, {"series", series}}.dump();
}

}  // namespace stemflow::ingest::stream1
