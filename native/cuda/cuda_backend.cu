// The CUDA backend: parameters, state and scales in device memory (managed memory for paged state, docs/math.md §14/D11),
// stepped by the kernels of this directory over the same per-element math as the CPU backend (docs/math.md D1). This file:
// the probe and the factory (the first CUDA calls of the process happen here, never at load time), device set-up,
// memory, values in and out. The step is in cuda_step.cu; the class and its streams are described in
// cuda_device.h.
#include <cuda_runtime_api.h>

#include "cuda_backend.h"
#include "cuda_check.h"
#include "cuda_device.h"

namespace qstep {
namespace {

// Device memory kept free beside paged (managed) state: managed memory beyond what the card has free can hang the
// GPU, not only the process (device README), so the request must fit with this margin.
constexpr size_t kManagedHeadroom = size_t(256) << 20;

std::string mib(size_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB"; }

}  // namespace

Status CudaBackend::init() {
  QSTEP_CUDA(cudaSetDevice(device_));
  cudaDeviceProp prop{};
  QSTEP_CUDA(cudaGetDeviceProperties(&prop, device_));
  name_ = prop.name;
  sms_ = prop.multiProcessorCount > 0 ? prop.multiProcessorCount : 1;
  int v = 0;
  QSTEP_CUDA(cudaDeviceGetAttribute(&v, cudaDevAttrManagedMemory, device_));
  managed_ = v != 0;
  QSTEP_CUDA(cudaDeviceGetAttribute(&v, cudaDevAttrConcurrentManagedAccess, device_));
  concurrent_managed_ = v != 0;
  QSTEP_CUDA(cudaDeviceGetAttribute(&v, cudaDevAttrMemoryPoolsSupported, device_));
  if (!v) {
    return Status::Error(Code::NO_DEVICE, "no CUDA device: device " + name_ + " lacks stream-ordered allocation");
  }
  QSTEP_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  QSTEP_CUDA(cudaStreamCreateWithFlags(&copy_, cudaStreamNonBlocking));
  QSTEP_CUDA(cudaEventCreateWithFlags(&copied_, cudaEventDisableTiming));
  QSTEP_CUDA(cudaEventCreateWithFlags(&computed_, cudaEventDisableTiming));
  return Status::Ok();
}

CudaBackend::~CudaBackend() {
  std::lock_guard<std::mutex> lk(mu_);
  (void)cudaSetDevice(device_);
  if (stream_) (void)cudaStreamSynchronize(stream_);
  if (copy_) (void)cudaStreamSynchronize(copy_);
  drain_pending();
  if (stream_) {
    ws_.release(stream_);
    (void)cudaStreamSynchronize(stream_);
  }
  for (cudaEvent_t e : {copied_, computed_}) if (e) (void)cudaEventDestroy(e);
  for (cudaStream_t s : {stream_, copy_}) if (s) (void)cudaStreamDestroy(s);
}

bool CudaBackend::device_info(DeviceInfo& out) const {
  size_t free_b = 0, total_b = 0;
  if (cudaSetDevice(device_) != cudaSuccess || cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  out.name = name_;
  out.total_bytes = total_b;
  out.free_bytes = free_b;
  return true;
}

Status CudaBackend::alloc(Storage& s, size_t bytes, bool paged, const std::string&) {
  s = Storage{};
  if (bytes == 0) return Status::Ok();
  std::lock_guard<std::mutex> lk(mu_);
  QSTEP_RETURN_IF_ERROR(enter());
  void* p = nullptr;
  if (paged) {
    if (!managed_) {
      return Status::Error(Code::OUT_OF_MEMORY, "device " + name_ + " has no managed memory for paged state");
    }
    size_t free_b = 0, total_b = 0;
    QSTEP_CUDA(cudaMemGetInfo(&free_b, &total_b));
    if (bytes + kManagedHeadroom > free_b) {
      return Status::Error(Code::OUT_OF_MEMORY, "paged state of " + mib(bytes) + " exceeds the free device memory (" +
                                                    mib(free_b) + ", keeping " + mib(kManagedHeadroom) + " spare)");
    }
    QSTEP_CUDA(cudaMallocManaged(&p, bytes, cudaMemAttachGlobal));
    s = Storage{p, bytes, Location::MANAGED, -1};
  } else {
    QSTEP_CUDA(cudaMallocAsync(&p, bytes, stream_));
    s = Storage{p, bytes, Location::DEVICE, -1};
  }
  Status st = cuda_status(cudaMemsetAsync(p, 0, bytes, stream_), "cudaMemsetAsync");
  if (st.ok()) st = cuda_status(cudaStreamSynchronize(stream_), "zero-filling new memory");
  if (!st.ok()) {
    if (s.loc == Location::MANAGED) (void)cudaFree(p);
    else (void)cudaFreeAsync(p, stream_);
    s = Storage{};
  }
  return st;
}

// Device memory goes back stream-ordered without blocking; managed memory (cudaFree synchronises the device) is
// freed now if no call is running, else by the next call (drain_pending).
void CudaBackend::release(Storage& s) {
  if (s.loc == Location::DEVICE) {
    (void)cudaSetDevice(device_);
    if (cudaFreeAsync(s.ptr, stream_) != cudaSuccess) (void)cudaGetLastError();
  } else if (s.loc == Location::MANAGED) {
    {
      std::lock_guard<std::mutex> lk(pending_mu_);
      pending_managed_.push_back(s.ptr);
    }
    if (mu_.try_lock()) {
      (void)cudaSetDevice(device_);
      drain_pending();
      mu_.unlock();
    }
  }
  s = Storage{};
}

Status CudaBackend::to_host(const Storage& s, size_t offset, void* dst, size_t bytes) {
  if (offset + bytes > s.bytes) return Status::Error(Code::INTERNAL, "read past a buffer");
  if (bytes == 0) return Status::Ok();
  std::lock_guard<std::mutex> lk(mu_);
  QSTEP_RETURN_IF_ERROR(enter());
  QSTEP_RETURN_IF_ERROR(copy_after_compute());
  QSTEP_RETURN_IF_ERROR(ring_.download(dst, s.as<uint8_t>() + offset, bytes, copy_));
  return finish("reading device memory");
}

Status CudaBackend::from_host(Storage& s, size_t offset, const void* src, size_t bytes) {
  if (offset + bytes > s.bytes) return Status::Error(Code::INTERNAL, "write past a buffer");
  if (bytes == 0) return Status::Ok();
  std::lock_guard<std::mutex> lk(mu_);
  QSTEP_RETURN_IF_ERROR(enter());
  QSTEP_RETURN_IF_ERROR(ring_.upload(s.as<uint8_t>() + offset, src, bytes, copy_));
  return finish("writing device memory");
}

Status CudaBackend::write_param(ParamState& ps, int64_t offset, const void* src, DType src_dtype, int64_t count) {
  if (offset < 0 || count < 0 || offset + count > ps.spec.n) return Status::Error(Code::INVALID_ARGUMENT, "range");
  if (count == 0) return Status::Ok();
  std::lock_guard<std::mutex> lk(mu_);
  QSTEP_RETURN_IF_ERROR(enter());
  uint8_t* dst = ps.param.as<uint8_t>() + size_t(offset) * ps.elem_bytes();
  const size_t src_bytes = size_t(count) * size_t(dtype_bytes(src_dtype));
  if (src_dtype == ps.spec.dtype) {
    QSTEP_RETURN_IF_ERROR(ring_.upload(dst, src, src_bytes, copy_));
  } else {
    QSTEP_RETURN_IF_ERROR(ws_.reserve(src_bytes, stream_));
    QSTEP_RETURN_IF_ERROR(copy_after_compute());
    QSTEP_RETURN_IF_ERROR(ring_.upload(ws_.at(0), src, src_bytes, copy_));
    QSTEP_RETURN_IF_ERROR(compute_after_copy());
    QSTEP_RETURN_IF_ERROR(launch_convert(src_dtype, ws_.at(0), ps.spec.dtype, dst, count, ctx()));
  }
  return finish("writing parameter values");
}

Status CudaBackend::read_param(ParamState& ps, int64_t offset, void* dst, DType dst_dtype, int64_t count) {
  if (offset < 0 || count < 0 || offset + count > ps.spec.n) return Status::Error(Code::INVALID_ARGUMENT, "range");
  if (count == 0) return Status::Ok();
  std::lock_guard<std::mutex> lk(mu_);
  QSTEP_RETURN_IF_ERROR(enter());
  const uint8_t* src = ps.param.as<uint8_t>() + size_t(offset) * ps.elem_bytes();
  const size_t dst_bytes = size_t(count) * size_t(dtype_bytes(dst_dtype));
  if (dst_dtype == ps.spec.dtype) {
    QSTEP_RETURN_IF_ERROR(copy_after_compute());
    QSTEP_RETURN_IF_ERROR(ring_.download(dst, src, dst_bytes, copy_));
  } else {
    QSTEP_RETURN_IF_ERROR(ws_.reserve(dst_bytes, stream_));
    QSTEP_RETURN_IF_ERROR(launch_convert(ps.spec.dtype, src, dst_dtype, ws_.at(0), count, ctx()));
    QSTEP_RETURN_IF_ERROR(copy_after_compute());
    QSTEP_RETURN_IF_ERROR(ring_.download(dst, ws_.at(0), dst_bytes, copy_));
  }
  return finish("reading parameter values");
}

// Benchmark baseline (Backend::bandwidth_probe): Adam-shaped traffic over n floats per array, timed with events.
Status CudaBackend::bandwidth_probe(int64_t n, int iters, double& ms_per_pass) {
  std::lock_guard<std::mutex> lk(mu_);
  QSTEP_RETURN_IF_ERROR(enter());
  n = (n + 3) / 4 * 4;
  const size_t bytes = size_t(n) * 4;
  Carve cv;
  const size_t op = cv.take(bytes), og = cv.take(bytes), om = cv.take(bytes), ov = cv.take(bytes);
  QSTEP_RETURN_IF_ERROR(ws_.reserve(cv.total, stream_));
  QSTEP_CUDA(cudaMemsetAsync(ws_.at(0), 0, cv.total, stream_));
  float* p = reinterpret_cast<float*>(ws_.at(op));
  float* m = reinterpret_cast<float*>(ws_.at(om));
  float* v = reinterpret_cast<float*>(ws_.at(ov));
  const float* g = reinterpret_cast<const float*>(ws_.at(og));
  QSTEP_RETURN_IF_ERROR(launch_bandwidth_pass(p, g, m, v, n, ctx()));  // warm-up
  cudaEvent_t t0 = nullptr, t1 = nullptr;
  QSTEP_CUDA(cudaEventCreate(&t0));
  QSTEP_CUDA(cudaEventCreate(&t1));
  Status st = cuda_status(cudaEventRecord(t0, stream_), "cudaEventRecord");
  for (int i = 0; st.ok() && i < iters; ++i) st = launch_bandwidth_pass(p, g, m, v, n, ctx());
  if (st.ok()) st = cuda_status(cudaEventRecord(t1, stream_), "cudaEventRecord");
  if (st.ok()) st = cuda_status(cudaEventSynchronize(t1), "bandwidth probe");
  float ms = 0.f;
  if (st.ok()) st = cuda_status(cudaEventElapsedTime(&ms, t0, t1), "cudaEventElapsedTime");
  (void)cudaEventDestroy(t0);
  (void)cudaEventDestroy(t1);
  ms_per_pass = double(ms) / iters;
  return st;
}

// Start of every call under mu_: this thread's current device, and managed frees left over by release().
Status CudaBackend::enter() {
  QSTEP_CUDA(cudaSetDevice(device_));
  drain_pending();
  return Status::Ok();
}

void CudaBackend::drain_pending() {
  std::vector<void*> todo;
  {
    std::lock_guard<std::mutex> lk(pending_mu_);
    todo.swap(pending_managed_);
  }
  for (void* p : todo) {
    if (cudaFree(p) != cudaSuccess) (void)cudaGetLastError();
  }
}

Status CudaBackend::copy_after_compute() {
  QSTEP_CUDA(cudaEventRecord(computed_, stream_));
  QSTEP_CUDA(cudaStreamWaitEvent(copy_, computed_, 0));
  return Status::Ok();
}

Status CudaBackend::compute_after_copy() {
  QSTEP_CUDA(cudaEventRecord(copied_, copy_));
  QSTEP_CUDA(cudaStreamWaitEvent(stream_, copied_, 0));
  return Status::Ok();
}

// End of a call: both streams drained; a fault inside a kernel surfaces here.
Status CudaBackend::finish(const char* what) {
  QSTEP_RETURN_IF_ERROR(cuda_status(cudaStreamSynchronize(copy_), what));
  return cuda_status(cudaStreamSynchronize(stream_), what);
}

bool cuda_built() { return true; }

// The first CUDA call of the process happens here, never at load time. Without a driver, cudaGetDeviceCount
// answers cudaErrorInsufficientDriver (35) or cudaErrorNoDevice (100): reported, not fatal.
CudaProbe cuda_probe() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return CudaProbe{false, 0, std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e) + " (cuda error " +
                                   std::to_string(int(e)) + ")"};
  }
  if (count < 1) return CudaProbe{false, 0, "cudaGetDeviceCount found no device"};
  cudaDeviceProp prop{};
  std::string name = cudaGetDeviceProperties(&prop, 0) == cudaSuccess ? prop.name : "unknown";
  return CudaProbe{true, count, std::to_string(count) + " CUDA device(s); device 0: " + name};
}

Status make_cuda_backend(int device, std::unique_ptr<Backend>& out) {
  const CudaProbe p = cuda_probe();
  if (!p.ok) return Status::Error(Code::NO_DEVICE, "no CUDA device: " + p.message);
  if (device < 0 || device >= p.count) {
    return Status::Error(Code::NO_DEVICE, "no CUDA device: ordinal " + std::to_string(device) + " requested, " +
                                              std::to_string(p.count) + " present");
  }
  auto b = std::make_unique<CudaBackend>(device);
  QSTEP_RETURN_IF_ERROR(b->init());
  out = std::move(b);
  return Status::Ok();
}

}  // namespace qstep
