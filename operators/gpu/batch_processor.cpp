// SPDX-License-Identifier: GPL-3.0-or-later
// BatchProcessor: sizing, allocation and the per-batch sequence of copies and launches. Host code
// only (compiled by the C++ compiler); the kernels are behind the launchers of *_kernels.cuh.
#include "operators/gpu/batch_processor.hpp"

#include <cuda_runtime.h>
#include <cufft.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <numbers>
#include <string>
#include <utility>

#include "operators/bragg_disks/numpy_compat.hpp"
#include "operators/gpu/bragg_disks_kernels.cuh"
#include "operators/gpu/cuda_check.hpp"
#include "operators/gpu/detector_kernels.cuh"

namespace stemflow::gpu {

static_assert(kMaxPackedMasks == std::size_t(kMaxMasks), "gpu_plan.hpp and detector_kernels.cuh");

namespace {

constexpr std::size_t kAlign = 256;
//! Device memory left free for cuFFT's plan data, the CUDA context and other users of the card.
constexpr double kMemoryHeadroom = 0.90;

std::size_t align_up(std::size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

//! A bump allocator over one allocation. Run once with base == nullptr to count the bytes (the
//! two-phase "query, then run": nothing is allocated per batch), then over the real allocation.
class Arena {
 public:
  explicit Arena(std::byte* base = nullptr) : base_(base) {}
  template <class T>
  T* take(std::size_t n) {
    off_ = align_up(off_);
    T* p = base_ != nullptr ? reinterpret_cast<T*>(base_ + off_) : nullptr;
    off_ += n * sizeof(T);
    return p;
  }
  std::size_t bytes() const { return align_up(off_); }

 private:
  std::byte* base_;
  std::size_t off_ = 0;
};

struct DeviceBuffer {
  std::byte* p = nullptr;
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (p != nullptr) cudaFree(p);
  }
};

struct PinnedBuffer {
  std::byte* p = nullptr;
  PinnedBuffer() = default;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer() {
    if (p != nullptr) cudaFreeHost(p);
  }
};

//! Per Bragg task, shared by all slots: the kernel parameters and the constant tables.
struct BraggShared {
  BraggKernelParams params;
  const ops::ProbeKernel* kernel = nullptr;
  double template_scale = 1;
  float2* d_template = nullptr;
  double2* d_twx = nullptr;
  double2* d_twy = nullptr;
  double2* d_omega = nullptr;
  std::vector<double2> h_twx, h_twy, h_omega;
  std::size_t sort_temp_bytes = 0;
  std::size_t fft_work_bytes = 0;
};

struct BraggSlot {
  BraggKernelBuffers buf;
  cufftHandle r2c = 0;
  cufftHandle c2r = 0;
};

struct Slot {
  cudaStream_t stream = nullptr;
  cudaEvent_t done = nullptr;
  std::vector<cudaEvent_t> stage;  // profile: start, copied, frame pass, (fft, peaks) per task, out
  DeviceBuffer arena;
  PinnedBuffer h_results;
  std::byte* d_frames = nullptr;
  std::byte* d_results = nullptr;
  double* d_mean_sum = nullptr;
  double* d_max = nullptr;
  std::vector<BraggSlot> bragg;
  std::uint32_t count = 0;
};

std::vector<double2> twiddles(long long len) {
  std::vector<double2> t(static_cast<std::size_t>(len));
  for (long long i = 0; i < len; ++i) {
    // As multicorr_cpu.cpp's tables: cos / sin of 2 pi t / len in float64.
    const double a = 2.0 * std::numbers::pi * double(i) / double(len);
    t[static_cast<std::size_t>(i)] = make_double2(std::cos(a), std::sin(a));
  }
  return t;
}

long long pos_mod(long long a, long long m) {
  const long long r = a % m;
  return r < 0 ? r + m : r;
}

long long fft_freq(long long k, long long n) { return k < (n + 1) / 2 ? k : k - n; }

//! The batched R2C / C2R pair over `capacity` frames (64-bit sizes: a batch may exceed 2^31
//! values), without work areas of their own; reports the work area bytes each needs. Throws
//! ConfigError.
void make_fft_plans(std::uint32_t rows,
                    std::uint32_t cols,
                    std::uint32_t capacity,
                    cufftHandle& r2c,
                    cufftHandle& c2r,
                    std::size_t& w_r2c,
                    std::size_t& w_c2r) {
  long long n[2] = {rows, cols};
  const long long idist = static_cast<long long>(rows) * cols;
  const long long odist = static_cast<long long>(rows) * (cols / 2 + 1);
  STEMFLOW_CUFFT_CHECK(cufftCreate(&r2c));
  STEMFLOW_CUFFT_CHECK(cufftSetAutoAllocation(r2c, 0));
  STEMFLOW_CUFFT_CHECK(cufftMakePlanMany64(
      r2c, 2, n, nullptr, 1, idist, nullptr, 1, odist, CUFFT_R2C, capacity, &w_r2c));
  STEMFLOW_CUFFT_CHECK(cufftCreate(&c2r));
  STEMFLOW_CUFFT_CHECK(cufftSetAutoAllocation(c2r, 0));
  STEMFLOW_CUFFT_CHECK(cufftMakePlanMany64(
      c2r, 2, n, nullptr, 1, odist, nullptr, 1, idist, CUFFT_C2R, capacity, &w_c2r));
}

}  // namespace

struct BatchProcessor::Impl {
  ProcessorSpec spec;
  DeviceInfo info;
  std::size_t frame_bytes = 0;
  std::size_t pixels = 0;
  bool integer_pixels = true;
  ResultLayout layout;
  PackedMasks masks;                                 // the detectors, then the CoM regions
  std::vector<std::uint8_t> det_binary, com_binary;  // per mask: 1 = binary
  DeviceBuffer const_arena;
  std::uint32_t* d_bits = nullptr;
  std::vector<double*> d_weights;  // per mask; null for binary masks
  std::vector<BraggShared> bragg;
  FramePassParams frame_pass;
  std::vector<std::unique_ptr<Slot>> slots;
  std::unique_ptr<SlotRing> ring;
  std::size_t device_bytes = 0;
  mutable std::mutex times_mutex;
  StageTimes times;

