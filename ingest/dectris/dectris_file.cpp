// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/dectris/dectris_file.hpp"

#include <fmt/format.h>

#include <filesystem>

namespace stemflow::ingest {

namespace {

constexpr H5Z_filter_t kBitshuffleFilter = 32008;
constexpr H5Z_filter_t kLz4Filter = 32004;
constexpr unsigned kBitshuffleLz4 = 2;  // cd_values[4]: BSHUF_H5_COMPRESS_LZ4
constexpr const char* kDetector = "/entry/instrument/detector";

std::optional<Dtype> dtype_of(hid_t type) {
  if (H5Tget_class(type) != H5T_INTEGER) return std::nullopt;
  if (H5Tget_order(type) != H5T_ORDER_LE && H5Tget_size(type) > 1) return std::nullopt;
  switch (H5Tget_size(type)) {
    case 1:
      return Dtype::kU8;
    case 2:
      return Dtype::kU16;
    case 4:
      return Dtype::kU32;
  }
  return std::nullopt;
}

// Scalar datasets of a group, as metadata "<prefix><name>".
void read_group_scalars(hid_t file,
                        const std::string& group,
                        const std::string& prefix,
                        std::map<std::string, std::string>& out) {
  if (h5::object_type(file, group) != H5O_TYPE_GROUP) return;
  h5::Handle g(H5Gopen2(file, group.c_str(), H5P_DEFAULT));
  if (!g) return;
  struct Ctx {
    hid_t group;
    const std::string* prefix;
    std::map<std::string, std::string>* out;
  } ctx{g.get(), &prefix, &out};
  H5E_BEGIN_TRY {
    H5Literate(
        g.get(),
        H5_INDEX_NAME,
        H5_ITER_NATIVE,
        nullptr,
        [](hid_t, const char* name, const H5L_info_t* info, void* data) -> herr_t {
          auto* c = static_cast<Ctx*>(data);
          if (info->type != H5L_TYPE_HARD) return 0;
          if (auto v = h5::read_scalar_text(c->group, name)) (*c->out)[*c->prefix + name] = *v;
          return 0;
        },
        &ctx);
  }
  H5E_END_TRY;
}

}  // namespace

bool DectrisFileReader::probe(const std::string& path) {
  htri_t is_h5 = -1;
  H5E_BEGIN_TRY { is_h5 = H5Fis_hdf5(path.c_str()); }
  H5E_END_TRY;
  if (is_h5 <= 0) return false;
  hid_t f = H5I_INVALID_HID;
  H5E_BEGIN_TRY { f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT); }
  H5E_END_TRY;
  if (f < 0) return false;
  h5::Handle file(f);
  return h5::object_type(file.get(), "/entry/data/data") == H5O_TYPE_DATASET ||
         h5::exists(file.get(), "/entry/data/data_000001");
}

DectrisFileReader::DectrisFileReader(const std::string& path) {
  info_.format = "dectris";
  info_.path = path;
  hid_t f = H5I_INVALID_HID;
  H5E_BEGIN_TRY { f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT); }
  H5E_END_TRY;
  if (f < 0) throw ConfigError("'" + path + "' is not an HDF5 file that can be opened");
  file_ = h5::Handle(f);

  if (h5::object_type(file_.get(), "/entry/data/data") == H5O_TYPE_DATASET) {
    add_segment(h5::Handle(H5Dopen2(file_.get(), "/entry/data/data", H5P_DEFAULT)), path, true);
    info_.files.push_back(path);
  } else {
    // A master file: data_000001, data_000002, ... while the links resolve (files not yet written
    // end the series).
    for (int n = 1;; ++n) {
      const std::string name = fmt::format("/entry/data/data_{:06d}", n);
      if (!h5::exists(file_.get(), name)) break;
      hid_t ds = H5I_INVALID_HID;
      H5E_BEGIN_TRY { ds = H5Dopen2(file_.get(), name.c_str(), H5P_DEFAULT); }
      H5E_END_TRY;
      if (ds < 0) break;
      add_segment(h5::Handle(ds), path + ":" + name, n == 1);
      char target[4096] = {0};
      H5L_info_t li{};
      if (H5Lget_info(file_.get(), name.c_str(), &li, H5P_DEFAULT) >= 0 &&
          li.type == H5L_TYPE_EXTERNAL && li.u.val_size < sizeof(target) &&
          H5Lget_val(file_.get(), name.c_str(), target, sizeof(target), H5P_DEFAULT) >= 0) {
        const char* file_name = nullptr;
        const char* obj_name = nullptr;
        unsigned flags = 0;
        if (H5Lunpack_elink_val(target, li.u.val_size, &flags, &file_name, &obj_name) >= 0) {
          info_.files.push_back(file_name);
        }
      } else {
        info_.files.push_back(path + ":" + name);
      }
    }
    if (segments_.empty()) {
      throw ConfigError("'" + path +
                        "': neither /entry/data/data nor a resolvable /entry/data/data_000001 "
                        "(are the data files beside the master file?)");
    }
  }
  info_.compression = std::string(direct_ ? codecs::codec_name(codec_) : info_.compression);
  read_group_scalars(file_.get(), kDetector, "", info_.metadata);
  read_group_scalars(file_.get(), std::string(kDetector) + "/detectorSpecific", "", info_.metadata);
  if (auto w = h5::read_scalar_text(file_.get(), "/entry/instrument/beam/incident_wavelength")) {
    info_.metadata["incident_wavelength"] = *w;
  }
}

