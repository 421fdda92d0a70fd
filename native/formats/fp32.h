// fp32 state mode (docs/math.md §6): one pass, element by element. The loop body is the shared element_step; with
// -fno-math-errno g++ vectorizes it (sqrt and division included). fp16 parameters go through F16C (f16c.h).
#pragma once

#include <cstdint>
#include <type_traits>

#include "../kernels/element.h"
#include "chunked_sum.h"
#include "f16c.h"
#include "state_view.h"

namespace qstep {

// RT: the parameter dtype whose rounding points apply (docs/math.md §10); T, unless fp16 values arrive widened (f16c.h).
template <class Op, typename T, class F, typename RT = T>
void fp32_update_loop(const StepConsts& c, raw_t<T>* __restrict p, const raw_t<T>* __restrict g, const StateView& v,
                      int64_t begin, int64_t end) {
  using R = Rounding<RT, true>;
  constexpr int K = Op::kStreams;
  float* __restrict s0 = v.f32[0];
  float* __restrict s1 = K > 1 ? v.f32[1] : v.f32[0];
  float* __restrict s2 = K > 2 ? v.f32[2] : v.f32[0];
#pragma GCC ivdep
  for (int64_t i = begin; i < end; ++i) {
    float s[K];
    s[0] = s0[i];
    if constexpr (K > 1) s[1] = s1[i];
    if constexpr (K > 2) s[2] = s2[i];
    const float pn = element_step<Op, R, F>(c, load_raw<T>(g[i]), load_raw<T>(p[i]), s);
    p[i] = store_raw<T>(pn);
    s0[i] = s[0];
    if constexpr (K > 1) s1[i] = s[1];
    if constexpr (K > 2) s2[i] = s[2];
  }
}

template <class Op, typename T>
void fp32_update(const StepConsts& c, raw_t<T>* p, const raw_t<T>* g, const StateView& v, int64_t begin,
                 int64_t end) {
#if defined(__F16C__)
  if constexpr (std::is_same_v<T, f16>) {
    // fp16 through the hardware conversions, kWidenChunk elements at a time (f16c.h).
    with_flags(c, [&](auto f) {
      for (int64_t b = begin; b < end; b += kWidenChunk) {
        const int64_t n = end - b < kWidenChunk ? end - b : kWidenChunk;
        StateView at = v;  // the state streams from element b on, so that the loop indexes all arrays from 0
        for (float*& s : at.f32) s = s != nullptr ? s + b : s;
        with_widened_f16(p + b, g + b, n, [&](float* pw, const float* gw) {
          fp32_update_loop<Op, float, decltype(f), f16>(c, pw, gw, at, 0, n);
        });
      }
    });
    return;
  }
#endif
  with_flags(c, [&](auto f) { fp32_update_loop<Op, T, decltype(f)>(c, p, g, v, begin, end); });
}

template <class Op, typename T>
double fp32_norm(const StepConsts& c, const raw_t<T>* g, const StateView& v, int64_t begin, int64_t end) {
  constexpr int K = Op::kStreams;
  return chunked_sum(begin, end, [&](int64_t i) {
    float s[K];
    for (int k = 0; k < K; ++k) s[k] = v.f32[k][i];
    return element_norm_term<Op>(c, load_raw<T>(g[i]), s);
  });
}

}  // namespace qstep