  ~Impl() {
    for (auto& s : slots) {
      if (s->stream != nullptr) cudaStreamSynchronize(s->stream);
      for (auto& b : s->bragg) {
        if (b.r2c != 0) cufftDestroy(b.r2c);
        if (b.c2r != 0) cufftDestroy(b.c2r);
      }
      for (cudaEvent_t e : s->stage) cudaEventDestroy(e);
      if (s->done != nullptr) cudaEventDestroy(s->done);
      if (s->stream != nullptr) cudaStreamDestroy(s->stream);
    }
  }

  void setup_bragg();
  void setup_masks();
  std::size_t slot_bytes() const;
  void make_slot(Slot& s);
  cudaError_t enqueue(Slot& s, const std::byte* frames, std::uint32_t count);
};

void BatchProcessor::Impl::setup_bragg() {
  const std::size_t npx = pixels;
  for (const BraggTask& task : spec.bragg) {
    const auto& p = task.params;
    if (auto why = bragg_unsupported_reason(
            p, !task.kernel.empty(), spec.rows, spec.cols, info.smem_optin)) {
      throw ConfigError("bragg_disks cannot run on the GPU: " + *why);
    }
    if (!task.kernel.empty() && (task.kernel.rows != spec.rows || task.kernel.cols != spec.cols ||
                                 task.kernel.values.size() != npx)) {
      throw ConfigError("bragg_disks: the template does not have the frame shape");
    }
    BraggShared b;
    b.kernel = &task.kernel;
    BraggKernelParams& k = b.params;
    k.rows = spec.rows;
    k.cols = spec.cols;
    k.half = spec.cols / 2 + 1;
    k.capacity = spec.capacity;
    k.pixels = pixel_type(spec.dtype);
    // bragg_disks_cpu.cpp: numpy's 1/N folds into the template when the correlation is linear.
    k.linear = p.corr_power == 1.0;
    k.phase_only = p.corr_power == 0.0;
    const double inv_n = 1.0 / double(npx);
    k.corr_exp = static_cast<float>((p.corr_power - 1) / 2);
    k.inv_n = static_cast<float>(inv_n);
    k.at_zero = static_cast<float>(std::pow(0.0, p.corr_power) * inv_n);
    b.template_scale = k.linear ? inv_n : 1.0;
    const auto w = ops::npc::gaussian_weights(p.sigma);
    if (w.empty()) {
      k.gauss_radius = 0;
      k.gauss_weights[0] = 1.0f;  // x * 1 = x: the clipped correlation unchanged
    } else {
      k.gauss_radius = static_cast<int>(w.size()) - 1;
      for (std::size_t t = 0; t < w.size(); ++t) k.gauss_weights[t] = static_cast<float>(w[t]);
    }
    k.edge = std::max(p.edge_boundary, 1);
    k.min_absolute = p.min_absolute_intensity;
    k.min_relative = p.min_relative_intensity;
    k.relative_to_peak = p.relative_to_peak;
    k.spacing = p.min_peak_spacing > 0;
    k.spacing2 = p.min_peak_spacing * p.min_peak_spacing;
    k.max_peaks = p.max_num_peaks;
    k.subpixel = p.subpixel == ops::Subpixel::kPixel  ? 0
                 : p.subpixel == ops::Subpixel::kPoly ? 1
                                                      : 2;
    k.cand_capacity = max_candidates(spec.rows, spec.cols, p.edge_boundary);
    const auto g = multicorr_geometry(spec.rows, spec.cols, p.upsample_factor);
    k.us = g.us;
    k.mc_n = g.n;
    k.mc_g = g.g;
    k.lx = g.lx;
    k.ly = g.ly;
    k.nyq_row = g.nyq_row;
    k.nyq_col = g.nyq_col;
    k.mc_smem = g.smem_bytes;
    if (k.subpixel == 2) {
      b.h_twx = twiddles(g.lx);
      b.h_twy = twiddles(g.ly);
      b.h_omega.resize(std::size_t(k.half) * g.n);
      for (std::uint32_t v = 0; v < k.half; ++v) {
        for (int l = 0; l < g.n; ++l) {
          b.h_omega[std::size_t(v) * g.n + l] = b.h_twy[pos_mod(fft_freq(v, spec.cols) * l, g.ly)];
        }
      }
    }
    STEMFLOW_CUDA_CHECK(bragg_sort_temp_bytes(spec.capacity, k.cand_capacity, b.sort_temp_bytes));
    // The cuFFT work area the plans need: measured on a throw-away pair of plans made exactly as
    // make_slot makes each slot's (one work area serves both, they run one after the other).
    std::size_t w_r2c = 0, w_c2r = 0;
    {
      cufftHandle r2c = 0, c2r = 0;
      make_fft_plans(spec.rows, spec.cols, spec.capacity, r2c, c2r, w_r2c, w_c2r);
      cufftDestroy(r2c);
      cufftDestroy(c2r);
    }
    b.fft_work_bytes = std::max(w_r2c, w_c2r);
    STEMFLOW_CUDA_CHECK(bragg_prepare_device(k));
    bragg.push_back(std::move(b));
  }
}

void BatchProcessor::Impl::setup_masks() {
  std::vector<DetectorSpec> all = spec.detectors;
  all.insert(all.end(), spec.com.begin(), spec.com.end());
  if (all.size() > std::size_t(kMaxMasks)) {
    throw ConfigError("the GPU sums at most " + std::to_string(kMaxMasks) +
                      " detector and centre-of-mass masks per pipeline");
  }
  try {
    masks = pack_masks(all, pixels);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string("GPU detector masks: ") + e.what());
  }
  for (std::size_t d = 0; d < spec.detectors.size(); ++d) det_binary.push_back(masks.binary[d]);
  for (std::size_t c = 0; c < spec.com.size(); ++c) {
    com_binary.push_back(masks.binary[spec.detectors.size() + c]);
  }
}

