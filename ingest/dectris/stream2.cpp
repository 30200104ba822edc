// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/dectris/stream2.hpp"

#include <fmt/format.h>

namespace stemflow::ingest::stream2 {

namespace {

using cbor::CborDocument;
using cbor::Kind;

std::optional<Dtype> dtype_of_tag(std::uint64_t tag) {
  switch (tag) {
    case 64:
      return Dtype::kU8;
    case 69:
      return Dtype::kU16;
    case 70:
      return Dtype::kU32;
    case 85:
      return Dtype::kF32;
  }
  return std::nullopt;
}

// A scalar as text for the series metadata; empty for containers.
std::string scalar_text(const CborDocument& doc, std::uint32_t i) {
  i = doc.untag(i);
  const auto& n = doc[i];
  switch (n.kind) {
    case Kind::kUint:
      return std::to_string(n.u);
    case Kind::kNegint:
      return "-" + std::to_string(n.u + 1);
    case Kind::kFloat:
      return fmt::format("{}", n.f);
    case Kind::kBool:
      return n.b ? "true" : "false";
    case Kind::kText:
      return std::string(*doc.as_text(i));
    default:
      return {};
  }
}

Expected<Message> decode_start(const CborDocument& doc, std::uint32_t root) {
  Start s;
  const auto id = doc.find(root, "series_id");
  const auto dt = doc.find(root, "image_dtype");
  const auto sx = doc.find(root, "image_size_x");
  const auto sy = doc.find(root, "image_size_y");
  const auto n = doc.find(root, "number_of_images");
  if (!id || !dt || !sx || !sy || !n || !doc.as_uint(*id) || !doc.as_text(*dt) ||
      !doc.as_uint(*sx) || !doc.as_uint(*sy) || !doc.as_uint(*n)) {
    return make_drop(DropReason::kMalformed,
                     "start message without series_id, image_dtype, image_size_x/y or "
                     "number_of_images");
  }
  s.series_id = *doc.as_uint(*id);
  const auto dtype = parse_dtype(*doc.as_text(*dt));
  if (!dtype) {
    return make_drop(DropReason::kWrongDtype,
                     "image_dtype '" + std::string(*doc.as_text(*dt)) + "'");
  }
  s.dtype = *dtype;
  const auto x = *doc.as_uint(*sx), y = *doc.as_uint(*sy);
  if (x == 0 || y == 0 || x > (1u << 20) || y > (1u << 20)) {
    return make_drop(DropReason::kMalformed, fmt::format("image size {}x{}", x, y));
  }
  s.image_size_x = static_cast<std::uint32_t>(x);
  s.image_size_y = static_cast<std::uint32_t>(y);
  s.number_of_images = *doc.as_uint(*n);
  if (auto u = doc.find(root, "series_unique_id"); u && doc.as_text(*u)) {
    s.series_unique_id = std::string(*doc.as_text(*u));
  }
  if (auto d = doc.find(root, "detector_description"); d && doc.as_text(*d)) {
    s.detector_description = std::string(*doc.as_text(*d));
  }
  if (auto c = doc.find(root, "channels"); c && doc[doc.untag(*c)].kind == Kind::kArray) {
    for (auto e : doc.children(doc.untag(*c))) {
      if (auto t = doc.as_text(e)) s.channels.emplace_back(*t);
    }
  }
  if (auto u = doc.find(root, "user_data")) {
    if (auto st = doc.find(doc.untag(*u), "stemflow")) {
      if (auto sh = doc.find(doc.untag(*st), "scan_shape")) {
        const auto kids = doc.children(doc.untag(*sh));
        if (kids.size() == 2 && doc.as_uint(kids[0]) && doc.as_uint(kids[1])) {
          s.scan_shape =
              std::array<std::uint32_t, 2>{static_cast<std::uint32_t>(*doc.as_uint(kids[0])),
                                           static_cast<std::uint32_t>(*doc.as_uint(kids[1]))};
        }
      }
    }
  }
  // Scalars (and the per-channel threshold energies) become series metadata.
  const auto kids = doc.children(root);
  for (std::size_t k = 0; k + 1 < kids.size(); k += 2) {
    const auto key = doc.as_text(kids[k]);
    if (!key || *key == "type") continue;
    const std::uint32_t v = doc.untag(kids[k + 1]);
    if (doc[v].kind == Kind::kMap && *key == "threshold_energy") {
      const auto th = doc.children(v);
      for (std::size_t t = 0; t + 1 < th.size(); t += 2) {
        if (auto ch = doc.as_text(th[t])) {
          s.metadata["threshold_energy." + std::string(*ch)] = scalar_text(doc, th[t + 1]);
        }
      }
      continue;
    }
    auto text = scalar_text(doc, v);
    if (!text.empty()) s.metadata[std::string(*key)] = std::move(text);
  }
  return s;
}

Expected<Message> decode_image(const CborDocument& doc,
                               std::uint32_t root,
                               std::string_view channel) {
  Image im;
  const auto id = doc.find(root, "series_id");
  const auto img = doc.find(root, "image_id");
  const auto data = doc.find(root, "data");
  if (!id || !img || !data || !doc.as_uint(*id) || !doc.as_uint(*img)) {
    return make_drop(DropReason::kMalformed, "image message without series_id, image_id or data");
  }
  im.series_id = *doc.as_uint(*id);
  im.image_id = *doc.as_uint(*img);
  if (auto u = doc.find(root, "series_unique_id"); u && doc.as_text(*u)) {
    im.series_unique_id = std::string(*doc.as_text(*u));
  }
  const std::uint32_t dmap = doc.untag(*data);
  if (doc[dmap].kind != Kind::kMap || doc[dmap].u == 0) {
    return make_drop(DropReason::kMalformed, "image data is not a map of channels");
  }
  std::uint32_t v = 0;
  if (channel.empty()) {
    v = doc[dmap + 1].end;  // the value of the first key
  } else {
    auto found = doc.find(dmap, channel);
    if (!found) {
      return make_drop(DropReason::kMalformed,
                       "image without channel '" + std::string(channel) + "'");
    }
    v = *found;
  }
  // 40([[rows, cols], typed array])
  if (doc[v].kind != Kind::kTag || doc[v].u != kMultiDimRowMajorTag) {
    if (doc[v].kind == Kind::kTag && doc[v].u == kMultiDimColumnMajorTag) {
      return make_drop(DropReason::kMalformed, "column-major images (tag 1040) are not supported");
    }
    return make_drop(DropReason::kMalformed,
                     "image channel is not a multi-dimensional array (tag 40)");
  }
  const std::uint32_t arr = v + 1;
  const auto parts = doc.children(arr);
  if (doc[arr].kind != Kind::kArray || parts.size() != 2) {
    return make_drop(DropReason::kMalformed, "multi-dimensional array is not [dims, data]");
  }
  const auto dims = doc.children(parts[0]);
  if (dims.size() != 2 || !doc.as_uint(dims[0]) || !doc.as_uint(dims[1])) {
    return make_drop(DropReason::kMalformed, "image dims are not [rows, cols]");
  }
  im.rows = static_cast<std::uint32_t>(std::min<std::uint64_t>(*doc.as_uint(dims[0]), 1u << 30));
  im.cols = static_cast<std::uint32_t>(std::min<std::uint64_t>(*doc.as_uint(dims[1]), 1u << 30));
  const std::uint32_t ta = parts[1];
  if (doc[ta].kind != Kind::kTag) {
    return make_drop(DropReason::kMalformed, "image data is not a typed array");
  }
  const auto dtype = dtype_of_tag(doc[ta].u);
  if (!dtype) {
    return make_drop(
        DropReason::kWrongDtype,
        "typed array tag " + std::to_string(doc[ta].u) + " (only little-endian u8/u16/u32/f32)");
  }
  im.dtype = *dtype;
  im.elem_size = static_cast<std::uint32_t>(dtype_size(*dtype));
  const std::uint32_t content = ta + 1;
  if (doc[content].kind == Kind::kBytes) {
    im.codec = codecs::Codec::kNone;
    im.data = doc[content].bytes;
    return im;
  }
  if (doc[content].kind != Kind::kTag || doc[content].u != kCompressionTag) {
    return make_drop(DropReason::kMalformed,
                     "typed array holds neither bytes nor a compressed byte string (56500)");
  }
  const auto comp = doc.children(content + 1);
  if (doc[content + 1].kind != Kind::kArray || comp.size() != 3 || !doc.as_text(comp[0]) ||
      !doc.as_uint(comp[1]) || doc[comp[2]].kind != Kind::kBytes) {
    return make_drop(DropReason::kMalformed,
                     "compression tag 56500 content is not [algorithm, modifier, bytes]");
  }
  const auto alg = *doc.as_text(comp[0]);
  if (alg == "bslz4") {
    im.codec = codecs::Codec::kBslz4;
    im.elem_size =
        static_cast<std::uint32_t>(std::min<std::uint64_t>(*doc.as_uint(comp[1]), 1u << 16));
  } else if (alg == "lz4") {
    im.codec = codecs::Codec::kLz4Hdf5;
  } else {
    return make_drop(DropReason::kDecodeError,
                     "compression '" + std::string(alg) + "' is not supported");
  }
  im.data = doc[comp[2]].bytes;
  return im;
}

}  // namespace

std::uint64_t typed_array_tag(Dtype d) {
  switch (d) {
    case Dtype::kU8:
      return 64;
    case Dtype::kU16:
      return 69;
    case Dtype::kU32:
      return 70;
    case Dtype::kF32:
      return 85;
  }
  return 64;
}

Expected<Message> decode(std::span<const std::uint8_t> bytes,
                         CborDocument& doc,
                         std::string_view channel) {
  if (auto r = doc.parse(bytes); !r) return tl::unexpected(r.error());
  std::uint32_t root = 0;
  // stream2.c requires the self-described CBOR tag; we accept its absence (it adds nothing).
  if (doc[0].kind == Kind::kTag) {
    if (doc[0].u != kSelfDescribedTag) {
      return make_drop(DropReason::kUnknownMessage,
                       "message starts with tag " + std::to_string(doc[0].u));
    }
    root = 1;
  }
  if (doc[root].kind != Kind::kMap) {
    return make_drop(DropReason::kMalformed, "message is not a CBOR map");
  }
  const auto t = doc.find(root, "type");
  const auto type = t ? doc.as_text(*t) : std::nullopt;
  if (!type) return make_drop(DropReason::kMalformed, "message without a text 'type'");
  if (*type == "image") return decode_image(doc, root, channel);
  if (*type == "start") return decode_start(doc, root);
  if (*type == "end") {
    End e;
    const auto id = doc.find(root, "series_id");
    if (!id || !doc.as_uint(*id)) {
      return make_drop(DropReason::kMalformed, "end message without series_id");
    }
    e.series_id = *doc.as_uint(*id);
    if (auto u = doc.find(root, "series_unique_id"); u && doc.as_text(*u)) {
      e.series_unique_id = std::string(*doc.as_text(*u));
    }
    return e;
  }
  return make_drop(DropReason::kUnknownMessage, "message type '" + std::string(*type) + "'");
}

void encode_start(const Start& s, std::vector<std::uint8_t>& out) {
  cbor::CborWriter w(out);
  const std::size_t fields = 9 + s.metadata.size() + (s.scan_shape ? 1 : 0);
  w.tag(kSelfDescribedTag).map(fields);
  w.text("type").text("start");
  w.text("series_id").uint(s.series_id);
  w.text("series_unique_id").text(s.series_unique_id);
  w.text("channels").array(s.channels.size());
  for (const auto& c : s.channels) w.text(c);
  w.text("image_dtype")
      .text(s.dtype == Dtype::kU8    ? "uint8"
            : s.dtype == Dtype::kU16 ? "uint16"
            : s.dtype == Dtype::kU32 ? "uint32"
                                     : "float32");
  w.text("image_size_x").uint(s.image_size_x);
  w.text("image_size_y").uint(s.image_size_y);
  w.text("number_of_images").uint(s.number_of_images);
  w.text("detector_description").text(s.detector_description);
  for (const auto& [k, v] : s.metadata) w.text(k).text(v);
  if (s.scan_shape) {
    w.text("user_data").map(1).text("stemflow").map(1).text("scan_shape").array(2);
    w.uint((*s.scan_shape)[0]).uint((*s.scan_shape)[1]);
  }
}

void encode_image(std::uint64_t series_id,
                  std::string_view unique_id,
                  std::uint64_t image_id,
                  std::uint32_t rows,
                  std::uint32_t cols,
                  Dtype dtype,
                  std::span<const ChannelData> channels,
                  std::vector<std::uint8_t>& out) {
  cbor::CborWriter w(out);
  w.tag(kSelfDescribedTag).map(6);
  w.text("type").text("image");
  w.text("series_id").uint(series_id);
  w.text("series_unique_id").text(unique_id);
  w.text("image_id").uint(image_id);
  w.text("real_time").array(2).uint(1).uint(100000000);
  w.text("data").map(channels.size());
  for (const auto& c : channels) {
    w.text(c.name).tag(kMultiDimRowMajorTag).array(2).array(2).uint(rows).uint(cols);
    w.tag(typed_array_tag(dtype));
    if (c.codec == codecs::Codec::kNone) {
      w.bytes(c.bytes);
      continue;
    }
    w.tag(kCompressionTag).array(3);
    w.text(c.codec == codecs::Codec::kBslz4 ? "bslz4" : "lz4");
    w.uint(c.codec == codecs::Codec::kBslz4 ? dtype_size(dtype) : 0);
    w.bytes(c.bytes);
  }
}

void encode_end(const End& e, std::vector<std::uint8_t>& out) {
  cbor::CborWriter w(out);
  w.tag(kSelfDescribedTag).map(3);
  w.text("type").text("end");
  w.text("series_id").uint(e.series_id);
  w.text("series_unique_id").text(e.series_unique_id);
}

}  // namespace stemflow::ingest::stream2
