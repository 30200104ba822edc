// SPDX-License-Identifier: GPL-3.0-or-later
// Test support: reading datasets back from a results file with the HDF5 C API.
#pragma once

#include <hdf5.h>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace stemflow::test {

class H5File {
 public:
  explicit H5File(const std::string& path) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    id_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (id_ < 0) throw std::runtime_error("cannot open " + path);
  }
  ~H5File() { H5Fclose(id_); }
  H5File(const H5File&) = delete;
  H5File& operator=(const H5File&) = delete;

  bool exists(const std::string& path) const {
    return H5Lexists(id_, path.c_str(), H5P_DEFAULT) > 0;
  }

  template <class T>
  std::vector<T> read(const std::string& path, hid_t mem_type) const {
    const hid_t ds = H5Dopen2(id_, path.c_str(), H5P_DEFAULT);
    if (ds < 0) throw std::runtime_error("no dataset " + path);
    const hid_t sp = H5Dget_space(ds);
    const auto n = H5Sget_simple_extent_npoints(sp);
    std::vector<T> out(static_cast<std::size_t>(n));
    const herr_t r = H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data());
    H5Sclose(sp);
    H5Dclose(ds);
    if (r < 0) throw std::runtime_error("cannot read " + path);
    return out;
  }
  std::vector<double> doubles(const std::string& path) const {
    return read<double>(path, H5T_NATIVE_DOUBLE);
  }
  std::vector<std::int64_t> ints(const std::string& path) const {
    return read<std::int64_t>(path, H5T_NATIVE_INT64);
  }
  std::vector<std::uint8_t> bytes(const std::string& path) const {
    return read<std::uint8_t>(path, H5T_NATIVE_UINT8);
  }

  //! A PointListArray's peak lists (`dataset` = ".../_v_uncal/data"), row-major by scan position.
  std::vector<std::vector<std::array<double, 3>>> peak_lists(const std::string& dataset) const {
    const hid_t ds = H5Dopen2(id_, dataset.c_str(), H5P_DEFAULT);
    if (ds < 0) throw std::runtime_error("no dataset " + dataset);
    const hid_t t = H5Dget_type(ds);
    const hid_t sp = H5Dget_space(ds);
    std::vector<hvl_t> vl(static_cast<std::size_t>(H5Sget_simple_extent_npoints(sp)));
    H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, vl.data());
    std::vector<std::vector<std::array<double, 3>>> out(vl.size());
    for (std::size_t i = 0; i < vl.size(); ++i) {
      const auto* p = static_cast<const double*>(vl[i].p);
      for (std::size_t k = 0; k < vl[i].len; ++k)
        out[i].push_back({p[3 * k], p[3 * k + 1], p[3 * k + 2]});
    }
    H5Dvlen_reclaim(t, sp, H5P_DEFAULT, vl.data());
    H5Sclose(sp);
    H5Tclose(t);
    H5Dclose(ds);
    return out;
  }

  std::string string(const std::string& path) const {
    const hid_t ds = H5Dopen2(id_, path.c_str(), H5P_DEFAULT);
    if (ds < 0) throw std::runtime_error("no dataset " + path);
    const hid_t t = H5Dget_type(ds);
    char* p = nullptr;
    H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &p);
    std::string s = p ? p : "";
    H5free_memory(p);
    H5Tclose(t);
    H5Dclose(ds);
    return s;
  }

  std::string attr(const std::string& obj, const std::string& name) const {
    const hid_t a = H5Aopen_by_name(id_, obj.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) throw std::runtime_error("no attribute " + obj + "@" + name);
    const hid_t t = H5Aget_type(a);
    char* p = nullptr;
    H5Aread(a, t, &p);
    std::string s = p ? p : "";
    H5free_memory(p);
    H5Tclose(t);
    H5Aclose(a);
    return s;
  }

 private:
  hid_t id_;
};

}  // namespace stemflow::test
