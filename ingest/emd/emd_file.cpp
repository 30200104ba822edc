// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/emd/emd_file.hpp"

#include <vector>

namespace stemflow::ingest {

namespace {

// Bytes of chunk cache per dataset: a chunk that spans several frames is decompressed once.
constexpr std::size_t kChunkCacheBytes = 64 << 20;

struct VisitCtx {
  std::vector<std::string> datacubes;  // python_class DataCube
  std::vector<std::string> arrays;     // other groups with a 4-D `data`
};

bool has_4d_data(hid_t file, const std::string& group) {
  const std::string p = group + "/data";
  if (h5::object_type(file, p) != H5O_TYPE_DATASET) return false;
  h5::Handle ds(H5Dopen2(file, p.c_str(), H5P_DEFAULT));
  h5::Handle sp(H5Dget_space(ds.get()));
  return H5Sget_simple_extent_ndims(sp.get()) == 4;
}

}  // namespace

std::string find_datacube(hid_t file) {
  VisitCtx ctx;
  struct Pair {
    hid_t file;
    VisitCtx* ctx;
  } pair{file, &ctx};
  H5E_BEGIN_TRY {
    H5Ovisit(
        file,
        H5_INDEX_NAME,
        H5_ITER_NATIVE,
        [](hid_t obj, const char* name, const H5O_info_t* info, void* data) -> herr_t {
          auto* p = static_cast<Pair*>(data);
          if (info->type != H5O_TYPE_GROUP || name[0] == '.') return 0;
          h5::Handle g(H5Gopen2(obj, name, H5P_DEFAULT));
          if (!g) return 0;
          const std::string path = std::string("/") + name;
          if (!has_4d_data(p->file, path)) return 0;
          const auto cls = h5::read_attribute_text(g.get(), "python_class");
          (cls && *cls == "DataCube" ? p->ctx->datacubes : p->ctx->arrays)
              .push_back(path + "/data");
          return 0;
        },
        &pair);
  }
  H5E_END_TRY;
  if (!ctx.datacubes.empty()) return ctx.datacubes.front();
  if (!ctx.arrays.empty()) return ctx.arrays.front();
  return {};
}

bool EmdFileReader::probe(const std::string& path) {
  htri_t is_h5 = -1;
  H5E_BEGIN_TRY { is_h5 = H5Fis_hdf5(path.c_str()); }
  H5E_END_TRY;
  if (is_h5 <= 0) return false;
  hid_t f = H5I_INVALID_HID;
  H5E_BEGIN_TRY { f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT); }
  H5E_END_TRY;
  if (f < 0) return false;
  h5::Handle file(f);
  if (auto t = h5::read_attribute_text(file.get(), "emd_group_type"); t && *t == "file")
    return true;
  return !find_datacube(file.get()).empty();
}

