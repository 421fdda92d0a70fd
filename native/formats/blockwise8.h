// blockwise8 state mode (spec 7): per block of B elements (256, or 2048 for old checkpoints), decode with the old
// absmax, run the element step, take the new absmax as the exact max |new state| of the block (padded lanes of a
// partial last block included, 7.6), update the parameter from the unquantized new state, then re-encode against
// the new absmax with the nearest-code rule and the sign fix for signed streams. No cross-block communication.
#pragma once

#include <cmath>
#include <cstdint>

#include "../kernels/element.h"
#include "fast_quantizer.h"
#include "state_view.h"

namespace qstep {

// max |x[j]| (fp32 max is order-independent, so the 8-lane reduction is exact and deterministic).
inline float abs_max(const float* x, int64_t len) {
  int64_t j = 0;
  float m = 0.f;
#if defined(__AVX2__)
  __m256 vm = _mm256_setzero_ps();
  const __m256 mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (; j + 8 <= len; j += 8) vm = _mm256_max_ps(vm, _mm256_and_ps(_mm256_loadu_ps(x + j), mask));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, vm);
  for (float l : lanes) m = fmaxf(m, l);
#endif
  for (; j < len; ++j) m = fmaxf(m, fabsf(x[j]));
  return m;
}

// Codes of padded lanes (7.6): signed streams 128, unsigned 0; g = 0, p = 0.
template <class Op>
void blockwise8_pad_max(const StepConsts& c, const StateView& v, int64_t b, float (&mx)[Op::kStreams]) {
  using R = Rounding<float, false>;
  float s[Op::kStreams];
  for (int k = 0; k < Op::kStreams; ++k) {
    s[k] = v.cb[k]->code[Op::kSigned[k] ? 128 : 0] * v.scales[k][b];
  }
  element_step<Op, R>(c, 0.f, 0.f, s);
  for (int k = 0; k < Op::kStreams; ++k) mx[k] = fmaxf(mx[k], fabsf(s[k]));
}

// The element math over one decoded block: d0..d2 hold the decoded state in and the new state out.
template <class Op, typename T, class F>
void math_block(const StepConsts& c, raw_t<T>* __restrict pb, const raw_t<T>* __restrict gb, float* __restrict d0,
                float* __restrict d1, float* __restrict d2, int64_t len) {
  using R = Rounding<T, false>;
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

// Blocks [b0, b1). `scratch` holds 3 * block floats. Three loops per block: decode the codes, run the
// element math (vectorized like the fp32 mode), encode against the new scales.
template <class Op, typename T>
void blockwise8_update(const StepConsts& c, raw_t<T>* __restrict p, const raw_t<T>* __restrict g,
                       const StateView& v, const FastQuantizer* const* fq, int64_t b0, int64_t b1, float* scratch) {
  constexpr int K = Op::kStreams;
  const int64_t B = v.block;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t start = b * B;
    const int64_t len = (start + B <= v.n) ? B : v.n - start;
    for (int k = 0; k < K; ++k) fq[k]->decode(v.codes[k] + start, len, v.scales[k][b], scratch + k * B);
    with_flags(c, [&](auto f) {
      math_block<Op, T, decltype(f)>(c, p + start, g + start, scratch, scratch + B, scratch + 2 * B, len);
    });
    float mx[K];
    for (int k = 0; k < K; ++k) mx[k] = abs_max(scratch + k * B, len);
    if (len < B) blockwise8_pad_max<Op>(c, v, b, mx);
    for (int k = 0; k < K; ++k) {
      v.scales[k][b] = mx[k];
      fq[k]->encode(scratch + k * B, len, mx[k], Op::kSigned[k], v.codes[k] + start);
    }
  }
}

template <class Op, typename T>
double blockwise8_norm(const StepConsts& c, const raw_t<T>* g, const StateView& v, int64_t b0, int64_t b1) {
  constexpr int K = Op::kStreams;
  double total = 0.0;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t start = b * v.block, end = start + v.block < v.n ? start + v.block : v.n;
    float acc = 0.f;
    for (int64_t i = start; i < end; ++i) {
      float s[K];
      for (int k = 0; k < K; ++k) s[k] = v.cb[k]->code[v.codes[k][i]] * v.scales[k][b];
      acc += element_norm_term<Op>(c, load_raw<T>(g[i]), s);
    }
    total += acc;
  }
  return total;
}

}  // namespace qstep