std::size_t BatchProcessor::Impl::slot_bytes() const {
  // The same sequence of takes as make_slot, counting only.
  Arena a;
  a.take<std::byte>(std::size_t(spec.capacity) * frame_bytes);
  a.take<std::byte>(layout.bytes);
  if (spec.mean_pattern) a.take<double>(pixels);
  if (spec.max_pattern) a.take<double>(pixels);
  for (const auto& b : bragg) {
    const auto& k = b.params;
    const std::size_t cap = spec.capacity;
    const std::size_t nspec = std::size_t(k.rows) * k.half;
    a.take<float>(cap * pixels);
    a.take<float2>(cap * nspec);
    if (k.subpixel == 2) a.take<float2>(cap * nspec);
    a.take<float>(cap * pixels);
    a.take<unsigned long long>(cap * k.cand_capacity);
    a.take<unsigned long long>(cap * k.cand_capacity);
    a.take<std::uint32_t>(cap);
    a.take<long long>(cap);
    a.take<long long>(cap);
    a.take<std::byte>(b.sort_temp_bytes);
    a.take<std::byte>(b.fft_work_bytes);
  }
  return a.bytes();
}

void BatchProcessor::Impl::make_slot(Slot& s) {
  STEMFLOW_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
  // The host waits on this event without spinning a core (the engine's worker threads block here).
  STEMFLOW_CUDA_CHECK(
      cudaEventCreateWithFlags(&s.done, cudaEventBlockingSync | cudaEventDisableTiming));
  if (spec.profile) {
    s.stage.resize(4 + 2 * bragg.size());
    for (auto& e : s.stage) STEMFLOW_CUDA_CHECK(cudaEventCreate(&e));
  }
  const std::size_t bytes = slot_bytes();
  STEMFLOW_CUDA_CHECK(cudaMalloc(&s.arena.p, bytes));
  // Defined contents everywhere: the FFTs of a partly filled batch read the unused frames.
  STEMFLOW_CUDA_CHECK(cudaMemset(s.arena.p, 0, bytes));
  STEMFLOW_CUDA_CHECK(cudaHostAlloc(&s.h_results.p, layout.bytes, cudaHostAllocDefault));
  std::memset(s.h_results.p, 0, layout.bytes);

  // Carve again, this time keeping the FFT work areas.
  Arena a(s.arena.p);
  s.d_frames = a.take<std::byte>(std::size_t(spec.capacity) * frame_bytes);
  s.d_results = a.take<std::byte>(layout.bytes);
  s.d_mean_sum = spec.mean_pattern ? a.take<double>(pixels) : nullptr;
  s.d_max = spec.max_pattern ? a.take<double>(pixels) : nullptr;
  if (s.d_max != nullptr) {
    const std::vector<double> ninf(pixels, -std::numeric_limits<double>::infinity());
    STEMFLOW_CUDA_CHECK(
        cudaMemcpy(s.d_max, ninf.data(), pixels * sizeof(double), cudaMemcpyHostToDevice));
  }
  s.bragg.resize(bragg.size());
  for (std::size_t t = 0; t < bragg.size(); ++t) {
    const BraggShared& sh = bragg[t];
    const auto& k = sh.params;
    const std::size_t cap = spec.capacity;
    const std::size_t nspec = std::size_t(k.rows) * k.half;
    BraggSlot& bs = s.bragg[t];
    BraggKernelBuffers& b = bs.buf;
    b.d_frames = s.d_frames;
    b.d_bad = reinterpret_cast<const std::uint8_t*>(s.d_results + layout.bad_offset);
    b.d_template = sh.d_template;
    b.d_real = a.take<float>(cap * pixels);
    b.d_spec = a.take<float2>(cap * nspec);
    b.d_keep = k.subpixel == 2 ? a.take<float2>(cap * nspec) : nullptr;
    b.d_smooth = a.take<float>(cap * pixels);
    b.d_keys = a.take<unsigned long long>(cap * k.cand_capacity);
    b.d_keys_sorted = a.take<unsigned long long>(cap * k.cand_capacity);
    b.d_cand_count = a.take<std::uint32_t>(cap);
    b.d_seg_begin = a.take<long long>(cap);
    b.d_seg_end = a.take<long long>(cap);
    b.d_sort_temp = a.take<std::byte>(sh.sort_temp_bytes);
    b.sort_temp_bytes = sh.sort_temp_bytes;
    void* work = a.take<std::byte>(sh.fft_work_bytes);
    b.d_peak_count = reinterpret_cast<std::uint32_t*>(s.d_results + layout.bragg[t].counts_offset);
    b.d_peaks = s.d_results + layout.bragg[t].peaks_offset;
    b.d_twx = sh.d_twx;
    b.d_twy = sh.d_twy;
    b.d_omega = sh.d_omega;

    // Batched 2-D plans over the slot's capacity, without their own work areas: both use the one
    // carved above (they run one after the other on the slot's stream).
    std::size_t w_r2c = 0, w_c2r = 0;
    make_fft_plans(spec.rows, spec.cols, spec.capacity, bs.r2c, bs.c2r, w_r2c, w_c2r);
    if (std::max(w_r2c, w_c2r) > sh.fft_work_bytes) {
      throw ConfigError("cuFFT needs " + std::to_string(std::max(w_r2c, w_c2r)) +
                        " bytes of work area, more than its estimate of " +
                        std::to_string(sh.fft_work_bytes));
    }
    STEMFLOW_CUFFT_CHECK(cufftSetWorkArea(bs.r2c, work));
    STEMFLOW_CUFFT_CHECK(cufftSetWorkArea(bs.c2r, work));
    STEMFLOW_CUFFT_CHECK(cufftSetStream(bs.r2c, s.stream));
    STEMFLOW_CUFFT_CHECK(cufftSetStream(bs.c2r, s.stream));
    b.r2c = bs.r2c;
    b.c2r = bs.c2r;
  }
}

