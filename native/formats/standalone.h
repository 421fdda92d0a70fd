// Standalone blockwise quantize / dequantize (docs/math.md §5.3, bnb's quantize_blockwise): absmax per block of B
// elements, normalisation by multiplying with the reciprocal 1/absmax, nearest code, no sign fix. An all-zero
// block gives 0 * inf = NaN -> byte 0, which decodes to code[0] * 0 = -0.0.
#pragma once

#include <cmath>
#include <cstdint>

#include "fast_quantizer.h"

namespace qstep {

template <typename T>
void quantize_blockwise(const FastQuantizer& fq, const raw_t<T>* in, int64_t n, int64_t block, uint8_t* codes,
                        float* absmax) {
  for (int64_t start = 0, b = 0; start < n; start += block, ++b) {
    const int64_t end = start + block < n ? start + block : n;
    float m = 0.f;
    // A compare-and-select, not fmaxf: the same result (a NaN never wins either way), and GCC 12's aarch64 vectorizer
    // stops with an internal compiler error on the fmaxf reduction over fp16 loads.
    for (int64_t i = start; i < end; ++i) {
      const float v = fabsf(load_raw<T>(in[i]));
      m = v > m ? v : m;
    }
    absmax[b] = m;
    const float inv = 1.f / m;
    for (int64_t i = start; i < end; ++i) codes[i] = uint8_t(fq.nearest(load_raw<T>(in[i]) * inv));
  }
}

template <typename T>
void dequantize_blockwise(const float* code, const uint8_t* codes, const float* absmax, int64_t n, int64_t block,
                          raw_t<T>* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = store_raw<T>(code[codes[i]] * absmax[i / block]);
}

}  // namespace qstep
