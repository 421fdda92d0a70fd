// Memory the CUDA backend reuses across calls instead of allocating per step:
//  * DeviceArena: one grow-only device buffer for a call's scratch (gradients as uploaded and as converted,
//    codebooks, counters, reduction partials), carved into 256-byte aligned regions by a Carve. It grows when a
//    call needs more and is otherwise kept, so steady-state steps allocate nothing.
//  * PinnedRing: two pinned host slots that stream pageable host bytes to or from the device in chunks; the memcpy
//    into one slot overlaps the DMA of the other. Plus a small pinned buffer for read-backs.
// Both are used under the backend's call lock, one call at a time.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "qstep/status.h"

namespace qstep {

constexpr size_t kRegionAlign = 256;

inline size_t align_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

// Hands out aligned offsets; the total tells the arena how much to reserve.
struct Carve {
  size_t total = 0;
  size_t take(size_t bytes) {
    const size_t at = total;
    total += align_up(bytes == 0 ? 1 : bytes, kRegionAlign);
    return at;
  }
};

class DeviceArena {
 public:
  DeviceArena() = default;
  DeviceArena(const DeviceArena&) = delete;
  DeviceArena& operator=(const DeviceArena&) = delete;

  // Ensures at least `bytes`, stream-ordered on `s` (the old buffer is freed on s, so work queued before on s
  // still sees it). Growth rounds up by a quarter to avoid growing by a little every call.
  Status reserve(size_t bytes, cudaStream_t s);
  void release(cudaStream_t s);
  uint8_t* at(size_t offset) const { return base_ + offset; }
  size_t capacity() const { return cap_; }

 private:
  uint8_t* base_ = nullptr;
  size_t cap_ = 0;
};

class PinnedRing {
 public:
  PinnedRing() = default;
  PinnedRing(const PinnedRing&) = delete;
  PinnedRing& operator=(const PinnedRing&) = delete;
  ~PinnedRing();

  // Enqueues host -> device (dst device or managed) on s. Returns once every host byte is in a pinned slot; the
  // last DMA may still run: order later work on s, or synchronise s, before relying on dst.
  Status upload(void* dst, const void* src, size_t bytes, cudaStream_t s);
  // Device -> host through the slots, on s; returns when every byte is in dst. Work on s is ordered before it.
  Status download(void* dst, const void* src, size_t bytes, cudaStream_t s);
  // A pinned buffer of at least `bytes` for small read-backs (counters, sums). Valid until the next call.
  Status small(size_t bytes, void** out);

  static constexpr int kSlots = 2;
  static constexpr size_t kSlotBytes = size_t(16) << 20;

 private:
  Status init();

  void* slot_[kSlots] = {};
  cudaEvent_t done_[kSlots] = {};
  void* small_ = nullptr;
  size_t small_cap_ = 0;
};

}  // namespace qstep
