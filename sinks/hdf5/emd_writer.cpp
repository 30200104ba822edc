// SPDX-License-Identifier: GPL-3.0-or-later
#include "sinks/hdf5/emd_writer.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <random>
#include <stdexcept>

namespace stemflow::sinks::emd {

namespace {

herr_t collect_error(unsigned n, const H5E_error2_t* err, void* client) {
  auto* out = static_cast<std::string*>(client);
  if (n != 0 || err->desc == nullptr) return 0;
  // The innermost cause. For a failed system call (a full disk) HDF5 says "file write failed:
  // time = ..., filename = ..., errno = 28, error message = 'No space left on device', buf = ...";
  // the operating system's message is what a user needs, and the file is named by our caller.
  const std::string desc = err->desc;
  const std::string key = "error message = '";
  const auto at = desc.find(key);
  const auto end = at == std::string::npos ? at : desc.find('\'', at + key.size());
  const auto colon = desc.find(':');
  if (end != std::string::npos && colon != std::string::npos && colon < at) {
    *out = desc.substr(0, colon) + ": " + desc.substr(at + key.size(), end - at - key.size());
  } else {
    *out = desc;
  }
  return 0;
}

Handle vlen_string_type(H5T_cset_t cset) {
  Handle t(check(H5Tcopy(H5T_C_S1), "H5Tcopy"), H5Tclose);
  check(H5Tset_size(t.get(), H5T_VARIABLE), "H5Tset_size");
  check(H5Tset_cset(t.get(), cset), "H5Tset_cset");
  return t;
}

Handle scalar_space() { return Handle(check(H5Screate(H5S_SCALAR), "H5Screate"), H5Sclose); }

Handle simple_space(std::initializer_list<hsize_t> dims) {
  std::vector<hsize_t> d(dims);
  return Handle(
      check(H5Screate_simple(static_cast<int>(d.size()), d.data(), nullptr), "H5Screate_simple"),
      H5Sclose);
}

void write_dims(hid_t group, const std::string& units) {
  // emdfile stores a linear dim vector as its first two values.
  const std::array<std::int64_t, 2> dim{0, 1};
  for (const char* name : {"dim0", "dim1"}) {
    Handle sp = simple_space({2});
    Handle ds(
        check(
            H5Dcreate2(group, name, H5T_STD_I64LE, sp.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
            name),
        H5Dclose);
    check(H5Dwrite(ds.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, dim.data()), name);
    set_string_attr(ds.get(), "name", name);
    set_string_attr(ds.get(), "units", units);
  }
}

template <class T>
void write_array_impl(hid_t parent,
                      const std::string& name,
                      const std::string& python_class,
                      const std::vector<T>& data,
                      std::uint64_t rows,
                      std::uint64_t cols,
                      hid_t file_type,
                      hid_t mem_type,
                      const std::string& units,
                      const std::string& dim_units) {
  if (data.size() != rows * cols) throw std::logic_error("write_array: size mismatch for " + name);
  Handle g = create_group(parent, name, "array", python_class);
  Handle sp = simple_space({rows, cols});
  Handle ds(
      check(H5Dcreate2(g.get(), "data", file_type, sp.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
            name + "/data"),
      H5Dclose);
  check(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()), name + "/data");
  set_string_attr(ds.get(), "units", units);
  write_dims(g.get(), dim_units);
}

void metadata_type(hid_t ds, const char* type) {
  Handle t = vlen_string_type(H5T_CSET_ASCII);
  Handle sp = scalar_space();
  Handle a(check(H5Acreate2(ds, "type", t.get(), sp.get(), H5P_DEFAULT, H5P_DEFAULT), "type"),
           H5Aclose);
  check(H5Awrite(a.get(), t.get(), &type), "type");
}

}  // namespace

hid_t check(hid_t id, const std::string& what) {
  if (id >= 0) return id;
  std::string cause = "unknown HDF5 error";
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, collect_error, &cause);
  H5Eclear2(H5E_DEFAULT);
  throw std::runtime_error(what + ": " + cause);
}

// At exit HDF5 1.10 closes whatever files are still open (H5_term_library). A file whose last write
// failed (a full disk) cannot be closed, stays open, and that exit-time close then crashes inside
// H5F__close_cb (Debian's 1.10.8). stemflow closes every file it opens itself, so the exit-time
// cleanup has nothing to do but that crash: it is turned off before the library starts (the call
// must come first, hence a static initialiser).
[[maybe_unused]] const bool kNoExitTimeClose = [] { return H5dont_atexit() >= 0; }();

void quiet_errors() {
  thread_local bool quiet = false;
  if (!quiet) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    quiet = true;
  }
}