void DectrisFileReader::add_segment(h5::Handle ds, const std::string& where, bool first) {
  if (!ds) throw ConfigError(where + ": cannot open the dataset");
  h5::Handle space(H5Dget_space(ds.get()));
  hsize_t dims[3] = {0, 0, 0};
  if (H5Sget_simple_extent_ndims(space.get()) != 3 ||
      H5Sget_simple_extent_dims(space.get(), dims, nullptr) != 3) {
    throw ConfigError(where + ": the image dataset is not 3-D [images, rows, cols]");
  }
  h5::Handle type(H5Dget_type(ds.get()));
  const auto dtype = dtype_of(type.get());
  if (!dtype) throw ConfigError(where + ": pixels are not little-endian 8/16/32-bit integers");
  if (first) {
    info_.frame_rows = static_cast<std::uint32_t>(dims[1]);
    info_.frame_cols = static_cast<std::uint32_t>(dims[2]);
    info_.dtype = *dtype;
    elem_size_ = static_cast<std::uint32_t>(dtype_size(*dtype));
  } else if (dims[1] != info_.frame_rows || dims[2] != info_.frame_cols || *dtype != info_.dtype) {
    throw ConfigError(where + ": frames differ in shape or dtype from the first data file");
  }
  // Direct chunk reads need one image per chunk and a filter we decode (or none).
  h5::Handle dcpl(H5Dget_create_plist(ds.get()));
  bool direct = H5Pget_layout(dcpl.get()) == H5D_CHUNKED;
  if (direct) {
    hsize_t chunk[3] = {0, 0, 0};
    direct = H5Pget_chunk(dcpl.get(), 3, chunk) == 3 && chunk[0] == 1 && chunk[1] == dims[1] &&
             chunk[2] == dims[2];
  }
  codecs::Codec codec = codecs::Codec::kNone;
  const int nfilters = H5Pget_nfilters(dcpl.get());
  std::string filter_names;
  for (int k = 0; k < nfilters; ++k) {
    unsigned flags = 0;
    std::size_t n = 8;
    unsigned cd[8] = {0};
    char name[256] = {0};
    unsigned config = 0;
    const H5Z_filter_t id = H5Pget_filter2(
        dcpl.get(), static_cast<unsigned>(k), &flags, &n, cd, sizeof(name), name, &config);
    filter_names += (filter_names.empty() ? "" : "+") + std::to_string(id);
    if (nfilters == 1 && id == kBitshuffleFilter && n > 4 && cd[4] == kBitshuffleLz4) {
      codec = codecs::Codec::kBslz4;
      if (cd[2] != 0) elem_size_ = cd[2];
    } else if (nfilters == 1 && id == kLz4Filter) {
      codec = codecs::Codec::kLz4Hdf5;
    } else {
      direct = false;
    }
  }
  if (!direct) {
    direct_ = false;
    info_.compression = nfilters == 0 ? "none" : "hdf5 filter " + filter_names;
  } else if (first) {
    codec_ = codec;
  } else if (codec != codec_) {
    direct_ = false;
  }
  Segment s;
  s.first = segments_.empty() ? 0 : segments_.back().first + segments_.back().frames;
  s.frames = dims[0];
  if (auto low = h5::read_attribute_int(ds.get(), "image_nr_low"); low && first) {
    info_.metadata["image_nr_low"] = std::to_string(*low);
  }
  s.dataset = std::move(ds);
  segments_.push_back(std::move(s));
  info_.frames = segments_.back().first + segments_.back().frames;
}

