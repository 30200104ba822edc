// SPDX-License-Identifier: GPL-3.0-or-later
#include "ingest/replay/h5_util.hpp"

#include <fmt/format.h>

#include <vector>

namespace stemflow::ingest::h5 {

namespace {

// Reads a scalar of type `type` from a dataset or attribute through `read(mem_type, buf)`.
template <class ReadFn>
std::optional<std::string> scalar_text(hid_t type, hid_t space, ReadFn read) {
  if (H5Sget_simple_extent_type(space) != H5S_SCALAR &&
      !(H5Sget_simple_extent_npoints(space) == 1)) {
    return std::nullopt;
  }
  switch (H5Tget_class(type)) {
    case H5T_INTEGER: {
      if (H5Tget_sign(type) == H5T_SGN_NONE) {
        unsigned long long v = 0;
        if (read(H5T_NATIVE_ULLONG, &v) < 0) return std::nullopt;
        return std::to_string(v);
      }
      long long v = 0;
      if (read(H5T_NATIVE_LLONG, &v) < 0) return std::nullopt;
      return std::to_string(v);
    }
    case H5T_FLOAT: {
      double v = 0;
      if (read(H5T_NATIVE_DOUBLE, &v) < 0) return std::nullopt;
      return fmt::format("{}", v);
    }
    case H5T_STRING: {
      if (H5Tis_variable_str(type) > 0) {
        Handle mem(H5Tcopy(H5T_C_S1));
        H5Tset_size(mem.get(), H5T_VARIABLE);
        char* s = nullptr;
        if (read(mem.get(), &s) < 0 || s == nullptr) return std::nullopt;
        std::string out(s);
        H5free_memory(s);
        return out;
      }
      const std::size_t n = H5Tget_size(type);
      std::vector<char> buf(n + 1, '\0');
      Handle mem(H5Tcopy(H5T_C_S1));
      H5Tset_size(mem.get(), n + 1);
      if (read(mem.get(), buf.data()) < 0) return std::nullopt;
      return std::string(buf.data());
    }
    default:
      return std::nullopt;
  }
}

}  // namespace

bool exists(hid_t loc, const std::string& path) {
  htri_t link = -1, obj = -1;
  H5E_BEGIN_TRY {
    link = H5Lexists(loc, path.c_str(), H5P_DEFAULT);
    if (link > 0) obj = H5Oexists_by_name(loc, path.c_str(), H5P_DEFAULT);
  }
  H5E_END_TRY;
  return link > 0 && obj > 0;
}

H5O_type_t object_type(hid_t loc, const std::string& path) {
  if (!exists(loc, path)) return H5O_TYPE_UNKNOWN;
  H5O_info_t info{};
  herr_t r = -1;
  H5E_BEGIN_TRY { r = H5Oget_info_by_name(loc, path.c_str(), &info, H5P_DEFAULT); }
  H5E_END_TRY;
  return r < 0 ? H5O_TYPE_UNKNOWN : info.type;
}

std::optional<std::string> read_scalar_text(hid_t loc, const std::string& path) {
  if (object_type(loc, path) != H5O_TYPE_DATASET) return std::nullopt;
  Handle ds(H5Dopen2(loc, path.c_str(), H5P_DEFAULT));
  if (!ds) return std::nullopt;
  Handle type(H5Dget_type(ds.get()));
  Handle space(H5Dget_space(ds.get()));
  std::optional<std::string> out;
  H5E_BEGIN_TRY {
    out = scalar_text(type.get(), space.get(), [&](hid_t mem, void* buf) {
      return H5Dread(ds.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    });
  }
  H5E_END_TRY;
  return out;
}

std::optional<std::string> read_attribute_text(hid_t obj, const std::string& name) {
  htri_t has = -1;
  H5E_BEGIN_TRY { has = H5Aexists(obj, name.c_str()); }
  H5E_END_TRY;
  if (has <= 0) return std::nullopt;
  Handle a(H5Aopen(obj, name.c_str(), H5P_DEFAULT));
  if (!a) return std::nullopt;
  Handle type(H5Aget_type(a.get()));
  Handle space(H5Aget_space(a.get()));
  std::optional<std::string> out;
  H5E_BEGIN_TRY {
    out = scalar_text(
        type.get(), space.get(), [&](hid_t mem, void* buf) { return H5Aread(a.get(), mem, buf); });
  }
  H5E_END_TRY;
  return out;
}

std::optional<std::int64_t> read_attribute_int(hid_t obj, const std::string& name) {
  auto t = read_attribute_text(obj, name);
  if (!t) return std::nullopt;
  try {
    return std::stoll(*t);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace stemflow::ingest::h5
