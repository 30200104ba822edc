// SPDX-License-Identifier: GPL-3.0-or-later
// bslz4 decode rate per core: stemflow's decoder beside the reference bitshuffle library (Debian
// `bitshuffle`, its HDF5 plugin's C API loaded at run time, and the library built from source at
// $BSHUF_NATIVE_LIB when set), each with its instruction set, on the same 256x256 u16 frames; plus
// the bit transposition alone at each SIMD level, the md5 of stream V1's blob hash
// (input.verify_hash), and the parallel batch decode on every core, without and with the md5 check.
// "merlin": the Merlin raw (R64) decode rate per core of 512x512 quads (2x2) at 1, 6 and 12 bit,
// and the simulator's 12-bit encode.
//   bench_decode [frames=64] [seconds=2] [bslz4|merlin|all=all]
#include <dlfcn.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ingest/codecs/bitshuffle.hpp"
#include "ingest/codecs/compression.hpp"
#include "ingest/codecs/md5.hpp"
#include "ingest/merlin/mpx.hpp"

using namespace stemflow::ingest::codecs;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kRows = 256, kCols = 256, kEs = 2, kBytes = kRows * kCols * kEs;

// Detector-like frames: a bright central disk, sparse counts elsewhere (as a 4D-STEM pattern).
std::vector<std::uint8_t> make_frame(std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::poisson_distribution<int> bg(0.4), disk(300.0), bragg(20.0);
  std::vector<std::uint8_t> f(kBytes);
  for (std::size_t r = 0; r < kRows; ++r) {
    for (std::size_t c = 0; c < kCols; ++c) {
      const double dr = double(r) - 128.0 - seed % 5, dc = double(c) - 128.0 + seed % 3;
      const double d2 = dr * dr + dc * dc;
      int v = d2 < 400 ? disk(rng) : bg(rng);
      if ((r % 40 < 4) && (c % 40 < 4)) v += bragg(rng);
      const auto u = static_cast<std::uint16_t>(std::min(v, 65535));
      std::memcpy(&f[(r * kCols + c) * kEs], &u, kEs);
    }
  }
  return f;
}

