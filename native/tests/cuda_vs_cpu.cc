// qstep-cuda-check: the CUDA backend against the CPU backend (issue 4, docs/math.md D1; llm.c's dev/cuda pattern of a
// plain reference beside the kernels, house style 8). Every optimizer x state mode x parameter dtype runs a few
// steps on both backends with the same fresh random inputs (house style 20) and is compared with the tolerances of
// compare.h; after each comparison the CUDA parameter is re-synchronised to the CPU's state, so every step is
// judged from identical inputs. Each CUDA step is then timed with its gradient already on the device, against a
// device-to-device copy of the bytes the step moves (house style 21). `--bench` times Adam (fp32 state and
// blockwise8) at the sizes of the PyTorch comparison instead.
//
// Exit status: 0 all cases agree; 1 a mismatch; 2 a CUDA or engine error; 77 no CUDA device (nothing was run).
#include <cuda_runtime_api.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "../cpu/cpu_backend.h"
#include "../cuda/cuda_backend.h"
#include "../engine/engine.h"
#include "../kernels/ops.h"
#include "cases.h"
#include "compare.h"

using namespace qstep;
using namespace qstep::check;

namespace {

struct Options {
  // Partial last blocks for B = 256 and 2048; odd, so AdEMAMix's second row is unaligned (the narrow paths run).
  int64_t n = (int64_t(1) << 21) + 301;
  int steps = 3;
  int timed = 10;
  bool bench = false;
  bool quick = false;
  std::string only;  // run only cases whose label contains this
  uint64_t seed = 0;
  std::string json;
};

[[noreturn]] void die(const Status& st, const char* where) {
  std::fprintf(stderr, "error in %s: %s\n", where, st.to_string().c_str());
  std::exit(2);
}
#define CHECK_OK(expr, where)          \
  do {                                 \
    Status _s = (expr);                \
    if (!_s.ok()) die(_s, where);      \
  } while (0)
#define CUDA_OK(expr)                                                                   \
  do {                                                                                  \
    cudaError_t _e = (expr);                                                            \
    if (_e != cudaSuccess) die(Status::Error(Code::INTERNAL, cudaGetErrorString(_e)), #expr); \
  } while (0)

// A pool of N(0, 1) floats drawn once; inputs are slices at random offsets, scaled (fresh every run, and cheap).
class Pool {
 public:
  Pool(uint64_t seed, size_t size) : rng_(seed), v_(size) {
    std::normal_distribution<float> nd(0.f, 1.f);
    for (auto& x : v_) x = nd(rng_);
  }
  // exact: values k/4 * scale with |k| <= 3 (scale a power of two), see Case::exact_grads.
  std::vector<float> draw(int64_t n, float scale, double zero_frac, bool exact = false) {
    std::vector<float> out(static_cast<size_t>(n));
    std::uniform_int_distribution<size_t> off(0, v_.size() - 1);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    size_t at = off(rng_);
    for (auto& x : out) {
      x = exact ? std::fmin(3.f, std::fmax(-3.f, std::nearbyint(v_[at] * 2.f))) * 0.25f * scale : v_[at] * scale;
      at = at + 1 == v_.size() ? 0 : at + 1;
    }
    for (int64_t k = 0; k < int64_t(double(n) * zero_frac); ++k) out[size_t(u(rng_) * double(n)) % out.size()] = 0.f;
    return out;
  }

 private:
  std::mt19937_64 rng_;
  std::vector<float> v_;
};

std::vector<uint8_t> encode(const std::vector<float>& x, DType d) {
  std::vector<uint8_t> out(x.size() * size_t(dtype_bytes(d)));
  for (size_t i = 0; i < x.size(); ++i) {
    if (d == DType::F32) std::memcpy(out.data() + 4 * i, &x[i], 4);
    else {
      const uint16_t h = d == DType::F16 ? f32_to_f16(x[i]) : f32_to_bf16(x[i]);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
  }
  return out;
}

std::vector<uint8_t> read_values(ParamState& ps) {
  std::vector<uint8_t> out(size_t(ps.spec.n) * ps.elem_bytes());
  ParamGuard g(ps);
  CHECK_OK(ps.backend->read_param(ps, 0, out.data(), ps.spec.dtype, ps.spec.n), "read_param");
  return out;
}

RawState exported(ParamState& ps) {
  RawState r;
  ParamGuard g(ps);
  CHECK_OK(export_state(ps, r), "export_state");
  return r;
}

struct CaseDiff {
  Diff param, state, codes, scales, reduce;
  bool results_ok = true;
  bool ok() const { return param.ok() && state.ok() && codes.ok() && scales.ok() && reduce.ok() && results_ok; }
};

void compare_step(ParamState& gpu, ParamState& cpu, CaseDiff& cd) {
  cd.param.merge(compare_values("param", widen(read_values(gpu), gpu.spec.dtype),
                                widen(read_values(cpu), cpu.spec.dtype), 1e-5, 1e-6, ulp_bits(cpu.spec.dtype)));
  const RawState a = exported(gpu), b = exported(cpu);
  for (size_t i = 0; i < b.tensors.size(); ++i) {
    const RawTensor& tb = b.tensors[i];
    const RawTensor* ta = nullptr;
    for (auto& t : a.tensors) if (t.name == tb.name) ta = &t;
    if (!ta || ta->data.size() != tb.data.size()) {
      cd.results_ok = false;
      continue;
    }
    if (tb.u8) {
      cd.codes.merge(compare_codes(tb.name, ta->data.data(), tb.data.data(), int64_t(tb.data.size())));
      continue;
    }
    const auto va = floats_of(ta->data.data(), ta->data.size() / 4), vb = floats_of(tb.data.data(), tb.data.size() / 4);
    if (tb.name == "state1" || tb.name == "state2") cd.state.merge(compare_values(tb.name, va, vb, 1e-5, 1e-6, 0));
    else if (tb.name.rfind("absmax", 0) == 0 || tb.name.rfind("max", 0) == 0)
      cd.scales.merge(compare_values(tb.name, va, vb, 4e-6, 0.0, 0));
    else if (tb.name == "unorm" || tb.name == "gnorm_hist")
      cd.reduce.merge(compare_values(tb.name, va, vb, 1e-5, 0.0, 0));
    else if (va != vb) cd.results_ok = false;  // qmaps: identical
  }
  if (a.step != b.step) cd.results_ok = false;
}

// The CUDA parameter takes the CPU's values and state, so the next step starts from identical inputs.
void resync(ParamState& gpu, ParamState& cpu) {
  const RawState s = exported(cpu);
  const std::vector<uint8_t> v = read_values(cpu);
  ParamGuard g(gpu);
  CHECK_OK(import_state(gpu, s), "import_state");
  CHECK_OK(gpu.backend->write_param(gpu, 0, v.data(), gpu.spec.dtype, gpu.spec.n), "write_param");
}

struct Timing {
  double step_ms = 0, copy_ms = 0;
  double bytes = 0;
};

double copy_ms(double bytes, int reps) {
  const size_t half = size_t(bytes / 2) / 16 * 16 + 16;  // a copy reads and writes: half the step's traffic each way
  void *src = nullptr, *dst = nullptr;
  CUDA_OK(cudaMalloc(&src, half));
  CUDA_OK(cudaMalloc(&dst, half));
  CUDA_OK(cudaMemset(src, 1, half));
  cudaEvent_t t0, t1;
  CUDA_OK(cudaEventCreate(&t0));
  CUDA_OK(cudaEventCreate(&t1));
  CUDA_OK(cudaMemcpy(dst, src, half, cudaMemcpyDeviceToDevice));
  CUDA_OK(cudaEventRecord(t0));
  for (int i = 0; i < reps; ++i) CUDA_OK(cudaMemcpyAsync(dst, src, half, cudaMemcpyDeviceToDevice));
  CUDA_OK(cudaEventRecord(t1));
  CUDA_OK(cudaEventSynchronize(t1));
  float ms = 0;
  CUDA_OK(cudaEventElapsedTime(&ms, t0, t1));
  cudaEventDestroy(t0);
  cudaEventDestroy(t1);
  cudaFree(src);
  cudaFree(dst);
  return double(ms) / reps;
}

// Times `reps` CUDA steps with the gradient already in device memory (warm-up first).
Timing time_steps(Backend& gpu, ParamState& ps, const std::vector<uint8_t>& grad, const Hyper& h, int reps) {
  void* dg = nullptr;
  CUDA_OK(cudaMalloc(&dg, grad.size()));
  CUDA_OK(cudaMemcpy(dg, grad.data(), grad.size(), cudaMemcpyHostToDevice));
  std::vector<StepWork> work{StepWork{&ps, dg, ps.spec.dtype, h}};
  StepOutcome out;
  for (int i = 0; i < 2; ++i) CHECK_OK(gpu.step(work, false, out), "warm-up step");
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) CHECK_OK(gpu.step(work, false, out), "timed step");
  const auto t1 = std::chrono::steady_clock::now();
  cudaFree(dg);
  Timing t;
  t.step_ms = std::chrono::duration<double, std::milli>(t1 - t0).count() / reps;
  t.bytes = step_traffic(ps.spec, ps.streams);
  t.copy_ms = copy_ms(t.bytes, reps);
  return t;
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) o += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each case's line shows at once, even through a pipe
  Options o;
  o.seed = std::random_device{}();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--n") o.n = std::atoll(next().c_str());
    else if (a == "--steps") o.steps = std::atoi(next().c_str());
    else if (a == "--timed") o.timed = std::atoi(next().c_str());
    else if (a == "--seed") o.seed = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--json") o.json = next();
    else if (a == "--bench") o.bench = true;
    else if (a == "--quick") o.quick = true;
    else if (a == "--only") o.only = next();
    else {
      std::fprintf(stderr, "usage: %s [--n N] [--steps S] [--timed R] [--seed S] [--json FILE] [--bench] [--quick]"
                           " [--only TEXT]\n", argv[0]);
      return 2;
    }
  }
  const CudaProbe probe = cuda_probe();
  if (!probe.ok) {
    std::printf("no CUDA device: %s\n", probe.message.c_str());
    return 77;
  }
  std::printf("%s; seed %llu\n", probe.message.c_str(), (unsigned long long)o.seed);
  std::unique_ptr<Backend> gpu;
  CHECK_OK(make_cuda_backend(0, gpu), "make_cuda_backend");
  DeviceInfo info;
  if (gpu->device_info(info)) {
    std::printf("device %s: %.1f GiB total, %.1f GiB free\n", info.name.c_str(), info.total_bytes / 1073741824.0,
                info.free_bytes / 1073741824.0);
  }
  std::string json = "[";
  int failures = 0;
  if (o.bench) {
    failures = run_bench(*gpu, o.seed, o.quick, json);
  } else {
    std::unique_ptr<Backend> cpu = make_cpu_backend(0);
    Pool pool(o.seed, size_t(1) << 24);
    std::printf("%-34s %9s %9s %7s %9s %9s %8s %8s %6s  %s\n", "case", "param", "state", "codes", "scales", "reduce",
                "step ms", "copy ms", "copy%", "verdict");
    for (const Case& k : all_cases(o.quick)) {
      if (!o.only.empty() && k.label().find(o.only) == std::string::npos) continue;
      const int64_t n = k.n ? k.n : o.n;
      ParamSpec spec{n, k.dtype, k.op, k.mode, k.block, k.trust, k.percentile, k.paged, ""};
      std::shared_ptr<ParamState> pc, pg;
      CHECK_OK(create_param(*cpu, spec, pc), "create_param cpu");
      CHECK_OK(create_param(*gpu, spec, pg), "create_param cuda");
      const auto p0 = encode(pool.draw(n, 0.5f, 0.0), DType::F32);
      CHECK_OK(cpu->write_param(*pc, 0, p0.data(), DType::F32, n), "write_param cpu");
      CHECK_OK(gpu->write_param(*pg, 0, p0.data(), DType::F32, n), "write_param cuda");
      CaseDiff cd;
      std::vector<uint8_t> g;
      static const float kGradScale[] = {1.f, 4.f, 0.5f, 2.f};  // powers of two (exact_grads); 4x triggers clipping
      for (int s = 0; s < o.steps; ++s) {
        g = encode(pool.draw(n, kGradScale[s % 4], 0.01, k.exact_grads), k.grad_dtype);
        if (k.non_finite && s == o.steps - 1) {
          const float bad = s % 2 ? NAN : INFINITY;
          const auto b = encode({bad}, k.grad_dtype);
          std::memcpy(g.data() + size_t(n / 2) * b.size(), b.data(), b.size());
        }
        std::vector<StepWork> wc{StepWork{pc.get(), g.data(), k.grad_dtype, k.hyper}};
        std::vector<StepWork> wg{StepWork{pg.get(), g.data(), k.grad_dtype, k.hyper}};
        StepOutcome oc, og;
        CHECK_OK(cpu->step(wc, false, oc), "cpu step");
        CHECK_OK(gpu->step(wg, false, og), "cuda step");
        if (oc.skipped != og.skipped || oc.non_finite != og.non_finite || oc.results.size() != og.results.size()) {
          cd.results_ok = false;
        } else if (!oc.results.empty()) {
          const StepResult &rc = oc.results[0], &rg = og.results[0];
          if (rc.step != rg.step || rel(rc.gnorm_scale, rg.gnorm_scale) > 1e-5 ||
              rel(rc.update_scale, rg.update_scale) > 1e-5) {
            cd.results_ok = false;
          }
        }
        if (k.non_finite && s == o.steps - 1) {  // policy 'error' refuses the same step on both
          Status ec = cpu->step(wc, true, oc), eg = gpu->step(wg, true, og);
          if (ec.code != Code::NON_FINITE || eg.code != Code::NON_FINITE) cd.results_ok = false;
        }
        compare_step(*pg, *pc, cd);
        resync(*pg, *pc);
      }
      Timing t;
      if (!k.non_finite && o.timed > 0) {
        t = time_steps(*gpu, *pg, encode(pool.draw(n, 1.f, 0.0), k.dtype), k.hyper, o.timed);
      }
      const bool ok = cd.ok();
      failures += ok ? 0 : 1;
      std::string verdict = "ok";
      if (!ok) {
        verdict = "MISMATCH in ";
        verdict += !cd.param.ok() ? cd.param.what : !cd.state.ok() ? cd.state.what : !cd.codes.ok() ? cd.codes.what
                 : !cd.scales.ok() ? cd.scales.what : !cd.reduce.ok() ? cd.reduce.what : std::string("step results");
      }
      char codes[32];
      std::snprintf(codes, sizeof codes, "%lld", (long long)cd.codes.changed);
      std::printf("%-34s %9.2e %9.2e %7s %9.2e %9.2e %8.3f %8.3f %5.0f%%  %s\n", k.label().c_str(), cd.param.worst,
                  cd.state.worst, k.mode == StateMode::FP32 ? "-" : codes, cd.scales.worst, cd.reduce.worst, t.step_ms,
                  t.copy_ms, t.step_ms > 0 ? 100.0 * t.copy_ms / t.step_ms : 0.0, verdict.c_str());
      char buf[512];
      std::snprintf(buf, sizeof buf,
                    "%s{\"case\":\"%s\",\"n\":%lld,\"ok\":%s,\"param_rel\":%.3e,\"state_rel\":%.3e,\"codes_changed\":%lld,"
                    "\"codes_compared\":%lld,\"scale_rel\":%.3e,\"reduce_rel\":%.3e,\"step_ms\":%.5f,\"copy_ms\":%.5f,\"bytes\":%.0f}",
                    json.size() > 1 ? "," : "", json_escape(k.label()).c_str(), (long long)n, ok ? "true" : "false",
                    cd.param.worst, cd.state.worst, (long long)cd.codes.changed, (long long)cd.codes.count, cd.scales.worst,
                    cd.reduce.worst, t.step_ms, t.copy_ms, t.bytes);
      json += buf;
      if (!o.json.empty()) std::ofstream(o.json) << json << "]\n";  // complete after every case: a timeout keeps them
      request_free(*pc);
      request_free(*pg);
    }
    std::printf("%d case(s) with mismatches\n", failures);
  }
  json += "]\n";
  if (!o.json.empty()) std::ofstream(o.json) << json;
  return failures ? 1 : 0;
}
