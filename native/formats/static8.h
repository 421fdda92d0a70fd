// static8 state mode: bnb's legacy non-blockwise 8-bit state with one max per tensor, implemented as the intended
// algorithm of docs/math.md §8.1 (none of the quirks of 8.3): pass 1 computes every element's new state from the decoded
// old state and reduces the exact max |new state| over all n elements (and the LAMB/LARS update norm); pass 2
// recomputes the same new state, updates the parameter from it and encodes it against the new max. Both passes work
// in chunks through the vector decode, element math and encode of the blockwise8 mode.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "../kernels/element.h"
#include "chunked_sum.h"
#include "element_block.h"
#include "fast_quantizer.h"
#include "state_view.h"

namespace qstep {

// Elements per chunk of both passes: decoded states and a parameter copy stay in L1.
constexpr int64_t kStatic8Chunk = 1024;

// The element math of both passes over one chunk (math_block, vectorized), deliberately not inlined: pass 1's max
// bounds what pass 2 encodes, so both must compute bit-identical new states, and one compiled body guarantees it
// whatever the compiler contracts into fused multiply-adds in either caller.
template <class Op, typename T, class F>
__attribute__((noinline)) void static8_math(const StepConsts& c, raw_t<T>* p, const raw_t<T>* g, float* d0, float* d1,
                                            float* d2, int64_t len) {
  math_block<Op, T, F>(c, p, g, d0, d1, d2, len);
}

// Pass 1 over [begin, end): new-state max per stream into mx (fp32 max is order-independent: deterministic; NaN
// ignored as fmaxf does). The math runs on a copy of the parameters, which this pass must not change.
template <class Op, typename T>
void static8_max(const StepConsts& c, const raw_t<T>* p, const raw_t<T>* g, const StateView& v,
                 const FastQuantizer* const* fq, int64_t begin, int64_t end, float (&mx)[3]) {
  constexpr int K = Op::kStreams;
  alignas(64) float d[3][kStatic8Chunk];
  alignas(64) raw_t<T> pc[kStatic8Chunk];
  with_flags(c, [&](auto f) {
    for (int64_t b = begin; b < end; b += kStatic8Chunk) {
      const int64_t n = end - b < kStatic8Chunk ? end - b : kStatic8Chunk;
      for (int k = 0; k < K; ++k) fq[k]->decode(v.codes[k] + b, n, v.scales[k][0], d[k]);
      std::memcpy(pc, p + b, size_t(n) * sizeof(raw_t<T>));
      static8_math<Op, T, decltype(f)>(c, pc, g + b, d[0], d[1], d[2], n);
      for (int k = 0; k < K; ++k) mx[k] = fmaxf(mx[k], abs_max(d[k], n));
    }
  });
}

// Pass 2 over [begin, end) with the old scales `old_scale` and the new ones `new_scale`: the same math, now on the
// parameters, and the new states encoded against the new max.
template <class Op, typename T>
void static8_update(const StepConsts& c, raw_t<T>* p, const raw_t<T>* g, const StateView& v, const FastQuantizer* const* fq,
                    const float (&old_scale)[3], const float (&new_scale)[3], int64_t begin, int64_t end) {
  constexpr int K = Op::kStreams;
  alignas(64) float d[3][kStatic8Chunk];
  with_flags(c, [&](auto f) {
    for (int64_t b = begin; b < end; b += kStatic8Chunk) {
      const int64_t n = end - b < kStatic8Chunk ? end - b : kStatic8Chunk;
      for (int k = 0; k < K; ++k) fq[k]->decode(v.codes[k] + b, n, old_scale[k], d[k]);
      static8_math<Op, T, decltype(f)>(c, p + b, g + b, d[0], d[1], d[2], n);
      for (int k = 0; k < K; ++k) fq[k]->encode(d[k], n, new_scale[k], Op::kSigned[k], v.codes[k] + b);
    }
  });
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
