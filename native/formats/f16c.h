// Vector 16-bit conversions for the CPU traversals. g++ vectorizes the portable conversions of dtype.h poorly (in
// AVX-512 functions not at all), and a 16-bit element step makes three of them, so the traversals widen 16-bit
// parameters and gradients into fp32 scratch, run the element math there with the 16-bit type's rounding points, and
// narrow the parameters back:
// * fp16 through F16C (part of the x86-64-v3 baseline; the AVX-512 form uses its 16-lane forms directly). Widening
//   is exact, and the values narrowed were already rounded to fp16 by the element step, so the stored bits are the
//   portable path's.
// * bf16 in the AVX-512 form, 16 lanes: widening moves the bits up, narrowing is f32_to_bf16 itself (nearest even,
//   NaN quieted).
// native/tests/dtype_check.cc compares the conversions exhaustively, the AVX-512 bf16 narrowing included.
#pragma once

#include <cstdint>

#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "qstep/dtype.h"
#include "simd512.h"

namespace qstep {

// Elements the fp32-state traversal widens per call: 1 KiB of fp32 per array, well inside L1.
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
#endif

#if defined(QSTEP_HAVE_AVX512_PATH)
// 16 bf16 values widened to fp32: the bits moved up (exact).
QSTEP_AVX512 inline __attribute__((always_inline)) __m512i widen_bf16x16(const uint16_t* h) {
  return _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h))), 16);
}

// 16 fp32 values narrowed to bf16 exactly as f32_to_bf16: nearest even, NaN quieted with its sign.
QSTEP_AVX512 inline __attribute__((always_inline)) __m256i narrow_bf16x16(__m512i u) {
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff))), 16);
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                                _mm512_set1_epi32(0x7f800000));
  const __m512i q = _mm512_mask_or_epi32(rounded, nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
  return _mm512_cvtepi32_epi16(q);
}

#endif

}  // namespace qstep
