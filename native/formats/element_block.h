// The element math over a run of elements, shared by the 8-bit traversals (blockwise8, static8), and the NaN-ignoring
// block maximum they take of the new states.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "../kernels/element.h"

namespace qstep {

// max |x[j]|, ignoring NaN like fmaxf (and like the CUDA kernel): the accumulator is the second operand of maxps,
// which a NaN first operand never displaces. fp32 max is order-independent, so the lane-wise reduction is exact and
// deterministic. Four accumulators: one chain of dependent maxes would wait on the max latency for every 8 values.
inline float abs_max(const float* x, int64_t len) {
  int64_t j = 0;
  float m = 0.f;
#if defined(__AVX2__)
  const __m256 mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 m0 = _mm256_setzero_ps(), m1 = m0, m2 = m0, m3 = m0;
  for (; j + 32 <= len; j += 32) {
    m0 = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + j), mask), m0);
    m1 = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + j + 8), mask), m1);
    m2 = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + j + 16), mask), m2);
    m3 = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + j + 24), mask), m3);
  }
  for (; j + 8 <= len; j += 8) m0 = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + j), mask), m0);
  const __m256 m8 = _mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  m = _mm_cvtss_f32(m4);
#endif
  for (; j < len; ++j) {
    const float a = fabsf(x[j]);
    m = a > m ? a : m;
  }
  return m;
}

// The element math over one decoded block: d0..d2 hold the decoded state in and the new state out.
// RT: the parameter dtype whose rounding points apply (docs/math.md §10); T, unless fp16 parameters arrive here already
// widened to fp32 (the grouped form's F16C path).
template <class Op, typename T, class F, typename RT = T>
inline __attribute__((always_inline)) void math_block(const StepConsts& c, raw_t<T>* __restrict pb,
                                                      const raw_t<T>* __restrict gb, float* __restrict d0,
                                                      float* __restrict d1, float* __restrict d2, int64_t len) {
  using R = Rounding<RT, false>;
  constexpr int K = Op::kStreams;
  for (int64_t j = 0; j < len; ++j) {
    float s[K];
    s[0] = d0[j];
    if constexpr (K > 1) s[1] = d1[j];
    if constexpr (K > 2) s[2] = d2[j];
    pb[j] = store_raw<T>(element_step<Op, R, F>(c, load_raw<T>(gb[j]), load_raw<T>(pb[j]), s));
    d0[j] = s[0];
    if constexpr (K > 1) d1[j] = s[1];
    if constexpr (K > 2) d2[j] = s[2];
  }
}

}  // namespace qstep
