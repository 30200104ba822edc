// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target: DECTRIS HDF5 master and data files (ingest/dectris/dectris_file.hpp): the input
// is written to a file, probed, opened (a data file's /entry/data/data, or a master file's
// data_000001... links, which resolve only to files beside the temporary file, so that a master
// input exercises the link walk and its error), and its first and last images are read (direct
// chunk read + our bslz4/lz4 decoders, or H5Dread) when an image is at most 1 MiB. libhdf5 itself
// is not instrumented: a crash inside it is reported with its stack, and judged there.
#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ingest/dectris/dectris_file.hpp"
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
  const auto& path = fuzz::write_input(data, size, ".h5");
  if (!ingest::DectrisFileReader::probe(path)) return 0;
  try {
    ingest::DectrisFileReader reader(path);
    const auto& info = reader.info();
    if (info.frames > 0 && info.frame_bytes() <= kMaxFrameBytes) {
      std::vector<std::uint8_t> frame(info.frame_bytes());
      std::vector<std::uint8_t> encoded;
      for (std::uint64_t i : {std::uint64_t{0}, info.frames - 1}) {
        (void)reader.read_frame(i, frame);
        (void)reader.read_encoded(i, encoded);
      }
    }
    (void)ingest::describe(info);
  } catch (const ConfigError&) {
  }
  return 0;
}