Handle create_file(const std::string& path, bool overwrite) {
  // We report HDF5 errors ourselves, with their cause, instead of letting it print its stack.
  quiet_errors();
  Handle fapl(check(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate"), H5Pclose);
  check(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST), "libver bounds");
  Handle f(
      check(H5Fcreate(
                path.c_str(), overwrite ? H5F_ACC_TRUNC : H5F_ACC_EXCL, H5P_DEFAULT, fapl.get()),
            "cannot create " + path),
      H5Fclose);
  set_string_attr(f.get(), "emd_group_type", "file");
  set_int_attr(f.get(), "version_major", 1);
  set_int_attr(f.get(), "version_minor", 0);
  std::random_device rd;
  std::mt19937_64 rng(rd());
  char uuid[37];
  const auto a = rng(), b = rng();
  std::snprintf(uuid,
                sizeof uuid,
                "%08x-%04x-4%03x-%04x-%012llx",
                unsigned(a >> 32),
                unsigned((a >> 16) & 0xffff),
                unsigned(a & 0xfff),
                unsigned(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  set_string_attr(f.get(), "UUID", uuid);
  set_string_attr(f.get(), "authoring_program", "stemflow");
  const char* user = std::getenv("USER");
  set_string_attr(f.get(), "authoring_user", user ? user : "");
  return f;
}

Handle open_file(const std::string& path) {
  quiet_errors();
  Handle fapl(check(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate"), H5Pclose);
  check(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST), "libver bounds");
  return Handle(check(H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.get()), "cannot reopen " + path),
                H5Fclose);
}

Handle open_group(hid_t parent, const std::string& name) {
  return Handle(check(H5Gopen2(parent, name.c_str(), H5P_DEFAULT), "cannot open group " + name),
                H5Gclose);
}

Handle create_group(hid_t parent,
                    const std::string& name,
                    const std::string& emd_group_type,
                    const std::string& python_class) {
  Handle g(check(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                 "cannot create group " + name),
           H5Gclose);
  set_string_attr(g.get(), "emd_group_type", emd_group_type);
  if (!python_class.empty()) set_string_attr(g.get(), "python_class", python_class);
  return g;
}

void set_string_attr(hid_t obj, const std::string& name, const std::string& value) {
  Handle t = vlen_string_type(H5T_CSET_UTF8);
  Handle sp = scalar_space();
  Handle a(check(H5Acreate2(obj, name.c_str(), t.get(), sp.get(), H5P_DEFAULT, H5P_DEFAULT), name),
           H5Aclose);
  const char* p = value.c_str();
  check(H5Awrite(a.get(), t.get(), &p), name);
}

void set_int_attr(hid_t obj, const std::string& name, std::int64_t value) {
  Handle sp = scalar_space();
  Handle a(
      check(H5Acreate2(obj, name.c_str(), H5T_STD_I64LE, sp.get(), H5P_DEFAULT, H5P_DEFAULT), name),
      H5Aclose);
  check(H5Awrite(a.get(), H5T_NATIVE_INT64, &value), name);
}

void write_array(hid_t parent,
                 const std::string& name,
                 const std::string& python_class,
                 const std::vector<double>& data,
                 std::uint64_t rows,
                 std::uint64_t cols,
                 const std::string& units,
                 const std::string& dim_units) {
  write_array_impl(parent,
                   name,
                   python_class,
                   data,
                   rows,
                   cols,
                   H5T_IEEE_F64LE,
                   H5T_NATIVE_DOUBLE,
                   units,
                   dim_units);
}

void write_array_u8(hid_t parent,
                    const std::string& name,
                    const std::string& python_class,
                    const std::vector<std::uint8_t>& data,
                    std::uint64_t rows,
                    std::uint64_t cols,
                    const std::string& units) {
  write_array_impl(parent,
                   name,
                   python_class,
                   data,
                   rows,
                   cols,
                   H5T_STD_U8LE,
                   H5T_NATIVE_UINT8,
                   units,
                   "pixels");
}

Handle create_live_array(hid_t parent,
                         const std::string& name,
                         const std::string& python_class,
                         hid_t file_type,
                         std::uint64_t rows,
                         std::uint64_t cols,
                         double fill,
                         const std::string& units) {
  Handle g = create_group(parent, name, "array", python_class);
  Handle sp = simple_space({rows, cols});
  Handle dcpl(check(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate"), H5Pclose);
  // Chunks of whole rows: a flush rewrites only the chunks of the rows that changed.
  const hsize_t chunk_rows =
      std::max<hsize_t>(1, std::min<hsize_t>(rows, (1 << 16) / std::max<hsize_t>(cols, 1)));
  const hsize_t chunk[2] = {chunk_rows, cols};
  check(H5Pset_chunk(dcpl.get(), 2, chunk), "H5Pset_chunk");
  check(H5Pset_fill_value(dcpl.get(), H5T_NATIVE_DOUBLE, &fill), "H5Pset_fill_value");
  check(H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_ALLOC), "H5Pset_fill_time");
  // Every chunk allocated and filled now, before SWMR writing starts: the flushes then only
  // overwrite space the file has, which a full disk (or a file size limit) does not refuse. That
  // keeps the coverage, the commit record of a flush, writable to the end, and lets a flush that
  // failed elsewhere put these rows back (Hdf5Sink::flush).
  check(H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY), "H5Pset_alloc_time");
  Handle ds(
      check(H5Dcreate2(g.get(), "data", file_type, sp.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
            name + "/data"),
      H5Dclose);
  set_string_attr(ds.get(), "units", units);
  write_dims(g.get(), "pixels");
  return ds;
}

void write_rows(hid_t dataset,
                hid_t mem_type,
                const void* data,
                std::size_t elem_size,
                std::uint64_t cols,
                std::uint64_t row0,
                std::uint64_t row1) {
  const auto* first = static_cast<const std::byte*>(data) + row0 * cols * elem_size;
  write_row_block(dataset, mem_type, first, cols, row0, row1);
}

void write_row_block(hid_t dataset,
                     hid_t mem_type,
                     const void* rows_data,
                     std::uint64_t cols,
                     std::uint64_t row0,
                     std::uint64_t row1) {
  if (row1 <= row0) return;
  Handle file_space(check(H5Dget_space(dataset), "H5Dget_space"), H5Sclose);
  const hsize_t start[2] = {row0, 0};
  const hsize_t count[2] = {row1 - row0, cols};
  check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr),
        "select rows");
  Handle mem_space = simple_space({row1 - row0, cols});
  check(H5Dwrite(dataset, mem_type, mem_space.get(), file_space.get(), H5P_DEFAULT, rows_data),
        "write rows");
}

Handle create_live_table(hid_t parent,
                         const std::string& name,
                         std::uint64_t width,
                         const std::string& units) {
  Handle g = create_group(parent, name, "array", "Array");
  const hsize_t dims[2] = {0, width};
  const hsize_t max[2] = {H5S_UNLIMITED, width};
  Handle sp(check(H5Screate_simple(2, dims, max), "H5Screate_simple"), H5Sclose);
  Handle dcpl(check(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate"), H5Pclose);
  const hsize_t chunk[2] = {4096, width};
  check(H5Pset_chunk(dcpl.get(), 2, chunk), "H5Pset_chunk");
  Handle ds(
      check(H5Dcreate2(
                g.get(), "data", H5T_IEEE_F64LE, sp.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
            name + "/data"),
      H5Dclose);
  set_string_attr(ds.get(), "units", units);
  write_dims(g.get(), "");
  return ds;
}

void append_rows(hid_t dataset, const std::vector<double>& values, std::uint64_t width) {
  if (values.empty()) return;
  Handle space(check(H5Dget_space(dataset), "H5Dget_space"), H5Sclose);
  hsize_t dims[2];
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  const hsize_t added = values.size() / width;
  const hsize_t new_dims[2] = {dims[0] + added, width};
  check(H5Dset_extent(dataset, new_dims), "extend table");
  Handle file_space(check(H5Dget_space(dataset), "H5Dget_space"), H5Sclose);
  const hsize_t start[2] = {dims[0], 0};
  const hsize_t count[2] = {added, width};
  check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr),
        "select rows");
  Handle mem_space = simple_space({added, width});
  check(H5Dwrite(dataset,
                 H5T_NATIVE_DOUBLE,
                 mem_space.get(),
                 file_space.get(),
                 H5P_DEFAULT,
                 values.data()),
        "append rows");
}

std::uint64_t table_rows(hid_t dataset) {
  Handle space(check(H5Dget_space(dataset), "H5Dget_space"), H5Sclose);
  hsize_t dims[2] = {0, 0};
  check(H5Sget_simple_extent_dims(space.get(), dims, nullptr), "table rows");
  return dims[0];
}

void truncate_rows(hid_t dataset, std::uint64_t rows, std::uint64_t width) {
  const hsize_t dims[2] = {rows, width};
  check(H5Dset_extent(dataset, dims), "shrink table");
}

void flush_dataset(hid_t dataset, const std::string& what) {
  check(H5Dflush(dataset), "flush " + what);
}

Handle create_metadata(hid_t bundle, const std::string& name) {
  return create_group(bundle, name, "metadata", "Metadata");
}

void metadata_string(hid_t md, const std::string& key, const std::string& value) {
  Handle t = vlen_string_type(H5T_CSET_UTF8);
  Handle sp = scalar_space();
  Handle ds(
      check(H5Dcreate2(md, key.c_str(), t.get(), sp.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
            key),
      H5Dclose);
  const char* p = value.c_str();
  check(H5Dwrite(ds.get(), t.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &p), key);
  metadata_type(ds.get(), "string");
}

void metadata_number(hid_t md, const std::string& key, double value) {
  Handle sp = scalar_space();
  Handle ds(
      check(H5Dcreate2(
                md, key.c_str(), H5T_IEEE_F64LE, sp.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
            key),
      H5Dclose);
  check(H5Dwrite(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value), key);
  metadata_type(ds.get(), "number");
}

void metadata_int(hid_t md, const std::string& key, std::int64_t value) {
  Handle sp = scalar_space();
  Handle ds(
      check(H5Dcreate2(
                md, key.c_str(), H5T_STD_I64LE, sp.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
            key),
      H5Dclose);
  check(H5Dwrite(ds.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value), key);
  metadata_type(ds.get(), "number");
}

void metadata_tuple(hid_t md, const std::string& key, const std::vector<std::int64_t>& value) {
  Handle sp = simple_space({value.size()});
  Handle ds(
      check(H5Dcreate2(
                md, key.c_str(), H5T_STD_I64LE, sp.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
            key),
      H5Dclose);
  check(H5Dwrite(ds.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, value.data()), key);
  metadata_type(ds.get(), "tuple");
}

void write_pointlist_array(hid_t group,
                           std::uint64_t rx,
                           std::uint64_t ry,
                           const std::vector<hvl_t>& elements) {
  Handle rec(check(H5Tcreate(H5T_COMPOUND, sizeof(Peak)), "H5Tcreate"), H5Tclose);
  check(H5Tinsert(rec.get(), "qx", HOFFSET(Peak, qx), H5T_IEEE_F64LE), "qx");
  check(H5Tinsert(rec.get(), "qy", HOFFSET(Peak, qy), H5T_IEEE_F64LE), "qy");
  check(H5Tinsert(rec.get(), "intensity", HOFFSET(Peak, intensity), H5T_IEEE_F64LE), "intensity");
  Handle vl(check(H5Tvlen_create(rec.get()), "H5Tvlen_create"), H5Tclose);
  Handle sp = simple_space({rx, ry});
  Handle ds(
      check(H5Dcreate2(group, "data", vl.get(), sp.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
            "_v_uncal/data"),
      H5Dclose);
  check(H5Dwrite(ds.get(), vl.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, elements.data()),
        "_v_uncal/data");
}

void write_braggvectors_shape(
    hid_t bv, std::uint64_t rx, std::uint64_t ry, std::uint64_t qx, std::uint64_t qy) {
  Handle bundle = create_group(bv, "metadatabundle", "metadatabundle", "");
  Handle md = create_metadata(bundle.get(), "_braggvectors_shape");
  metadata_tuple(md.get(), "Rshape", {std::int64_t(rx), std::int64_t(ry)});
  metadata_tuple(md.get(), "Qshape", {std::int64_t(qx), std::int64_t(qy)});
}

}  // namespace stemflow::sinks::emd
