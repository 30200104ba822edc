// SPDX-License-Identifier: GPL-3.0-or-later
// The HDF5 results file of a series, in the EMD 1.0 layout py4DSTEM reads, written while the scan
// runs:
//   series start  create the file with every map (NaN-filled, chunked by rows), the coverage, the
//                 live peak tables and the static provenance, then switch to SWMR writing, so that
//                 h5py / py4DSTEM can open it during the acquisition;
//   during        at most every flush_interval, write the rows that changed and flush: a reader
//   sees
//                 the rows done so far, and a killed engine leaves a readable file with them; the
//                 coverage is written last, as the commit record of each flush, and a flush that
//                 fails (a full disk) is put back: the file holds the same rows in every dataset;
//   series end    write the last rows, leave SWMR, then add what SWMR cannot (new objects and
//                 variable-length data): BraggVectors, per-series images, the final provenance;
//                 cut short (a second signal), only the rows and the provenance, then close.
// Layout:
//   /stemflow                      Root
//     <name>[_<suffix>]            VirtualImage (Rx, Ry) per per-frame scalar (CoM: _qx, _qy,
//                                  _intensity; Bragg disks: _count)
//     <name>                       BraggVectors (_v_uncal PointListArray) for peak finders
//     <name>_peaks                 Array (N, 5): rx, ry, qx, qy, intensity, appended live
//     <name>[_<suffix>]            DiffractionSlice per diffraction-space per-series image (mean/
//                                  max pattern, Bragg vector map); RealSlice (Rx, Ry) per
//                                  scan-shaped one (fitted origin, strain maps)
//     coverage                     RealSlice uint8 (Rx, Ry): 1 where a frame reached the results
//     metadatabundle/provenance    Metadata: configuration, version, input, times, frame counts
//     metadatabundle/operator_<n>  Metadata: each operator's parameters and failures
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "pipeline/core/expected.hpp"
#include "pipeline/core/observer.hpp"

namespace stemflow::sinks {

enum class IfExists { kRename, kError, kOverwrite };

//! Expands "{series}" in `pattern` and applies the if-exists policy: kRename appends _1, _2, ... to
//! the stem; kError returns an error naming the file; kOverwrite returns the path as is. Creates
//! the parent directory.
Expected<std::string> resolve_output_path(const std::string& pattern,
                                          std::uint64_t series_id,
                                          IfExists policy);

struct Hdf5Options {
  std::string path;  // pattern, "{series}" expanded
  IfExists if_exists = IfExists::kRename;
  std::chrono::milliseconds flush_interval{1000};
};

class Hdf5Sink final : public Observer {
 public:
  explicit Hdf5Sink(Hdf5Options options);
  ~Hdf5Sink() override;
  std::string_view name() const override { return "hdf5"; }
  void series_started(const ResultStore& store, const Provenance& prov) override;
  void batch_done(const FrameBatch& batch, const ResultStore& store) override;
  Expected<std::string> series_ended(const ResultStore& store, const Provenance& prov) override;
  //! Makes series_ended skip the BraggVectors and per-series images still to be written (their
  //! cost grows with the scan) and record series_end = "cut_short"; the rows, the coverage and the
  //! provenance are still written and the file closed, so that any reader opens it.
  void cut_short() override { cut_short_.store(true); }

 private:
  struct Live;
  void flush(const ResultStore& store);
  //! After a failed flush: the datasets back to what the last good flush left (see flush()).
  void roll_back(const ResultStore& store);
  void fail(const std::string& what);

  Hdf5Options options_;
  std::unique_ptr<Live> live_;
  std::string path_;
  std::string error_;
  std::atomic<bool> cut_short_{false};
};

}  // namespace stemflow::sinks
