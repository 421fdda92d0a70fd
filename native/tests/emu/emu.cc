// qstep CUDA emulator: the runtime functions and the block scheduler (see cuda_runtime.h, cuda_runtime_api.h).
// QSTEP_EMU_NO_DEVICE=1 makes cudaGetDeviceCount fail with error 35, as on a machine without a driver.
#include <ucontext.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "cuda_runtime.h"

namespace emu {

thread_local dim3 thread_idx, block_idx, block_dim, grid_dim;

namespace {

// One block at a time, its threads as fibers on the launching OS thread: a fiber runs until it waits at a barrier
// or returns, then the next one runs (round robin). Cheap switches keep barrier-heavy kernels fast enough.
constexpr size_t kStack = size_t(256) << 10;

struct Fiber {
  ucontext_t ctx;
  std::vector<char> stack = std::vector<char>(kStack);
  bool done = false;
};

struct Barrier {
  unsigned expected = 0, arrived = 0;
  uint64_t generation = 0;
};

struct Block {
  ucontext_t sched;
  std::vector<Fiber> fibers;
  unsigned running = 0;
  Barrier all;
  std::vector<Barrier> warps;
  std::vector<uint64_t> slots;
  const std::function<void()>* body = nullptr;
};
thread_local Block* current = nullptr;

void yield_to_scheduler() { swapcontext(&current->fibers[current->running].ctx, &current->sched); }

void wait_at(Barrier& b) {
  const uint64_t gen = b.generation;
  if (++b.arrived == b.expected) {
    b.arrived = 0;
    ++b.generation;
    return;
  }
  while (b.generation == gen) yield_to_scheduler();
}

void fiber_main() {
  (*current->body)();
  current->fibers[current->running].done = true;
  swapcontext(&current->fibers[current->running].ctx, &current->sched);
}

struct Alloc {
  size_t bytes;
  cudaMemoryType type;
};
std::mutex mu;
std::map<const uint8_t*, Alloc> allocs;  // device, managed and pinned allocations
cudaError_t last = cudaSuccess;
const size_t kTotal = size_t(8) << 30;  // the emulated card
size_t used = 0;

cudaError_t track(void** p, size_t bytes, cudaMemoryType type) {
  std::lock_guard<std::mutex> lk(mu);
  if (used + bytes > kTotal) return last = cudaErrorMemoryAllocation;
  void* q = std::aligned_alloc(256, (bytes + 255) / 256 * 256 + 256);
  if (!q) return last = cudaErrorMemoryAllocation;
  std::memset(q, 0xA5, bytes);  // device memory is not zeroed: catch reads of unwritten bytes
  allocs[static_cast<const uint8_t*>(q)] = Alloc{bytes, type};
  used += bytes;
  *p = q;
  return cudaSuccess;
}

cudaError_t untrack(void* p) {
  if (!p) return cudaSuccess;
  std::lock_guard<std::mutex> lk(mu);
  auto it = allocs.find(static_cast<const uint8_t*>(p));
  if (it == allocs.end()) return last = cudaErrorInvalidValue;
  used -= it->second.bytes;
  allocs.erase(it);
  std::free(p);
  return cudaSuccess;
}

}  // namespace

void sync_block() { wait_at(current->all); }

uint64_t shuffle_xor(uint64_t bits, int offset) {
  const unsigned t = thread_idx.x, w = t / 32;
  current->slots[t] = bits;
  wait_at(current->warps[w]);
  const uint64_t got = current->slots[(t & ~31u) | ((t & 31u) ^ unsigned(offset))];
  wait_at(current->warps[w]);
  return got;
}

void launch(dim3 grid, dim3 block, size_t, cudaStream_t, const std::function<void()>& body) {
  static thread_local std::unique_ptr<Block> blk;
  if (!blk || blk->fibers.size() < block.x) {
    blk = std::make_unique<Block>();
    blk->fibers = std::vector<Fiber>(block.x);
  }
  grid_dim = grid;
  block_dim = block;
  Block* outer = current;
  current = blk.get();
  blk->body = &body;
  blk->all = Barrier{block.x};
  blk->warps.assign((block.x + 31) / 32, Barrier{});
  for (unsigned w = 0; w < blk->warps.size(); ++w) {
    blk->warps[w].expected = block.x - 32 * w < 32 ? block.x - 32 * w : 32;
  }
  blk->slots.assign(block.x, 0);
  for (unsigned b = 0; b < grid.x; ++b) {
    block_idx = dim3(b);
    for (unsigned t = 0; t < block.x; ++t) {
      Fiber& f = blk->fibers[t];
      f.done = false;
      getcontext(&f.ctx);
      f.ctx.uc_stack.ss_sp = f.stack.data();
      f.ctx.uc_stack.ss_size = f.stack.size();
      f.ctx.uc_link = nullptr;
      makecontext(&f.ctx, fiber_main, 0);
    }
    for (unsigned live = block.x; live > 0;) {
      live = 0;
      for (unsigned t = 0; t < block.x; ++t) {
        if (blk->fibers[t].done) continue;
        blk->running = t;
        thread_idx = dim3(t);
        swapcontext(&blk->sched, &blk->fibers[t].ctx);
        live += blk->fibers[t].done ? 0 : 1;
      }
    }
  }
  current = outer;
}

void check_aligned(const void* p, size_t bytes, const char* what) {
  if (reinterpret_cast<uintptr_t>(p) % bytes != 0) {
    std::fprintf(stderr, "emu: misaligned %zu-byte access at %p in %s\n", bytes, p, what);
    std::abort();
  }
}

}  // namespace emu

