// `qstep-cuda-check --bench`: AdamW steps on the CUDA backend at the sizes of the PyTorch comparison (issue 4:
// 16M and 256M parameters, fp32 and bf16), fp32 state and blockwise8 state, gradients already in device memory
// (as torch.optim sees them). Each time is printed beside a device-to-device copy of the bytes the step moves,
// measured in the same run (house style 21); bench/gpu_torch.py times torch on the same GPU.
#include <cuda_runtime_api.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "../engine/engine.h"
#include "cases.h"

namespace qstep::check {
namespace {

bool cuda_ok(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return true;
  std::fprintf(stderr, "bench: %s: %s\n", what, cudaGetErrorString(e));
  return false;
}

// Random bytes of dtype d, n elements, on the device: a 4M-value normal pool tiled (fresh each run).
void* device_random(int64_t n, DType d, float scale, std::mt19937_64& rng) {
  std::normal_distribution<float> nd(0.f, scale);
  std::vector<float> pool(size_t(1) << 22);
  for (auto& x : pool) x = nd(rng);
  std::vector<uint8_t> tile(pool.size() * size_t(dtype_bytes(d)));
  for (size_t i = 0; i < pool.size(); ++i) {
    if (d == DType::F32) std::memcpy(tile.data() + 4 * i, &pool[i], 4);
    else {
      const uint16_t h = d == DType::F16 ? f32_to_f16(pool[i]) : f32_to_bf16(pool[i]);
      std::memcpy(tile.data() + 2 * i, &h, 2);
    }
  }
  const size_t bytes = size_t(n) * size_t(dtype_bytes(d));
  uint8_t* p = nullptr;
  if (!cuda_ok(cudaMalloc(reinterpret_cast<void**>(&p), bytes), "cudaMalloc")) return nullptr;
  for (size_t off = 0; off < bytes; off += tile.size()) {
    const size_t len = bytes - off < tile.size() ? bytes - off : tile.size();
    if (!cuda_ok(cudaMemcpy(p + off, tile.data(), len, cudaMemcpyHostToDevice), "cudaMemcpy")) return nullptr;
  }
  return p;
}

double copy_ms_of(double bytes, int reps) {
  const size_t half = size_t(bytes / 2) / 16 * 16 + 16;
  void *src = nullptr, *dst = nullptr;
  if (!cuda_ok(cudaMalloc(&src, half), "cudaMalloc") || !cuda_ok(cudaMalloc(&dst, half), "cudaMalloc")) return -1;
  cudaMemset(src, 1, half);
  cudaEvent_t t0, t1;
  cudaEventCreate(&t0);
  cudaEventCreate(&t1);
  cudaMemcpy(dst, src, half, cudaMemcpyDeviceToDevice);
  cudaEventRecord(t0);
  for (int i = 0; i < reps; ++i) cudaMemcpyAsync(dst, src, half, cudaMemcpyDeviceToDevice);
  cudaEventRecord(t1);
  cudaEventSynchronize(t1);
  float ms = 0;
  cudaEventElapsedTime(&ms, t0, t1);
  cudaEventDestroy(t0);
  cudaEventDestroy(t1);
  cudaFree(src);
  cudaFree(dst);
  return double(ms) / reps;
}

}  // namespace

int run_bench(Backend& gpu, uint64_t seed, bool quick, std::string& json) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> sizes{int64_t(16) << 20};
  if (!quick) sizes.push_back(int64_t(256) << 20);
  struct ModeOf { StateMode mode; const char* name; };
  const ModeOf modes[] = {{StateMode::FP32, "fp32"}, {StateMode::BLOCKWISE8, "blockwise8"}};
  Hyper h;
  h.lr = 1e-3f;
  h.weight_decay = 0.01f;
  int failures = 0;
  std::printf("%-34s %10s %10s %8s %10s\n", "adamw (grad on device)", "step ms", "copy ms", "copy%", "GB/s");
  for (int64_t n : sizes) {
    for (DType d : {DType::F32, DType::BF16}) {
      for (const ModeOf& m : modes) {
        ParamSpec spec{n, d, OpKind::ADAM, m.mode, kDefaultBlockSize, false, 100, false, ""};
        std::shared_ptr<ParamState> ps;
        Status st = create_param(gpu, spec, ps);
        void* p0 = st.ok() ? device_random(n, d, 0.5f, rng) : nullptr;
        void* g = p0 ? device_random(n, d, 1.f, rng) : nullptr;
        if (!st.ok() || !g) {
          std::fprintf(stderr, "bench: %s\n", st.ok() ? "device allocation failed" : st.to_string().c_str());
          ++failures;
          continue;
        }
        cudaMemcpy(ps->param.ptr, p0, size_t(n) * size_t(dtype_bytes(d)), cudaMemcpyDeviceToDevice);
        cudaFree(p0);
        std::vector<StepWork> work{StepWork{ps.get(), g, d, h}};
        StepOutcome out;
        const int reps = n > (int64_t(64) << 20) ? 20 : 50;
        for (int i = 0; i < 3 && st.ok(); ++i) st = gpu.step(work, false, out);
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < reps && st.ok(); ++i) st = gpu.step(work, false, out);
        const auto t1 = std::chrono::steady_clock::now();
        cudaFree(g);
        if (!st.ok()) {
          std::fprintf(stderr, "bench step: %s\n", st.to_string().c_str());
          ++failures;
          request_free(*ps);
          continue;
        }
        const double ms = std::chrono::duration<double, std::milli>(t1 - t0).count() / reps;
        const double bytes = step_traffic(spec, ps->streams);
        const double cms = copy_ms_of(bytes, reps);
        char label[64];
        std::snprintf(label, sizeof label, "%s %s %lldM", m.name, d == DType::F32 ? "f32" : "bf16",
                      (long long)(n >> 20));
        std::printf("%-34s %10.3f %10.3f %7.0f%% %10.0f\n", label, ms, cms, 100.0 * cms / ms, bytes / ms / 1e6);
        char buf[320];
        std::snprintf(buf, sizeof buf,
                      "%s{\"bench\":\"qstep-adamw\",\"mode\":\"%s\",\"dtype\":\"%s\",\"n\":%lld,\"step_ms\":%.5f,"
                      "\"copy_ms\":%.5f,\"bytes\":%.0f}",
                      json.size() > 1 ? "," : "", m.name, d == DType::F32 ? "fp32" : "bf16", (long long)n, ms, cms,
                      bytes);
        json += buf;
        request_free(*ps);
      }
    }
  }
  return failures;
}

}  // namespace qstep::check
