// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target: EMD / py4DSTEM HDF5 files (ingest/emd/emd_file.hpp): the input is written to a
// file, probed, searched for its DataCube (`find_datacube`, an H5Ovisit of every group), opened,
// and its first and last frames are read when a frame is at most 1 MiB. libhdf5 itself is not
// instrumented: a crash inside it is reported with its stack, and judged there.
#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ingest/emd/emd_file.hpp"
#include "tests/fuzz/fuzz_file.hpp"

using namespace stemflow;

namespace {
constexpr std::size_t kMaxFrameBytes = std::size_t{1} << 20;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& path = fuzz::write_input(data, size, ".emd");
  if (!ingest::EmdFileReader::probe(path)) return 0;
  try {
    ingest::EmdFileReader reader(path);
    const auto& info = reader.info();
    if (info.frames > 0 && info.frame_bytes() <= kMaxFrameBytes) {
      std::vector<std::uint8_t> frame(info.frame_bytes());
      (void)reader.read_frame(0, frame);
      (void)reader.read_frame(info.frames - 1, frame);
    }
    (void)ingest::describe(info);
  } catch (const ConfigError&) {
  }
  return 0;
}
