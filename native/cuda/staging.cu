// DeviceArena and PinnedRing (see staging.h).
#include "staging.h"

#include <cstring>

#include "cuda_check.h"

namespace qstep {

Status DeviceArena::reserve(size_t bytes, cudaStream_t s) {
  if (bytes <= cap_) return Status::Ok();
  release(s);
  const size_t want = align_up(bytes + bytes / 4, size_t(2) << 20);
  void* p = nullptr;
  QSTEP_CUDA(cudaMallocAsync(&p, want, s));
  base_ = static_cast<uint8_t*>(p);
  cap_ = want;
  return Status::Ok();
}

void DeviceArena::release(cudaStream_t s) {
  if (base_) (void)cudaFreeAsync(base_, s);
  base_ = nullptr;
  cap_ = 0;
}

PinnedRing::~PinnedRing() {
  for (int i = 0; i < kSlots; ++i) {
    if (done_[i]) {
      (void)cudaEventSynchronize(done_[i]);
      (void)cudaEventDestroy(done_[i]);
    }
    if (slot_[i]) (void)cudaFreeHost(slot_[i]);
  }
  if (small_) (void)cudaFreeHost(small_);
}

Status PinnedRing::init() {
  if (slot_[0]) return Status::Ok();
  for (int i = 0; i < kSlots; ++i) {
    QSTEP_CUDA(cudaHostAlloc(&slot_[i], kSlotBytes, cudaHostAllocDefault));
    QSTEP_CUDA(cudaEventCreateWithFlags(&done_[i], cudaEventDisableTiming));
  }
  return Status::Ok();
}

Status PinnedRing::upload(void* dst, const void* src, size_t bytes, cudaStream_t s) {
  QSTEP_RETURN_IF_ERROR(init());
  const uint8_t* from = static_cast<const uint8_t*>(src);
  uint8_t* to = static_cast<uint8_t*>(dst);
  for (size_t off = 0, k = 0; off < bytes; off += kSlotBytes, ++k) {
    const int i = int(k % kSlots);
    const size_t len = bytes - off < kSlotBytes ? bytes - off : kSlotBytes;
    QSTEP_CUDA(cudaEventSynchronize(done_[i]));  // the slot's previous DMA has finished reading it
    std::memcpy(slot_[i], from + off, len);
    QSTEP_CUDA(cudaMemcpyAsync(to + off, slot_[i], len, cudaMemcpyHostToDevice, s));
    QSTEP_CUDA(cudaEventRecord(done_[i], s));
  }
  return Status::Ok();
}

Status PinnedRing::download(void* dst, const void* src, size_t bytes, cudaStream_t s) {
  QSTEP_RETURN_IF_ERROR(init());
  const uint8_t* from = static_cast<const uint8_t*>(src);
  uint8_t* to = static_cast<uint8_t*>(dst);
  const size_t chunks = (bytes + kSlotBytes - 1) / kSlotBytes;
  auto issue = [&](size_t k) -> Status {
    const int i = int(k % kSlots);
    const size_t off = k * kSlotBytes, len = bytes - off < kSlotBytes ? bytes - off : kSlotBytes;
    QSTEP_CUDA(cudaMemcpyAsync(slot_[i], from + off, len, cudaMemcpyDeviceToHost, s));
    return cuda_status(cudaEventRecord(done_[i], s), "cudaEventRecord");
  };
  if (chunks > 0) QSTEP_RETURN_IF_ERROR(issue(0));
  for (size_t k = 0; k < chunks; ++k) {
    if (k + 1 < chunks) QSTEP_RETURN_IF_ERROR(issue(k + 1));  // the next chunk's DMA overlaps this memcpy
    const int i = int(k % kSlots);
    const size_t off = k * kSlotBytes, len = bytes - off < kSlotBytes ? bytes - off : kSlotBytes;
    QSTEP_CUDA(cudaEventSynchronize(done_[i]));
    std::memcpy(to + off, slot_[i], len);
  }
  return Status::Ok();
}

Status PinnedRing::small(size_t bytes, void** out) {
  if (bytes > small_cap_) {
    if (small_) QSTEP_CUDA(cudaFreeHost(small_));
    small_ = nullptr;
    small_cap_ = 0;
    const size_t want = align_up(bytes, 4096);
    QSTEP_CUDA(cudaHostAlloc(&small_, want, cudaHostAllocDefault));
    small_cap_ = want;
  }
  *out = small_;
  return Status::Ok();
}

}  // namespace qstep
