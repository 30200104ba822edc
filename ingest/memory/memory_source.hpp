// SPDX-License-Identifier: GPL-3.0-or-later
// A source over a 4-D array (Rx, Ry, Qx, Qy) that the caller owns and keeps alive for the run: a
// numpy array or memmap handed over by the Python package (stemflow.run(data=...)). One series,
// frames in scan order. When the frames of a batch lie back to back in the array (a C-contiguous
// array), the batch points into the array and nothing is copied: a memmap is then read in place,
// page by page, by the operators. Otherwise (a strided view) each frame is gathered into the
// batch slot of the pool.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ingest/source.hpp"
#include "pipeline/core/batch_pool.hpp"

namespace stemflow::ingest {

struct MemoryArray {
  const std::byte* data = nullptr;
  std::array<std::uint32_t, 4> shape{};   // Rx, Ry, Qx, Qy
  std::array<std::int64_t, 4> strides{};  // in bytes, as numpy gives them
  Dtype dtype = Dtype::kU16;
  std::string description = "array";  // for logs and provenance
  //! Batches handed to the engine and not yet back in the pool, at most (0: as many as the pool
  //! holds). Frames are "received" the moment they are handed over, and a stop drains what was
  //! received: a bound keeps stop() prompt when the pool holds the whole array.
  std::size_t max_in_flight = 0;
};

class MemorySource final : public Source {
 public:
  //! Throws ConfigError when the array holds no frames.
  MemorySource(BatchPool& pool, MemoryArray array);
  ~MemorySource() override;

  SourceStatus next() override;
  const SeriesHeader& header() const override { return header_; }
  FrameBatch* take_batch() override;
  const SeriesCounts& counts() const override { return counts_; }
  void reject_series() override { rejected_ = true; }
  std::string describe() const override { return array_.description; }

  //! True when batches point into the array (its frames are back to back).
  bool zero_copy() const { return contiguous_; }

 private:
  enum class State { kStart, kRunning, kEnding, kDone };
  //! The pool's own pixel memory of a slot, restored before the slot is filled by copying and
  //! when the source goes away (a zero-copy batch points into the array).
  std::byte* pool_pixels(FrameBatch* b);
  void gather(std::uint64_t index, std::byte* dst) const;

  BatchPool& pool_;
  MemoryArray array_;
  SeriesHeader header_;
  SeriesCounts counts_;
  bool contiguous_ = false;
  bool rejected_ = false;
  std::uint64_t next_ = 0;
  FrameBatch* ready_ = nullptr;
  State state_ = State::kStart;
  std::vector<std::pair<FrameBatch*, std::byte*>> own_pixels_;
};

}  // namespace stemflow::ingest