EmdFileReader::EmdFileReader(const std::string& path, const std::string& dataset) {
  info_.format = "emd";
  info_.path = path;
  info_.files = {path};
  hid_t f = H5I_INVALID_HID;
  H5E_BEGIN_TRY { f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT); }
  H5E_END_TRY;
  if (f < 0) throw ConfigError("'" + path + "' is not an HDF5 file that can be opened");
  file_ = h5::Handle(f);
  const std::string ds_path = dataset.empty() ? find_datacube(file_.get()) : dataset;
  if (ds_path.empty() || h5::object_type(file_.get(), ds_path) != H5O_TYPE_DATASET) {
    throw ConfigError("'" + path + "': no 4-D DataCube dataset" +
                      (dataset.empty() ? std::string(" found") : " at " + dataset));
  }
  h5::Handle dapl(H5Pcreate(H5P_DATASET_ACCESS));
  H5Pset_chunk_cache(dapl.get(), 12421, kChunkCacheBytes, 1.0);
  dataset_ = h5::Handle(H5Dopen2(file_.get(), ds_path.c_str(), dapl.get()));
  if (!dataset_) throw ConfigError("'" + path + "': cannot open " + ds_path);
  file_space_ = h5::Handle(H5Dget_space(dataset_.get()));
  hsize_t dims[4] = {0, 0, 0, 0};
  if (H5Sget_simple_extent_ndims(file_space_.get()) != 4 ||
      H5Sget_simple_extent_dims(file_space_.get(), dims, nullptr) != 4) {
    throw ConfigError("'" + path + "': " + ds_path + " is not 4-D (Rx, Ry, Qx, Qy)");
  }
  h5::Handle type(H5Dget_type(dataset_.get()));
  const auto cls = H5Tget_class(type.get());
  const auto size = H5Tget_size(type.get());
  if (cls == H5T_INTEGER && H5Tget_sign(type.get()) == H5T_SGN_NONE && size <= 4 && size != 3) {
    info_.dtype = size == 1 ? Dtype::kU8 : size == 2 ? Dtype::kU16 : Dtype::kU32;
  } else if (cls == H5T_FLOAT && size == 4) {
    info_.dtype = Dtype::kF32;
  } else {
    throw ConfigError("'" + path + "': " + ds_path + " holds " + std::to_string(size) +
                      "-byte values that are not u8/u16/u32/f32");
  }
  mem_type_ = info_.dtype == Dtype::kU8    ? H5T_NATIVE_UINT8
              : info_.dtype == Dtype::kU16 ? H5T_NATIVE_UINT16
              : info_.dtype == Dtype::kU32 ? H5T_NATIVE_UINT32
                                           : H5T_NATIVE_FLOAT;
  info_.scan_shape = {static_cast<std::uint32_t>(dims[0]), static_cast<std::uint32_t>(dims[1])};
  info_.frame_rows = static_cast<std::uint32_t>(dims[2]);
  info_.frame_cols = static_cast<std::uint32_t>(dims[3]);
  info_.frames = dims[0] * dims[1];
  info_.metadata["dataset"] = ds_path;
  h5::Handle dcpl(H5Dget_create_plist(dataset_.get()));
  const int nf = H5Pget_nfilters(dcpl.get());
  for (int k = 0; k < nf; ++k) {
    unsigned flags = 0;
    std::size_t n = 0;
    char name[128] = {0};
    unsigned config = 0;
    H5Pget_filter2(
        dcpl.get(), static_cast<unsigned>(k), &flags, &n, nullptr, sizeof(name), name, &config);
    info_.compression = (k == 0 ? "" : info_.compression + "+") + (name[0] ? name : "filter");
  }
  if (auto v = h5::read_attribute_text(file_.get(), "version_major"))
    info_.metadata["emd_version_major"] = *v;
  const hsize_t count[4] = {1, 1, dims[2], dims[3]};
  mem_space_ = h5::Handle(H5Screate_simple(4, count, nullptr));
}

Expected<void> EmdFileReader::read_frame(std::uint64_t i, std::span<std::uint8_t> dst) {
  if (i >= info_.frames) return make_drop(DropReason::kIndexOutOfRange, "frame beyond the file");
  if (dst.size() != info_.frame_bytes()) {
    return make_drop(DropReason::kWrongSize, "destination size");
  }
  const hsize_t start[4] = {i / info_.scan_shape[1], i % info_.scan_shape[1], 0, 0};
  const hsize_t count[4] = {1, 1, info_.frame_rows, info_.frame_cols};
  H5Sselect_hyperslab(file_space_.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
  herr_t r = -1;
  H5E_BEGIN_TRY {
    r = H5Dread(
        dataset_.get(), mem_type_, mem_space_.get(), file_space_.get(), H5P_DEFAULT, dst.data());
  }
  H5E_END_TRY;
  if (r < 0) {
    return make_drop(DropReason::kDecodeError, "HDF5 could not read frame " + std::to_string(i));
  }
  return {};
}

}  // namespace stemflow::ingest
