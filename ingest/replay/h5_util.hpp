// SPDX-License-Identifier: GPL-3.0-or-later
// Small helpers over the HDF5 C API for the readers: an owning handle and scalar/attribute reads.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace stemflow::ingest::h5 {

//! Owns an HDF5 identifier and closes it with H5Idec_ref (works for files, groups, datasets, ...).
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  ~Handle() { reset(); }
  void reset() {
    if (id_ >= 0) H5Idec_ref(id_);
    id_ = H5I_INVALID_HID;
  }
  hid_t get() const { return id_; }
  explicit operator bool() const { return id_ >= 0; }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

//! True when `path` names an object that exists (an external link must also resolve).
bool exists(hid_t loc, const std::string& path);
//! The type of object at path (H5O_TYPE_UNKNOWN when absent).
H5O_type_t object_type(hid_t loc, const std::string& path);
//! A scalar dataset or attribute as text (numbers and strings), nullopt when absent or not scalar.
std::optional<std::string> read_scalar_text(hid_t loc, const std::string& path);
std::optional<std::string> read_attribute_text(hid_t obj, const std::string& name);
std::optional<std::int64_t> read_attribute_int(hid_t obj, const std::string& name);

}  // namespace stemflow::ingest::h5
