// The cases of qstep-cuda-check: every optimizer (Adam/AdamW, Adam with percentile clipping, LAMB, Lion, SGD with
// skip_zeros, LARS, RMSprop, Adagrad, AdEMAMix with its schedulers) x state mode (fp32, blockwise8 with B = 256
// and 2048, static8) x parameter dtype (fp32, fp16, bf16), weight decay > 0 everywhere (house style 18); 16-bit
// parameters take fp32 gradients in two of the modes (conversion on arrival, D12) and fp32 parameters bf16
// gradients in static8. Plus paged state (managed memory, docs/math.md §14) and a step with a non-finite gradient (D4).
// Also the Adam benchmark of `--bench` and the traffic model the timings are compared against.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "../engine/param_state.h"
#include "qstep/types.h"

namespace qstep::check {

struct Case {
  std::string name;
  OpKind op = OpKind::ADAM;
  StateMode mode = StateMode::FP32;
  int64_t block = kDefaultBlockSize;
  DType dtype = DType::F32;
  DType grad_dtype = DType::F32;
  bool trust = false;
  int percentile = 100;
  bool paged = false;
  bool non_finite = false;
  // Percentile clipping feeds the squared gradient norm into every state value, so its rounding must not differ:
  // the gradients are then small multiples of a power of two, whose squares add exactly in any order (the CPU
  // adds in fp32 chunks, CUDA in double), and both backends clip with the same scale.
  bool exact_grads = false;
  int64_t n = 0;  // 0: the run's default size
  Hyper hyper;

  std::string label() const {
    static const char* dt[] = {"f32", "f16", "bf16"};
    std::string m = mode == StateMode::FP32 ? "fp32" : mode == StateMode::STATIC8 ? "static8"
                  : block == kDefaultBlockSize ? "bw8/256" : "bw8/2048";
    std::string s = name + " " + m + " " + dt[int(dtype)];
    if (grad_dtype != dtype) s += " g:" + std::string(dt[int(grad_dtype)]);
    if (paged) s += " paged";
    if (non_finite) s += " nonfinite";
    return s;
  }
};

inline Hyper hyper_of(float lr, float b1, float b2, float eps) {
  Hyper h;
  h.lr = lr;
  h.beta1 = b1;
  h.beta2 = b2;
  h.eps = eps;
  h.weight_decay = 0.01f;
  return h;
}

inline std::vector<Case> variants() {
  std::vector<Case> v;
  auto add = [&](const char* name, OpKind op, Hyper h) {
    Case c;
    c.name = name;
    c.op = op;
    c.hyper = h;
    v.push_back(c);
    return &v.back();
  };
  // The zero-v guard is on where the service turns it on by default (docs/math.md §19): the CUDA and CPU forms of
  // capped_m are compared wherever an 8-bit second moment decodes to 0.
  add("adamw", OpKind::ADAM, hyper_of(1e-2f, 0.9f, 0.999f, 1e-8f))->hyper.zero_v_guard = true;
  Case* clip = add("adam-clip", OpKind::ADAM, hyper_of(1e-2f, 0.9f, 0.999f, 1e-8f));
  clip->percentile = 5;
  clip->exact_grads = true;
  clip->n = (int64_t(1) << 20) + 301;  // 9 n < 2^24: the sum of squares stays exact in fp32
  Case* lamb = add("lamb", OpKind::ADAM, hyper_of(1e-2f, 0.9f, 0.999f, 1e-6f));
  lamb->trust = true;
  lamb->hyper.max_unorm = 1.0f;
  add("lion", OpKind::LION, hyper_of(1e-3f, 0.9f, 0.99f, 0.f));
  add("sgd-skip0", OpKind::MOMENTUM, hyper_of(1e-2f, 0.9f, 0.f, 0.f))->hyper.skip_zeros = true;
  Case* lars = add("lars", OpKind::MOMENTUM, hyper_of(1e-2f, 0.9f, 0.f, 0.f));
  lars->trust = true;
  lars->hyper.max_unorm = 0.02f;
  add("rmsprop", OpKind::RMSPROP, hyper_of(1e-3f, 0.99f, 0.f, 1e-8f));
  add("adagrad", OpKind::ADAGRAD, hyper_of(1e-2f, 0.f, 0.f, 1e-10f));
  Case* ema = add("ademamix", OpKind::ADEMAMIX, hyper_of(1e-2f, 0.9f, 0.999f, 1e-8f));
  ema->hyper.beta3 = 0.9999f;
  ema->hyper.alpha = 5.f;
  ema->hyper.t_alpha = 10;
  ema->hyper.t_beta3 = 10;
  ema->hyper.zero_v_guard = true;
  return v;
}

inline std::vector<Case> all_cases(bool quick) {
  struct ModeOf { StateMode mode; int64_t block; };
  const ModeOf modes[] = {{StateMode::FP32, kDefaultBlockSize}, {StateMode::BLOCKWISE8, kDefaultBlockSize},
                          {StateMode::BLOCKWISE8, kCompatBlockSize}, {StateMode::STATIC8, kDefaultBlockSize}};
  std::vector<Case> out;
  for (const Case& base : variants()) {
    const bool in_quick = base.name == "adamw" || base.name == "lion" || base.name == "lars" || base.name == "ademamix";
    if (quick && !in_quick) continue;
    for (const ModeOf& m : modes) {
      for (DType d : {DType::F32, DType::F16, DType::BF16}) {
        if (quick && d == DType::F16) continue;
        Case c = base;
        c.mode = m.mode;
        c.block = m.block;
        c.dtype = d;
        const bool other = m.block == kCompatBlockSize || m.mode == StateMode::STATIC8;
        c.grad_dtype = d != DType::F32 ? (other ? DType::F32 : d) : (m.mode == StateMode::STATIC8 ? DType::BF16 : d);
        out.push_back(c);
      }
    }
  }
  Case paged = variants()[0];
  paged.paged = true;
  paged.n = 300007;  // >= kPagedMinElements: state in managed memory
  out.push_back(paged);
  paged.mode = StateMode::BLOCKWISE8;
  paged.dtype = paged.grad_dtype = DType::BF16;
  out.push_back(paged);
  Case bad = variants()[0];
  bad.mode = StateMode::BLOCKWISE8;
  bad.non_finite = true;
  out.push_back(bad);
  return out;
}

// Bytes one step reads and writes with its gradient in device memory, in the parameter dtype: the non-finite
// count (reads g), the norm passes if any, then the mode's update (static8: a max pass and an encode pass).
inline double step_traffic(const ParamSpec& s, int streams) {
  const double n = double(s.n), t = dtype_bytes(s.dtype), k = streams;
  const double state = s.mode == StateMode::FP32 ? 4.0 : 1.0;
  double bytes = n * t;  // non-finite count
  if (s.percentile < 100) bytes += n * t;
  if (s.trust) bytes += n * t + n * (t + k * state);
  switch (s.mode) {
    case StateMode::FP32: bytes += n * (3 * t + 2 * k * 4); break;
    case StateMode::BLOCKWISE8: bytes += n * (3 * t + 2 * k); break;
    case StateMode::STATIC8: bytes += n * (2 * t + k) + n * (3 * t + 2 * k); break;
  }
  return bytes;
}

// --bench: AdamW (fp32 state, blockwise8) on fp32 and bf16 parameters at 16M and 256M elements.
int run_bench(Backend& gpu, uint64_t seed, bool quick, std::string& json);

}  // namespace qstep::check
