// SPDX-License-Identifier: GPL-3.0-or-later
// py4DSTEM / EMD 1.0 datacubes (docs/py4dstem.md section 3): a group with
// python_class = "DataCube" (emd_group_type = "array") holding `data` [Rx, Ry, Qx, Qy]. Frames are
// read one at a time by hyperslab (HDF5 applies the dataset's own filters, e.g. gzip).
#pragma once

#include <string>

#include "ingest/replay/frame_reader.hpp"
#include "ingest/replay/h5_util.hpp"

namespace stemflow::ingest {

class EmdFileReader final : public FrameReader {
 public:
  //! `dataset`: the 4-D dataset's path; empty = the first DataCube found. Throws ConfigError.
  EmdFileReader(const std::string& path, const std::string& dataset = {});

  const FileInfo& info() const override { return info_; }
  Expected<void> read_frame(std::uint64_t i, std::span<std::uint8_t> dst) override;

  //! True when the file has an EMD root (emd_group_type = "file") or a DataCube group.
  static bool probe(const std::string& path);

 private:
  FileInfo info_;
  h5::Handle file_;
  h5::Handle dataset_;
  h5::Handle file_space_;
  h5::Handle mem_space_;
  hid_t mem_type_ = H5I_INVALID_HID;
};

//! The path of the first DataCube's `data` in an open file (empty if none).
std::string find_datacube(hid_t file);

}  // namespace stemflow::ingest