cudaError_t BatchProcessor::Impl::enqueue(Slot& s, const std::byte* frames, std::uint32_t count) {
  const bool prof = !s.stage.empty();
  if (prof) STEMFLOW_CUDA_TRY(cudaEventRecord(s.stage[0], s.stream));
  if (count > 0) {
    STEMFLOW_CUDA_TRY(cudaMemcpyAsync(
        s.d_frames, frames, std::size_t(count) * frame_bytes, cudaMemcpyHostToDevice, s.stream));
  }
  if (prof) STEMFLOW_CUDA_TRY(cudaEventRecord(s.stage[1], s.stream));
  FramePassParams fp = frame_pass;
  fp.d_mean_sum = s.d_mean_sum;
  fp.d_max = s.d_max;
  FramePassBuffers fb;
  fb.d_frames = s.d_frames;
  fb.d_bad = reinterpret_cast<std::uint8_t*>(s.d_results + layout.bad_offset);
  fb.d_detector_sums = s.d_results + layout.detectors_offset;
  fb.d_com_sums = s.d_results + layout.com_offset;
  STEMFLOW_CUDA_TRY(launch_frame_pass(fp, fb, count, s.stream));
  if (prof) STEMFLOW_CUDA_TRY(cudaEventRecord(s.stage[2], s.stream));
  for (std::size_t t = 0; t < bragg.size(); ++t) {
    BraggStageEvents ev;
    if (prof) {
      ev.after_fft = s.stage[3 + 2 * t];
      ev.after_peaks = s.stage[4 + 2 * t];
    }
    STEMFLOW_CUDA_TRY(
        launch_bragg_disks(bragg[t].params, s.bragg[t].buf, count, prof ? &ev : nullptr, s.stream));
  }
  STEMFLOW_CUDA_TRY(
      cudaMemcpyAsync(s.h_results.p, s.d_results, layout.bytes, cudaMemcpyDeviceToHost, s.stream));
  if (prof) STEMFLOW_CUDA_TRY(cudaEventRecord(s.stage.back(), s.stream));
  STEMFLOW_CUDA_TRY(cudaEventRecord(s.done, s.stream));
  return cudaSuccess;
}

