// SPDX-License-Identifier: GPL-3.0-or-later
#include "sinks/hdf5/results_info.hpp"

#include <hdf5.h>

#include <cstdint>
#include <sstream>
#include <vector>

#include "sinks/hdf5/emd_writer.hpp"

namespace stemflow::sinks {

namespace {

constexpr const char* kProvenance = "/stemflow/metadatabundle/provenance";

std::string read_string(hid_t file, const std::string& path) {
  if (H5Lexists(file, path.c_str(), H5P_DEFAULT) <= 0) return {};
  const hid_t ds = H5Dopen2(file, path.c_str(), H5P_DEFAULT);
  if (ds < 0) return {};
  const hid_t type = H5Dget_type(ds);
  std::string out;
  if (H5Tget_class(type) == H5T_STRING && H5Tis_variable_str(type) > 0) {
    char* s = nullptr;
    const hid_t mem = H5Tcopy(H5T_C_S1);
    H5Tset_size(mem, H5T_VARIABLE);
    H5Tset_cset(mem, H5Tget_cset(type));
    if (H5Dread(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s) >= 0 && s != nullptr) {
      out = s;
      H5free_memory(s);
    }
    H5Tclose(mem);
  }
  H5Tclose(type);
  H5Dclose(ds);
  return out;
}

//! Integer datasets (scalars and small arrays) as int64; empty when absent.
std::vector<std::int64_t> read_ints(hid_t file, const std::string& path) {
  if (H5Lexists(file, path.c_str(), H5P_DEFAULT) <= 0) return {};
  const hid_t ds = H5Dopen2(file, path.c_str(), H5P_DEFAULT);
  if (ds < 0) return {};
  const hid_t space = H5Dget_space(ds);
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  std::vector<std::int64_t> v(n > 0 ? static_cast<std::size_t>(n) : 0);
  if (!v.empty() && H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0) {
    v.clear();
  }
  H5Sclose(space);
  H5Dclose(ds);
  return v;
}

std::vector<std::string> children(hid_t file, const std::string& group) {
  std::vector<std::string> names;
  const hid_t g = H5Gopen2(file, group.c_str(), H5P_DEFAULT);
  if (g < 0) return names;
  H5G_info_t info{};
  if (H5Gget_info(g, &info) >= 0) {
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      char name[256];
      if (H5Lget_name_by_idx(
              g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT) > 0) {
        names.emplace_back(name);
      }
    }
  }
  H5Gclose(g);
  return names;
}

}  // namespace

std::optional<std::string> describe_results_file(const std::string& path) {
  emd::quiet_errors();  // a file that is not HDF5 (a raw or .npy file) is simply not ours
  if (H5Fis_hdf5(path.c_str()) <= 0) return std::nullopt;
  // SWMR read: a file the engine is still writing can be described too.
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
  if (file < 0) file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) return std::nullopt;
  const std::string prov = kProvenance;
  if (H5Lexists(file, "/stemflow", H5P_DEFAULT) <= 0 ||
      H5Lexists(file, "/stemflow/metadatabundle", H5P_DEFAULT) <= 0 ||
      H5Lexists(file, prov.c_str(), H5P_DEFAULT) <= 0) {
    H5Fclose(file);
    return std::nullopt;
  }
  std::ostringstream os;
  const auto scan = read_ints(file, prov + "/scan_shape");
  const auto frame = read_ints(file, prov + "/frame_shape");
  os << "stemflow results file (" << read_string(file, prov + "/stemflow_version") << ")\n";
  os << "  series "
     << (read_ints(file, prov + "/series_id").empty() ? 0 : read_ints(file, prov + "/series_id")[0])
     << ", ended " << read_string(file, prov + "/series_end") << "\n";
  if (scan.size() == 2) os << "  scan " << scan[0] << "x" << scan[1] << "\n";
  if (frame.size() == 2) {
    os << "  frames " << frame[0] << "x" << frame[1] << " " << read_string(file, prov + "/dtype")
       << "\n";
  }
  os << "  input " << read_string(file, prov + "/input") << "\n";
  os << "  device " << read_string(file, prov + "/device") << "\n";
  if (const auto per_rank = read_ints(file, prov + "/frames_per_rank"); per_rank.size() > 1) {
    os << "  mpi ranks " << per_rank.size() << ", frames received per rank";
    for (auto n : per_rank) os << " " << n;
    os << "\n";
  }
  os << "  time " << read_string(file, prov + "/start_time") << " to "
     << read_string(file, prov + "/end_time") << "\n";
  for (const char* k :
       {"frames_received", "frames_processed", "frames_missing", "frames_cut_short"}) {
    const auto v = read_ints(file, prov + "/" + k);
    if (!v.empty()) os << "  " << k << " " << v[0] << "\n";
  }
  for (const auto& name : children(file, prov)) {
    if (name.rfind("frames_dropped_", 0) != 0) continue;
    const auto v = read_ints(file, prov + "/" + name);
    if (!v.empty() && v[0] > 0) os << "  " << name << " " << v[0] << "\n";
  }
  const auto coverage = read_ints(file, "/stemflow/coverage/data");
  if (!coverage.empty()) {
    std::int64_t covered = 0;
    for (auto c : coverage) covered += c != 0;
    os << "  coverage " << covered << " of " << coverage.size() << " positions\n";
  }
  for (const auto& name : children(file, "/stemflow/metadatabundle")) {
    if (name.rfind("operator_", 0) != 0) continue;
    os << "  operator " << name.substr(9) << " ("
       << read_string(file, "/stemflow/metadatabundle/" + name + "/type") << ")\n";
  }
  os << "  datasets";
  for (const auto& name : children(file, "/stemflow")) {
    if (name != "metadatabundle") os << " " << name;
  }
  os << "\n";
  H5Fclose(file);
  return os.str();
}

}  // namespace stemflow::sinks
