// SPDX-License-Identifier: GPL-3.0-or-later
// Writing EMD 1.0 files as py4DSTEM/emdfile lay them out (docs/emd-layout.md): every
// string attribute a variable-length string, every group tagged with emd_group_type and, for
// objects, python_class. Errors are thrown as std::runtime_error carrying HDF5's own message.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/core/batch.hpp"

namespace stemflow::sinks::emd {

//! An owned HDF5 identifier, closed with the matching H5*close.
class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = o.id_;
      close_ = o.close_;
      o.id_ = H5I_INVALID_HID;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  void reset() {
    if (id_ >= 0 && close_ != nullptr) close_(id_);
    id_ = H5I_INVALID_HID;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
  herr_t (*close_)(hid_t) = nullptr;
};

//! Throws std::runtime_error("<what>: <HDF5 error stack summary>") if id/status is negative.
hid_t check(hid_t id, const std::string& what);
//! Turns off HDF5's automatic printing of error stacks for the calling thread (check() reports the
//! cause instead). Debian's HDF5 is built thread-safe, where each thread has its own error stack
//! and its own printing switch, so every thread that calls HDF5 must do this; cheap after the
//! first.
void quiet_errors();

//! Creates a new EMD file (fails if it exists unless `overwrite`) with the root-level attributes,
//! in the HDF5 1.10 format that SWMR needs.
Handle create_file(const std::string& path, bool overwrite);
//! Opens an existing file for writing (not SWMR).
Handle open_file(const std::string& path);
Handle open_group(hid_t parent, const std::string& name);
//! A group with emd_group_type (and python_class unless empty).
Handle create_group(hid_t parent,
                    const std::string& name,
                    const std::string& emd_group_type,
                    const std::string& python_class);

void set_string_attr(hid_t obj, const std::string& name, const std::string& value);
void set_int_attr(hid_t obj, const std::string& name, std::int64_t value);

//! An emdfile Array (python_class e.g. "VirtualImage", "RealSlice", "DiffractionSlice"):
//! data (rows x cols) plus linear dim vectors dim0, dim1 stored as their first two values.
void write_array(hid_t parent,
                 const std::string& name,
                 const std::string& python_class,
                 const std::vector<double>& data,
                 std::uint64_t rows,
                 std::uint64_t cols,
                 const std::string& units,
                 const std::string& dim_units);
void write_array_u8(hid_t parent,
                    const std::string& name,
                    const std::string& python_class,
                    const std::vector<std::uint8_t>& data,
                    std::uint64_t rows,
                    std::uint64_t cols,
                    const std::string& units);

//! An emdfile Array whose data is an (rows, cols) dataset chunked by rows and filled with `fill`,
//! to be written row range by row range while the scan runs. Its file space is allocated (and the
//! fill written) now, so that later writes only overwrite space the file already has: a disk too
//! small for the maps fails here, at series start, and never half way through a flush. Returns the
//! data dataset.
Handle create_live_array(hid_t parent,
                         const std::string& name,
                         const std::string& python_class,
                         hid_t file_type,
                         std::uint64_t rows,
                         std::uint64_t cols,
                         double fill,
                         const std::string& units);
//! Writes rows [row0, row1) of a live array from `data` (the whole rows x cols map in memory).
void write_rows(hid_t dataset,
                hid_t mem_type,
                const void* data,
                std::size_t elem_size,
                std::uint64_t cols,
                std::uint64_t row0,
                std::uint64_t row1);
//! Writes rows [row0, row1) of a live array from `rows_data`, which holds just those rows.
void write_row_block(hid_t dataset,
                     hid_t mem_type,
                     const void* rows_data,
                     std::uint64_t cols,
                     std::uint64_t row0,
                     std::uint64_t row1);
//! An emdfile Array whose data is an extendible (0, width) f8 table, appended to while the scan
//! runs.
Handle create_live_table(hid_t parent,
                         const std::string& name,
                         std::uint64_t width,
                         const std::string& units);
//! Appends rows (row-major, width values each) to a live table.
void append_rows(hid_t dataset, const std::vector<double>& values, std::uint64_t width);
//! Rows a live table has now.
std::uint64_t table_rows(hid_t dataset);
//! Shrinks a live table back to `rows` rows (HDF5 drops the chunks past the end, written or not).
void truncate_rows(hid_t dataset, std::uint64_t rows, std::uint64_t width);
//! Writes what HDF5 holds of one dataset (cached chunks, its metadata) to the file (H5Dflush).
void flush_dataset(hid_t dataset, const std::string& what);

//! Metadata groups (emd_group_type "metadata", python_class "Metadata"): one scalar dataset per
//! entry, each with its `type` attribute ("string", "number", "tuple").
Handle create_metadata(hid_t bundle, const std::string& name);
void metadata_string(hid_t md, const std::string& key, const std::string& value);
void metadata_number(hid_t md, const std::string& key, double value);
void metadata_int(hid_t md, const std::string& key, std::int64_t value);
void metadata_tuple(hid_t md, const std::string& key, const std::vector<std::int64_t>& value);

//! BraggVectors with its _v_uncal PointListArray (variable-length {qx, qy, intensity} f8 records).
//! `peaks_at(i)` returns the peaks of position i (row-major).
template <class PeaksAt>
void write_bragg_vectors(hid_t parent,
                         const std::string& name,
                         std::uint64_t rx,
                         std::uint64_t ry,
                         std::uint64_t qx,
                         std::uint64_t qy,
                         PeaksAt&& peaks_at);

// ---- implementation of the template ----
void write_pointlist_array(hid_t group,
                           std::uint64_t rx,
                           std::uint64_t ry,
                           const std::vector<hvl_t>& elements);
void write_braggvectors_shape(
    hid_t bv, std::uint64_t rx, std::uint64_t ry, std::uint64_t qx, std::uint64_t qy);

template <class PeaksAt>
void write_bragg_vectors(hid_t parent,
                         const std::string& name,
                         std::uint64_t rx,
                         std::uint64_t ry,
                         std::uint64_t qx,
                         std::uint64_t qy,
                         PeaksAt&& peaks_at) {
  Handle bv = create_group(parent, name, "custom", "BraggVectors");
  Handle pla = create_group(bv.get(), "_v_uncal", "custom_pointlistarray", "PointListArray");
  std::vector<hvl_t> elements(rx * ry);
  for (std::uint64_t i = 0; i < rx * ry; ++i) {
    const auto p = peaks_at(i);
    elements[i].len = p.size();
    elements[i].p = const_cast<Peak*>(p.data());
  }
  write_pointlist_array(pla.get(), rx, ry, elements);
  write_braggvectors_shape(bv.get(), rx, ry, qx, qy);
}

}  // namespace stemflow::sinks::emd