BatchProcessor::BatchProcessor(ProcessorSpec spec)
    : spec_(std::move(spec)), impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.spec = spec_;
  const ProcessorSpec& s = m.spec;
  if (s.capacity == 0 || s.capacity > kMaxBatchFrames) {
    throw ConfigError("GPU batch capacity must be 1.." + std::to_string(kMaxBatchFrames) +
                      " frames, got " + std::to_string(s.capacity));
  }
  if (s.rows == 0 || s.cols == 0 || s.rows > kMaxFrameSide || s.cols > kMaxFrameSide) {
    throw ConfigError("GPU frames must be 1.." + std::to_string(kMaxFrameSide) + " pixels a side");
  }
  if (s.slots < 1) throw ConfigError("GPU stream slots must be >= 1");
  m.pixels = std::size_t(s.rows) * s.cols;
  m.frame_bytes = m.pixels * dtype_size(s.dtype);
  m.integer_pixels = s.dtype != Dtype::kF32;

  STEMFLOW_CUDA_CHECK(cudaSetDevice(s.device));
  m.info = cuda_device_info(s.device);
  m.setup_masks();
  std::vector<std::uint32_t> max_peaks;
  for (const auto& b : s.bragg)
    max_peaks.push_back(static_cast<std::uint32_t>(b.params.max_num_peaks));
  m.layout = make_result_layout(
      s.capacity, max_peaks, std::uint32_t(s.detectors.size()), std::uint32_t(s.com.size()));
  m.setup_bragg();

  // Constant tables: one allocation, uploaded once.
  {
    Arena count;
    const auto carve = [&](Arena& a) {
      m.d_bits = a.take<std::uint32_t>(m.pixels);
      m.d_weights.assign(m.masks.dense.size(), nullptr);
      for (std::size_t d = 0; d < m.masks.dense.size(); ++d) {
        if (!m.masks.binary[d]) m.d_weights[d] = a.take<double>(m.pixels);
      }
      for (auto& b : m.bragg) {
        b.d_template = a.take<float2>(std::size_t(b.params.rows) * b.params.half);
        b.d_twx = b.h_twx.empty() ? nullptr : a.take<double2>(b.h_twx.size());
        b.d_twy = b.h_twy.empty() ? nullptr : a.take<double2>(b.h_twy.size());
        b.d_omega = b.h_omega.empty() ? nullptr : a.take<double2>(b.h_omega.size());
      }
    };
    carve(count);
    const std::size_t const_bytes = count.bytes();
    const std::size_t per_slot = m.slot_bytes();
    std::size_t free_b = 0, total_b = 0;
    STEMFLOW_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    const double budget = double(free_b) * kMemoryHeadroom - double(const_bytes);
    int slots = s.slots;
    while (slots > 2 && double(per_slot) * slots > budget) --slots;
    if (double(per_slot) * slots > budget) {
      throw ConfigError("GPU memory: " + std::to_string(slots) + " stream slots of " +
                        std::to_string(per_slot >> 20) + " MiB (batches of " +
                        std::to_string(s.capacity) + " frames) do not fit the " +
                        std::to_string(free_b >> 20) + " MiB free on device " +
                        std::to_string(s.device) + "; lower pipeline.batch_frames");
    }
    m.spec.slots = slots;
    spec_.slots = slots;
    STEMFLOW_CUDA_CHECK(cudaMalloc(&m.const_arena.p, const_bytes));
    Arena real(m.const_arena.p);
    carve(real);
    STEMFLOW_CUDA_CHECK(cudaMemcpy(
        m.d_bits, m.masks.bits.data(), m.pixels * sizeof(std::uint32_t), cudaMemcpyHostToDevice));
    for (std::size_t d = 0; d < m.masks.dense.size(); ++d) {
      if (m.d_weights[d] != nullptr) {
        STEMFLOW_CUDA_CHECK(cudaMemcpy(m.d_weights[d],
                                       m.masks.dense[d].data(),
                                       m.pixels * sizeof(double),
                                       cudaMemcpyHostToDevice));
      }
    }
    cudaStream_t setup = nullptr;
    STEMFLOW_CUDA_CHECK(cudaStreamCreateWithFlags(&setup, cudaStreamNonBlocking));
    for (std::size_t t = 0; t < m.bragg.size(); ++t) {
      auto& b = m.bragg[t];
      const double* kern = b.kernel->empty() ? nullptr : b.kernel->values.data();
      const cudaError_t e =
          build_template_spectrum(kern, s.rows, s.cols, b.template_scale, b.d_template, setup);
      if (e != cudaSuccess) {
        cudaStreamDestroy(setup);
        throw_cuda(e, "build_template_spectrum", __FILE__, __LINE__);
      }
      if (b.d_twx != nullptr) {
        STEMFLOW_CUDA_CHECK(cudaMemcpy(
            b.d_twx, b.h_twx.data(), b.h_twx.size() * sizeof(double2), cudaMemcpyHostToDevice));
        STEMFLOW_CUDA_CHECK(cudaMemcpy(
            b.d_twy, b.h_twy.data(), b.h_twy.size() * sizeof(double2), cudaMemcpyHostToDevice));
        STEMFLOW_CUDA_CHECK(cudaMemcpy(b.d_omega,
                                       b.h_omega.data(),
                                       b.h_omega.size() * sizeof(double2),
                                       cudaMemcpyHostToDevice));
      }
    }
    STEMFLOW_CUDA_CHECK(cudaStreamDestroy(setup));
    m.device_bytes = const_bytes + per_slot * std::size_t(slots);
  }

  // The frame pass: detectors, then CoM regions, as packed.
  FramePassParams& fp = m.frame_pass;
  fp.rows = s.rows;
  fp.cols = s.cols;
  fp.pixels = pixel_type(s.dtype);
  fp.d_bits = m.d_bits;
  fp.detectors = int(s.detectors.size());
  fp.com = int(s.com.size());
  for (std::size_t d = 0; d < m.masks.binary.size(); ++d) {
    DeviceMask dm;
    dm.binary = m.masks.binary[d];
    dm.bit = int(d);
    dm.d_weights = m.d_weights[d];
    if (d < s.detectors.size()) {
      fp.detector[d] = dm;
    } else {
      fp.com_region[d - s.detectors.size()] = dm;
    }
  }

  for (int i = 0; i < m.spec.slots; ++i) {
    m.slots.push_back(std::make_unique<Slot>());
    m.make_slot(*m.slots.back());
  }
  m.ring = std::make_unique<SlotRing>(m.slots.size());
}

