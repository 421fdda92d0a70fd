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

// Blocks [b0, b1). `scratch` holds Op::kStreams * block floats.
template <class Op, typename T>
void blockwise8_update(const StepConsts& c, T* __restrict p, const T* __restrict g, const StateView& v,
                       const FastQuantizer* const* fq, int64_t b0, int64_t b1, float* scratch) {
  using R = Rounding<T, false>;
  constexpr int K = Op::kStreams;
  const int64_t B = v.block;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t start = b * B;
    const int64_t len = (start + B <= v.n) ? B : v.n - start;
    float old_scale[K];
    float mx[K];
    for (int k = 0; k < K; ++k) { old_scale[k] = v.scales[k][b]; mx[k] = 0.f; }
    const float* code0 = v.cb[0]->code;
    const float* code1 = v.cb[K > 1 ? 1 : 0]->code;
    const float* code2 = v.cb[K > 2 ? 2 : 0]->code;
    const uint8_t* q0 = v.codes[0] + start;
    const uint8_t* q1 = v.codes[K > 1 ? 1 : 0] + start;
    const uint8_t* q2 = v.codes[K > 2 ? 2 : 0] + start;
    float* __restrict o0 = scratch;
    float* __restrict o1 = scratch + B;
    float* __restrict o2 = scratch + 2 * B;
    T* __restrict pb = p + start;
    const T* __restrict gb = g + start;
    float m0 = 0.f, m1 = 0.f, m2 = 0.f;
    for (int64_t j = 0; j < len; ++j) {
      float s[K];
      s[0] = code0[q0[j]] * old_scale[0];
      if constexpr (K > 1) s[1] = code1[q1[j]] * old_scale[1];
      if constexpr (K > 2) s[2] = code2[q2[j]] * old_scale[2];
      const float pn = element_step<Op, R>(c, load<T>(gb[j]), load<T>(pb[j]), s);
      pb[j] = store<T>(pn);
      o0[j] = s[0];
      m0 = fmaxf(m0, fabsf(s[0]));
      if constexpr (K > 1) { o1[j] = s[1]; m1 = fmaxf(m1, fabsf(s[1])); }
      if constexpr (K > 2) { o2[j] = s[2]; m2 = fmaxf(m2, fabsf(s[2])); }
    }
    mx[0] = m0;
    if constexpr (K > 1) mx[1] = m1;
    if constexpr (K > 2) mx[2] = m2;
    if (len < B) blockwise8_pad_max<Op>(c, v, b, mx);
    for (int k = 0; k < K; ++k) {
      v.scales[k][b] = mx[k];
      const FastQuantizer& quant = *fq[k];
      const float* src = scratch + k * B;
      uint8_t* dst = v.codes[k] + start;
      const float scale = mx[k];
      if (Op::kSigned[k]) {
        for (int64_t j = 0; j < len; ++j) dst[j] = quant.quantize_state(src[j], scale, true);
      } else {
        for (int64_t j = 0; j < len; ++j) dst[j] = quant.quantize_state(src[j], scale, false);
      }
    }
  }
}

template <class Op, typename T>
double blockwise8_norm(const StepConsts& c, const T* g, const StateView& v, int64_t b0, int64_t b1) {
  constexpr int K = Op::kStreams;
  double total = 0.0;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t start = b * v.block, end = start + v.block < v.n ? start + v.block : v.n;
    float acc = 0.f;
    for (int64_t i = start; i < end; ++i) {
      float s[K];
      for (int k = 0; k < K; ++k) s[k] = v.cb[k]->code[v.codes[k][i]] * v.scales[k][b];
      acc += element_norm_term<Op>(c, load<T>(g[i]), s);
    }
    total += acc;
  }
  return total;
}

}  // namespace qstep
