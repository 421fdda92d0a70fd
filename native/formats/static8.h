// static8 state mode: bnb's legacy non-blockwise 8-bit state with one max per tensor, implemented as the intended
// algorithm of spec 8.1 (none of the quirks of 8.3): pass 1 computes every element's new state from the decoded
// old state and reduces the exact max |new state| over all n elements (and the LAMB/LARS update norm); pass 2
// recomputes the same new state, updates the parameter from it and encodes it against the new max.
#pragma once

#include <cmath>
#include <cstdint>

#include "../kernels/element.h"
#include "chunked_sum.h"
#include "fast_quantizer.h"
#include "state_view.h"

namespace qstep {

// Pass 1 over [begin, end): new-state max per stream into mx (fp32 max is order-independent: deterministic).
template <class Op, typename T>
void static8_max(const StepConsts& c, const raw_t<T>* p, const raw_t<T>* g, const StateView& v, int64_t begin, int64_t end,
                 float (&mx)[3]) {
  using R = Rounding<T, false>;
  constexpr int K = Op::kStreams;
  for (int64_t i = begin; i < end; ++i) {
    float s[K];
    for (int k = 0; k < K; ++k) s[k] = v.cb[k]->code[v.codes[k][i]] * v.scales[k][0];
    element_step<Op, R>(c, load_raw<T>(g[i]), load_raw<T>(p[i]), s);
    for (int k = 0; k < K; ++k) mx[k] = fmaxf(mx[k], fabsf(s[k]));
  }
}

// Pass 2 over [begin, end) with the old scales `old_scale` and the new ones `new_scale`.
template <class Op, typename T>
void static8_update(const StepConsts& c, raw_t<T>* p, const raw_t<T>* g, const StateView& v, const FastQuantizer* const* fq,
                    const float (&old_scale)[3], const float (&new_scale)[3], int64_t begin, int64_t end) {
  using R = Rounding<T, false>;
  constexpr int K = Op::kStreams;
  float inv[K];
  for (int k = 0; k < K; ++k) inv[k] = state_reciprocal(new_scale[k]);
  for (int64_t i = begin; i < end; ++i) {
    float s[K];
    for (int k = 0; k < K; ++k) s[k] = v.cb[k]->code[v.codes[k][i]] * old_scale[k];
    p[i] = store_raw<T>(element_step<Op, R>(c, load_raw<T>(g[i]), load_raw<T>(p[i]), s));
    for (int k = 0; k < K; ++k) v.codes[k][i] = fq[k]->quantize_state(s[k], new_scale[k], inv[k], Op::kSigned[k]);
  }
}

template <class Op, typename T>
double static8_norm(const StepConsts& c, const raw_t<T>* g, const StateView& v, int64_t begin, int64_t end) {
  constexpr int K = Op::kStreams;
  return chunked_sum(begin, end, [&](int64_t i) {
    float s[K];
    for (int k = 0; k < K; ++k) s[k] = v.cb[k]->code[v.codes[k][i]] * v.scales[k][0];
    return element_norm_term<Op>(c, load_raw<T>(g[i]), s);
  });
}

}  // namespace qstep