BatchProcessor::~BatchProcessor() = default;

Expected<BatchProcessor::Ticket> BatchProcessor::submit(const std::byte* frames,
                                                        std::uint32_t count) {
  Impl& m = *impl_;
  if (count > m.spec.capacity) {
    return make_error("gpu_batch",
                      "batch of " + std::to_string(count) + " frames exceeds the GPU capacity of " +
                          std::to_string(m.spec.capacity));
  }
  if (const cudaError_t e = cudaSetDevice(m.spec.device); e != cudaSuccess) {
    return make_error("cuda", std::string("cudaSetDevice: ") + cudaGetErrorString(e));
  }
  const std::size_t t = m.ring->acquire();
  Slot& s = *m.slots[t];
  s.count = count;
  const cudaError_t e = m.enqueue(s, frames, count);
  if (e != cudaSuccess) {
    cudaStreamSynchronize(s.stream);  // whatever was enqueued finishes before the slot is reused
    m.ring->release(t);
    return make_error("cuda",
                      std::string("enqueueing a batch: ") + cudaGetErrorName(e) + " (" +
                          cudaGetErrorString(e) + ")");
  }
  return t;
}

Expected<UnpackCounts> BatchProcessor::complete(Ticket ticket, const UnpackTargets& targets) {
  Impl& m = *impl_;
  Slot& s = *m.slots.at(ticket);
  cudaError_t e = cudaEventSynchronize(s.done);
  if (e == cudaSuccess && !s.stage.empty()) {
    float ms[5] = {0, 0, 0, 0, 0};
    const std::size_t last = s.stage.size() - 1;
    e = cudaEventElapsedTime(&ms[0], s.stage[0], s.stage[1]);
    if (e == cudaSuccess) e = cudaEventElapsedTime(&ms[1], s.stage[1], s.stage[2]);
    cudaEvent_t prev = s.stage[2];
    for (std::size_t t = 0; t < m.bragg.size() && e == cudaSuccess; ++t) {
      float a = 0, b = 0;
      e = cudaEventElapsedTime(&a, prev, s.stage[3 + 2 * t]);
      if (e == cudaSuccess) e = cudaEventElapsedTime(&b, s.stage[3 + 2 * t], s.stage[4 + 2 * t]);
      ms[2] += a;
      ms[3] += b;
      prev = s.stage[4 + 2 * t];
    }
    if (e == cudaSuccess) e = cudaEventElapsedTime(&ms[4], prev, s.stage[last]);
    if (e == cudaSuccess) {
      std::lock_guard lock(m.times_mutex);
      m.times.copy_in += ms[0];
      m.times.frame_pass += ms[1];
      m.times.fft += ms[2];
      m.times.peaks += ms[3];
      m.times.copy_out += ms[4];
      ++m.times.batches;
    }
  }
  if (e != cudaSuccess) {
    m.ring->release(ticket);
    return make_error("cuda",
                      std::string("GPU batch failed: ") + cudaGetErrorName(e) + " (" +
                          cudaGetErrorString(e) + ")");
  }
  const UnpackCounts c = unpack_results(
      s.h_results.p, m.layout, s.count, m.integer_pixels, m.det_binary, m.com_binary, targets);
  m.ring->release(ticket);
  return c;
}

