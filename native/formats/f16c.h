// Vector fp16 conversions for the CPU traversals (F16C, part of the x86-64-v3 baseline). g++ vectorizes the
// portable conversions of dtype.h poorly, and an fp16 element step makes three of them, so the fp32-state traversal
// and the grouped blockwise8 form widen fp16 parameters and gradients into fp32 scratch, run the element math there
// with fp16's rounding points, and narrow the parameters back. Widening is exact, and the values narrowed were
// already rounded to fp16 by the element step, so the stored bits are the portable path's
// (native/tests/dtype_check.cc compares the conversions exhaustively).
#pragma once

#include <cstdint>

#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "qstep/dtype.h"

namespace qstep {

// The most elements widened at a time: 1 KiB of fp32 per array, well inside L1.
constexpr int64_t kWidenChunk = 256;

#if defined(__F16C__)
// out[j] = fp16 bits h[j] widened to fp32, j < n; a tail of fewer than 8 through the portable conversion.
inline void widen_f16(const uint16_t* h, float* out, int64_t n) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    _mm256_store_ps(out + j, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + j))));
  }
  for (; j < n; ++j) out[j] = f16_to_f32(h[j]);
}

// h[j] = x[j] narrowed to fp16 with round-to-nearest-even, j < n (the same bits as f32_to_f16).
inline void narrow_f16(const float* x, uint16_t* h, int64_t n) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h + j), _mm256_cvtps_ph(_mm256_load_ps(x + j), _MM_FROUND_TO_NEAREST_INT));
  }
  for (; j < n; ++j) h[j] = f32_to_f16(x[j]);
}

// fn(pw, gw) on fp16 parameters p[0, n) and gradients g[0, n) widened to fp32 (n <= kWidenChunk); the parameters are
// narrowed back afterwards.
template <class Fn>
inline __attribute__((always_inline)) void with_widened_f16(uint16_t* p, const uint16_t* g, int64_t n, Fn&& fn) {
  alignas(32) float pw[kWidenChunk], gw[kWidenChunk];
  widen_f16(p, pw, n);
  widen_f16(g, gw, n);
  fn(pw, static_cast<const float*>(gw));
  narrow_f16(pw, p, n);
}
#endif

}  // namespace qstep