struct CUstream_emu { int unused; };
struct CUevent_emu { std::chrono::steady_clock::time_point at; };

using namespace emu;

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
  }
  return "unknown error";
}

cudaError_t cudaGetLastError() {
  const cudaError_t e = last;
  last = cudaSuccess;
  return e;
}

cudaError_t cudaGetDeviceCount(int* count) {
  const char* none = std::getenv("QSTEP_EMU_NO_DEVICE");
  if (none && std::strcmp(none, "1") == 0) {
    *count = 0;
    return last = cudaErrorInsufficientDriver;
  }
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : (last = cudaErrorInvalidDevice); }

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int) {
  std::memset(prop, 0, sizeof *prop);
  std::strcpy(prop->name, "qstep CUDA emulator");
  prop->multiProcessorCount = 1;  // persistent grids of at most 8 blocks: the grid-stride paths run
  prop->totalGlobalMem = kTotal;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr, int) {
  *value = 1;
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  *s = new CUstream_emu{};
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned) { return cudaSuccess; }
cudaError_t cudaEventCreate(cudaEvent_t* e) {
  *e = new CUevent_emu{};
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) { return cudaEventCreate(e); }
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  e->at = std::chrono::steady_clock::now();
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  *ms = std::chrono::duration<float, std::milli>(b->at - a->at).count();
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** p, size_t bytes) { return track(p, bytes, cudaMemoryTypeDevice); }
cudaError_t cudaMallocAsync(void** p, size_t bytes, cudaStream_t) { return track(p, bytes, cudaMemoryTypeDevice); }
cudaError_t cudaMallocManaged(void** p, size_t bytes, unsigned) { return track(p, bytes, cudaMemoryTypeManaged); }
cudaError_t cudaFree(void* p) { return untrack(p); }
cudaError_t cudaFreeAsync(void* p, cudaStream_t) { return untrack(p); }
cudaError_t cudaHostAlloc(void** p, size_t bytes, unsigned) { return track(p, bytes, cudaMemoryTypeHost); }
cudaError_t cudaFreeHost(void* p) { return untrack(p); }

cudaError_t cudaMemset(void* p, int v, size_t bytes) {
  std::memset(p, v, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int v, size_t bytes, cudaStream_t) { return cudaMemset(p, v, bytes); }
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind) {
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind k, cudaStream_t) {
  return cudaMemcpy(dst, src, bytes, k);
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  std::lock_guard<std::mutex> lk(mu);
  *free_bytes = kTotal - used;
  *total_bytes = kTotal;
  return cudaSuccess;
}
cudaError_t cudaMemPrefetchAsync(const void* p, size_t bytes, cudaMemLocation, unsigned, cudaStream_t) {
  std::lock_guard<std::mutex> lk(mu);
  auto it = allocs.upper_bound(static_cast<const uint8_t*>(p));
  if (it == allocs.begin()) return last = cudaErrorInvalidValue;
  --it;
  const bool inside = static_cast<const uint8_t*>(p) + bytes <= it->first + it->second.bytes;
  return inside && it->second.type == cudaMemoryTypeManaged ? cudaSuccess : (last = cudaErrorInvalidValue);
}
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* a, const void* p) {
  std::lock_guard<std::mutex> lk(mu);
  std::memset(a, 0, sizeof *a);
  a->type = cudaMemoryTypeUnregistered;
  auto it = allocs.upper_bound(static_cast<const uint8_t*>(p));
  if (it != allocs.begin()) {
    --it;
    if (static_cast<const uint8_t*>(p) < it->first + it->second.bytes) a->type = it->second.type;
  }
  return cudaSuccess;
}