Expected<UnpackCounts> BatchProcessor::process(const std::byte* frames,
                                               std::uint32_t count,
                                               const UnpackTargets& targets) {
  auto t = submit(frames, count);
  if (!t) return tl::unexpected(t.error());
  return complete(*t, targets);
}

std::vector<double> BatchProcessor::mean_sum() const {
  const Impl& m = *impl_;
  if (!m.spec.mean_pattern) return {};
  std::vector<double> total(m.pixels, 0.0), part(m.pixels);
  for (const auto& s : m.slots) {
    STEMFLOW_CUDA_CHECK(
        cudaMemcpy(part.data(), s->d_mean_sum, m.pixels * sizeof(double), cudaMemcpyDeviceToHost));
    for (std::size_t i = 0; i < m.pixels; ++i) total[i] += part[i];
  }
  return total;
}

std::vector<double> BatchProcessor::max_pattern() const {
  const Impl& m = *impl_;
  if (!m.spec.max_pattern) return {};
  std::vector<double> total(m.pixels, -std::numeric_limits<double>::infinity()), part(m.pixels);
  for (const auto& s : m.slots) {
    STEMFLOW_CUDA_CHECK(
        cudaMemcpy(part.data(), s->d_max, m.pixels * sizeof(double), cudaMemcpyDeviceToHost));
    for (std::size_t i = 0; i < m.pixels; ++i) total[i] = part[i] > total[i] ? part[i] : total[i];
  }
  return total;
}