// Runs fn(i) over the frames round-robin for about `seconds`; returns frames per second.
double rate(double seconds, std::size_t n, const std::function<void(std::size_t)>& fn) {
  for (std::size_t i = 0; i < n; ++i) fn(i);  // warm-up
  std::size_t done = 0;
  const auto t0 = Clock::now();
  double el = 0;
  while (el < seconds) {
    for (std::size_t i = 0; i < n; ++i) fn(i);
    done += n;
    el = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  return double(done) / el;
}

void row(const char* what, double fps, std::size_t bytes = kBytes) {
  std::printf("| %-58s | %10.0f | %7.2f |\n", what, fps, fps * double(bytes) / 1e9);
}

// Merlin raw (R64) quads: n distinct detector-like 512x512 frames (a disk of ~300 counts, sparse
// elsewhere), encoded at 1, 6 and 12 bit (values clamped to the depth, as stemflow-sim sends them),
// decoded into one 512x512 frame; GB/s count the decoded bytes (u8 at 1 and 6 bit, u16 at 12).
void bench_merlin(std::size_t n, double seconds) {
  namespace merlin = stemflow::ingest::merlin;
  constexpr std::uint32_t kSide = 512;
  constexpr std::size_t kPx = std::size_t{kSide} * kSide;
  std::vector<std::vector<std::uint8_t>> frames(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::mt19937 rng(std::uint32_t(i + 1));
    std::poisson_distribution<int> bg(0.4), disk(300.0);
    frames[i].resize(kPx * 2);
    for (std::size_t k = 0; k < kPx; ++k) {
      const double dr = double(k / kSide) - 256.0 - double(i % 5), dc = double(k % kSide) - 256.0;
      const auto v = static_cast<std::uint16_t>(dr * dr + dc * dc < 1600 ? disk(rng) : bg(rng));
      std::memcpy(&frames[i][2 * k], &v, 2);
    }
  }
  std::printf("frames: %zu distinct 512x512 quads (2x2), raw R64, decoded into one frame\n\n", n);
  std::printf("| %-58s | %10s | %7s |\n|---|---:|---:|\n", "one core", "frames/s", "GB/s");
  for (const std::uint32_t depth : {1u, 6u, 12u}) {
    const std::string head = merlin::encode_raw_frame_header(1, "2x2", depth, kSide, kSide);
    const auto h = merlin::parse_frame_header(
        {reinterpret_cast<const std::uint8_t*>(head.data()), head.size()});
    if (!h) std::abort();
    std::vector<std::vector<std::uint8_t>> raw(n, std::vector<std::uint8_t>(h->pixel_bytes));
    for (std::size_t i = 0; i < n; ++i) {
      merlin::encode_raw_frame(*h, stemflow::Dtype::kU16, frames[i], raw[i]);
    }
    std::vector<std::uint8_t> out(h->frame_bytes());
    const std::string what = "merlin R64 decode, 2x2 " + std::to_string(depth) + "-bit (" +
                             std::to_string(h->pixel_bytes / 1024) + " KiB in, " +
                             std::to_string(h->frame_bytes() / 1024) + " KiB out)";
    row(what.c_str(),
        rate(seconds,
             n,
             [&](std::size_t i) {
               if (!merlin::decode_pixels(*h, raw[i], out)) std::abort();
             }),
        h->frame_bytes());
    if (depth == 12) {
      row("stemflow-sim encode_raw_frame, 2x2 12-bit from u16",
          rate(seconds,
               n,
               [&](std::size_t i) {
                 merlin::encode_raw_frame(*h, stemflow::Dtype::kU16, frames[i], raw[i]);
               }),
          h->frame_bytes());
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 64;
  const double seconds = argc > 2 ? std::strtod(argv[2], nullptr) : 2.0;
  const std::string mode = argc > 3 ? argv[3] : "all";
  if (mode == "merlin") {
    bench_merlin(n, seconds);
    return 0;
  }
  std::vector<std::vector<std::uint8_t>> raw(n), packed(n);
  std::size_t packed_bytes = 0;
  for (std::size_t i = 0; i < n; ++i) {
    raw[i] = make_frame(std::uint32_t(i + 1));
    bslz4_compress(raw[i], kEs, packed[i]);
    packed_bytes += packed[i].size();
  }
  std::vector<std::uint8_t> out(kBytes);
  std::printf(
      "frames: %zu distinct 256x256 u16 (%.0f KiB), bslz4 ratio %.2f; stemflow's SIMD level: "
      "%s\n\n",
      n,
      kBytes / 1024.0,
      double(n * kBytes) / double(packed_bytes),
      std::string(simd_level_name(simd_level())).c_str());
  std::printf(
      "| %-58s | %10s | %7s |\n|---|---:|---:|\n", "one core unless noted", "frames/s", "GB/s");

  row("stemflow bslz4_decompress (LZ4 + bit transposition)", rate(seconds, n, [&](std::size_t i) {
        if (!bslz4_decompress(packed[i], out, kEs)) std::abort();
      }));

  // Stream V1 hashes (input.verify_hash): the md5 of the blob as it came, alone and before decoding
  // it.
  std::vector<Md5Digest> digests(n);
  for (std::size_t i = 0; i < n; ++i) digests[i] = md5(packed[i]);
  row("md5 of the bslz4 blob (stream V1 hash)", rate(seconds, n, [&](std::size_t i) {
        if (md5(packed[i]) != digests[i]) std::abort();
      }));
  volatile std::uint8_t sink = 0;  // keeps the digests of the raw frames from being optimised out
  row("md5 of the frame uncompressed (stream V1 hash, raw blob)",
      rate(seconds, n, [&](std::size_t i) { sink = md5(raw[i])[0]; }));
  row("md5 check + bslz4_decompress (input.verify_hash)", rate(seconds, n, [&](std::size_t i) {
        if (md5(packed[i]) != digests[i] || !bslz4_decompress(packed[i], out, kEs)) std::abort();
      }));

  // The reference: Debian's HDF5 plugin build (generic x86-64, so SSE2 only), and, when run.sh
  // could build it, bitshuffle from source with -O3 -march=native (its best on this CPU: AVX2, and
  // AVX-512 from 0.5 on). Each row names the instruction set the library says it uses.
  std::vector<std::pair<std::string, std::string>> refs;  // label, path
  for (const char* p : {"/usr/lib/x86_64-linux-gnu/hdf5/serial/plugins/libh5bshuf.so",
                        "/usr/lib/aarch64-linux-gnu/hdf5/serial/plugins/libh5bshuf.so"}) {
    if (access(p, R_OK) == 0) {
      refs.emplace_back("Debian bitshuffle 0.3.5", p);
      break;
    }
  }
  if (const char* native = std::getenv("BSHUF_NATIVE_LIB"); native != nullptr && *native) {
    const char* label = std::getenv("BSHUF_NATIVE_LABEL");
    refs.emplace_back(label != nullptr ? label : "bitshuffle, -O3 -march=native", native);
  }
  if (refs.empty()) {
    std::printf(
        "| %-58s | %10s | %7s |\n", "reference library not installed (apt bitshuffle)", "-", "-");
  }
  for (const auto& [label, path] : refs) {
    void* ref = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (ref == nullptr) {
      std::printf("| %-58s | %10s | %7s |\n", ("cannot load " + path).c_str(), "-", "-");
      continue;
    }
    using Fn = std::int64_t (*)(const void*, void*, std::size_t, std::size_t, std::size_t);
    using Using = int (*)();
    auto dec = reinterpret_cast<Fn>(dlsym(ref, "bshuf_decompress_lz4"));
    auto unshuf = reinterpret_cast<Fn>(dlsym(ref, "bshuf_bitunshuffle"));
    // The widest instruction set the build uses (bshuf_using_AVX512 exists from 0.5 on).
    std::string isa = "scalar";
    for (const auto& [sym, name] : {std::pair{"bshuf_using_SSE2", "sse2"},
                                    std::pair{"bshuf_using_NEON", "neon"},
                                    std::pair{"bshuf_using_AVX2", "avx2"},
                                    std::pair{"bshuf_using_AVX512", "avx512"}}) {
      auto f = reinterpret_cast<Using>(dlsym(ref, sym));
      if (f != nullptr && f() != 0) isa = name;
    }
    if (dec == nullptr || unshuf == nullptr) {
      std::printf("| %-58s | %10s | %7s |\n", (path + ": no bshuf_ symbols").c_str(), "-", "-");
      continue;
    }
    row(("reference bshuf_decompress_lz4 (" + label + ", " + isa + ")").c_str(),
        rate(seconds, n, [&](std::size_t i) {
          if (dec(packed[i].data() + 12, out.data(), kBytes / kEs, kEs, 0) <= 0) std::abort();
        }));
    row(("reference bshuf_bitunshuffle alone (" + isa + ")").c_str(),
        rate(seconds, n, [&](std::size_t i) {
          unshuf(raw[i].data(), out.data(), kBytes / kEs, kEs, 0);
        }));
  }
  const std::size_t block = bslz4_default_block_elems(kEs);
  for (auto level : {SimdLevel::kScalar, SimdLevel::kSse2, SimdLevel::kAvx2}) {
    const std::string what =
        "stemflow bit transposition alone, " + std::string(simd_level_name(level));
    row(what.c_str(), rate(seconds, n, [&](std::size_t i) {
          for (std::size_t off = 0; off < kBytes; off += block * kEs) {
            bitunshuffle_block(raw[i].data() + off, out.data() + off, block, kEs, level);
          }
        }));
  }
  // The engine's path: a batch of frames decoded in parallel (oneTBB) straight into one buffer.
  std::vector<std::uint8_t> batch(n * kBytes);
  std::vector<DecodeJob> jobs(n);
  const unsigned cores = std::thread::hardware_concurrency();
  const std::string what = "stemflow decode_frames, batch of " + std::to_string(n) + ", all " +
                           std::to_string(cores) + " cores";
  const double batches = rate(seconds, 1, [&](std::size_t) {
    for (std::size_t i = 0; i < n; ++i) {
      jobs[i] = {Codec::kBslz4,
                 kEs,
                 packed[i],
                 {batch.data() + i * kBytes, kBytes},
                 std::nullopt,
                 std::nullopt};
    }
    decode_frames(jobs);
  });
  row(what.c_str(), batches * double(n));
  const std::string what_md5 = "the same with the md5 check (input.verify_hash)";
  const double batches_md5 = rate(seconds, 1, [&](std::size_t) {
    for (std::size_t i = 0; i < n; ++i) {
      jobs[i] = {Codec::kBslz4,
                 kEs,
                 packed[i],
                 {batch.data() + i * kBytes, kBytes},
                 digests[i],
                 std::nullopt};
    }
    decode_frames(jobs);
    for (const auto& j : jobs) {
      if (j.error) std::abort();
    }
  });
  row(what_md5.c_str(), batches_md5 * double(n));
  if (mode == "all") {
    std::printf("\n");
    bench_merlin(n, seconds);
  }
  return 0;
}
