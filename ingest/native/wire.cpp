// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/native/wire.hpp"

#include <flatbuffers/flatbuffers.h>

#include "stemflow_wire_generated.h"

namespace stemflow::ingest::wire {

namespace fbw = stemflow::wire;

namespace {

fbw::PixelType to_wire(Dtype d) {
  switch (d) {
    case Dtype::kU8:
      return fbw::PixelType::U8;
    case Dtype::kU16:
      return fbw::PixelType::U16;
    case Dtype::kU32:
      return fbw::PixelType::U32;
    case Dtype::kF32:
      return fbw::PixelType::F32;
  }
  return fbw::PixelType::U16;
}

Expected<Dtype> from_wire(fbw::PixelType p) {
  switch (p) {
    case fbw::PixelType::U8:
      return Dtype::kU8;
    case fbw::PixelType::U16:
      return Dtype::kU16;
    case fbw::PixelType::U32:
      return Dtype::kU32;
    case fbw::PixelType::F32:
      return Dtype::kF32;
  }
  return make_drop(DropReason::kUnknownMessage, "unknown pixel type " + std::to_string(int(p)));
}

// One builder per thread: encoding must not allocate per frame once warmed up.
flatbuffers::FlatBufferBuilder& builder() {
  thread_local flatbuffers::FlatBufferBuilder b(256);
  b.Clear();
  return b;
}

void finish(flatbuffers::FlatBufferBuilder& b,
            fbw::Body type,
            flatbuffers::Offset<void> body,
            std::vector<std::uint8_t>& out) {
  auto msg = fbw::CreateMessage(b, kProtocolVersion, type, body);
  fbw::FinishMessageBuffer(b, msg);
  out.assign(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

}  // namespace

void encode_start(const SeriesHeader& h, std::vector<std::uint8_t>& out) {
  auto& b = builder();
  std::vector<flatbuffers::Offset<fbw::KeyValue>> kv;
  for (const auto& [k, v] : h.metadata) {
    kv.push_back(fbw::CreateKeyValue(b, b.CreateString(k), b.CreateString(v)));
  }
  auto md = b.CreateVectorOfSortedTables(&kv);
  auto det = b.CreateString(h.detector);
  auto start = fbw::CreateSeriesStart(b,
                                      h.series_id,
                                      h.scan_rows,
                                      h.scan_cols,
                                      h.frame_rows,
                                      h.frame_cols,
                                      to_wire(h.dtype),
                                      det,
                                      md);
  finish(b, fbw::Body::SeriesStart, start.Union(), out);
}

void encode_frame(const FrameHeader& f, std::vector<std::uint8_t>& out) {
  auto& b = builder();
  auto fr = fbw::CreateFrame(b, f.series_id, f.frame_index, to_wire(f.dtype), f.pixel_bytes);
  finish(b, fbw::Body::Frame, fr.Union(), out);
}

void encode_end(const End& e, std::vector<std::uint8_t>& out) {
  auto& b = builder();
  auto end = fbw::CreateSeriesEnd(b, e.series_id, e.frames_sent);
  finish(b, fbw::Body::SeriesEnd, end.Union(), out);
}

Expected<Message> decode(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < 8 || !fbw::MessageBufferHasIdentifier(bytes.data())) {
    return make_drop(DropReason::kMalformed,
                     "not a stemflow native message (no 'SFW1' identifier)");
  }
  flatbuffers::Verifier verifier(bytes.data(), bytes.size());
  if (!fbw::VerifyMessageBuffer(verifier)) {
    return make_drop(DropReason::kMalformed, "native message failed FlatBuffers verification");
  }
  const auto* msg = fbw::GetMessage(bytes.data());
  if (msg->protocol_version() != kProtocolVersion) {
    return make_drop(DropReason::kUnknownMessage,
                     "protocol version " + std::to_string(msg->protocol_version()) +
                         " (this engine speaks " + std::to_string(kProtocolVersion) + ")");
  }
  switch (msg->body_type()) {
    case fbw::Body::SeriesStart: {
      const auto* s = msg->body_as_SeriesStart();
      // The verifier accepts a union whose type is set and whose table is absent.
      if (s == nullptr) {
        return make_drop(DropReason::kMalformed, "SeriesStart message without its body");
      }
      auto dtype = from_wire(s->pixel_type());
      if (!dtype) return tl::unexpected(dtype.error());
      SeriesHeader h;
      h.series_id = s->series_id();
      h.scan_rows = s->scan_rows();
      h.scan_cols = s->scan_cols();
      h.frame_rows = s->frame_rows();
      h.frame_cols = s->frame_cols();
      h.dtype = *dtype;
      if (s->detector()) h.detector = s->detector()->str();
      if (s->metadata()) {
        for (const auto* kv : *s->metadata()) {
          if (kv->key() == nullptr) continue;  // a key-less entry carries nothing to keep
          h.metadata[kv->key()->str()] = kv->value() ? kv->value()->str() : "";
        }
      }
      return Message{std::move(h)};
    }
    case fbw::Body::Frame: {
      const auto* f = msg->body_as_Frame();
      // The verifier accepts a union whose type is set and whose table is absent.
      if (f == nullptr) return make_drop(DropReason::kMalformed, "Frame message without its body");
      auto dtype = from_wire(f->pixel_type());
      if (!dtype) return tl::unexpected(dtype.error());
      return Message{FrameHeader{f->series_id(), f->frame_index(), *dtype, f->pixel_bytes()}};
    }
    case fbw::Body::SeriesEnd: {
      const auto* e = msg->body_as_SeriesEnd();
      // The verifier accepts a union whose type is set and whose table is absent.
      if (e == nullptr) {
        return make_drop(DropReason::kMalformed, "SeriesEnd message without its body");
      }
      return Message{End{e->series_id(), e->frames_sent()}};
    }
    default:
      return make_drop(DropReason::kUnknownMessage,
                       "unknown native message body type " + std::to_string(int(msg->body_type())));
  }
}

}  // namespace stemflow::ingest::wire