StageTimes BatchProcessor::stage_times() const {
  std::lock_guard lock(impl_->times_mutex);
  return impl_->times;
}

std::size_t BatchProcessor::slots() const { return impl_->slots.size(); }
std::size_t BatchProcessor::device_bytes() const { return impl_->device_bytes; }

// ---- helpers
// ---------------------------------------------------------------------------------------

int cuda_device_count(std::string* why_none) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    if (why_none != nullptr)
      *why_none = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
    cudaGetLastError();  // not sticky; clear it for later calls
    return 0;
  }
  if (n == 0 && why_none != nullptr) *why_none = "no CUDA device";
  return n;
}

DeviceInfo cuda_device_info(int index) {
  cudaDeviceProp prop{};
  STEMFLOW_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  DeviceInfo d;
  d.index = index;
  d.name = prop.name;
  d.cc_major = prop.major;
  d.cc_minor = prop.minor;
  d.memory_bytes = prop.totalGlobalMem;
  d.smem_optin = prop.sharedMemPerBlockOptin;
  d.multiprocessors = prop.multiProcessorCount;
  return d;
}

std::string pin_host_memory(void* p, std::size_t bytes) {
  const cudaError_t e = cudaHostRegister(p, bytes, cudaHostRegisterDefault);
  if (e == cudaSuccess) return {};
  cudaGetLastError();
  return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
}

void unpin_host_memory(void* p) {
  if (cudaHostUnregister(p) != cudaSuccess) cudaGetLastError();
}

void* alloc_pinned(std::size_t bytes) {
  void* p = nullptr;
  STEMFLOW_CUDA_CHECK(cudaHostAlloc(&p, bytes, cudaHostAllocDefault));
  return p;
}

void free_pinned(void* p) {
  if (p != nullptr) cudaFreeHost(p);
}

}  // namespace stemflow::gpu