const DectrisFileReader::Segment* DectrisFileReader::segment_of(std::uint64_t i) const {
  for (const auto& s : segments_) {
    if (i >= s.first && i < s.first + s.frames) return &s;
  }
  return nullptr;
}

Expected<std::pair<codecs::Codec, std::uint32_t>> DectrisFileReader::read_encoded(
    std::uint64_t i, std::vector<std::uint8_t>& buf) {
  const Segment* s = segment_of(i);
  if (s == nullptr) return make_drop(DropReason::kIndexOutOfRange, "frame beyond the file");
  if (!direct_) {
    buf.resize(info_.frame_bytes());
    auto r = read_frame(i, buf);
    if (!r) return tl::unexpected(r.error());
    return std::pair{codecs::Codec::kNone, elem_size_};
  }
  const hsize_t offset[3] = {i - s->first, 0, 0};
  hsize_t nbytes = 0;
  herr_t r = -1;
  H5E_BEGIN_TRY { r = H5Dget_chunk_storage_size(s->dataset.get(), offset, &nbytes); }
  H5E_END_TRY;
  if (r < 0 || nbytes == 0) {
    return make_drop(DropReason::kMalformed, "image " + std::to_string(i) + " has no stored chunk");
  }
  // The size comes from the file's chunk index: a corrupt one would have us allocate whatever it
  // says. No codec of ours makes one image's chunk much larger than the image (LZ4's worst case is
  // 0.4 % more, plus framing).
  const std::uint64_t limit = 2 * std::uint64_t{info_.frame_bytes()} + 4096;
  if (nbytes > limit) {
    return make_drop(DropReason::kMalformed,
                     fmt::format("image {} has a stored chunk of {} bytes, more than a {}-byte "
                                 "image can take compressed",
                                 i,
                                 nbytes,
                                 info_.frame_bytes()));
  }
  buf.resize(nbytes);
  std::uint32_t filter_mask = 0;
  H5E_BEGIN_TRY {
    r = H5Dread_chunk(s->dataset.get(), H5P_DEFAULT, offset, &filter_mask, buf.data());
  }
  H5E_END_TRY;
  if (r < 0) {
    return make_drop(DropReason::kMalformed, "cannot read the chunk of image " + std::to_string(i));
  }
  // A set bit means the filter was skipped for this chunk: the bytes are stored as they are.
  const codecs::Codec codec = (filter_mask & 1u) ? codecs::Codec::kNone : codec_;
  return std::pair{codec, elem_size_};
}

Expected<void> DectrisFileReader::read_frame(std::uint64_t i, std::span<std::uint8_t> dst) {
  const Segment* s = segment_of(i);
  if (s == nullptr) return make_drop(DropReason::kIndexOutOfRange, "frame beyond the file");
  if (dst.size() != info_.frame_bytes()) {
    return make_drop(DropReason::kWrongSize, "destination size");
  }
  if (direct_) {
    auto enc = read_encoded(i, scratch_);
    if (!enc) return tl::unexpected(enc.error());
    return codecs::decompress(enc->first, enc->second, scratch_, dst);
  }
  h5::Handle fspace(H5Dget_space(s->dataset.get()));
  const hsize_t start[3] = {i - s->first, 0, 0};
  const hsize_t count[3] = {1, info_.frame_rows, info_.frame_cols};
  H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
  h5::Handle mspace(H5Screate_simple(3, count, nullptr));
  const hid_t mem = info_.dtype == Dtype::kU8    ? H5T_NATIVE_UINT8
                    : info_.dtype == Dtype::kU16 ? H5T_NATIVE_UINT16
                                                 : H5T_NATIVE_UINT32;
  herr_t r = -1;
  H5E_BEGIN_TRY {
    r = H5Dread(s->dataset.get(), mem, mspace.get(), fspace.get(), H5P_DEFAULT, dst.data());
  }
  H5E_END_TRY;
  if (r < 0) {
    return make_drop(DropReason::kDecodeError, "HDF5 could not read image " + std::to_string(i));
  }
  return {};
}

}  // namespace stemflow::ingest
