// Quantization primitives shared by every state mode and by the standalone quantizer (docs/math.md §4, 5).
//
// Nearest-code rule (5.1): the boundary between codes c[i] and c[i+1] is the fp32 midpoint
// mid_i = f32(f32(c[i] + c[i+1]) * 0.5); above it the upper code wins, below it the lower one, and an exact tie
// goes to whichever index is even. NaN gives 0; values outside the map saturate. The sign fix (5.2) makes sure a
// signed state value never decodes with the wrong sign (a small negative never becomes zero).
#pragma once

#include <cstdint>

#include "qstep/dtype.h"
#include "qstep/hd.h"
#include "qstep/qmaps.h"
#include "qstep/types.h"

namespace qstep {

// A map and its 255 decision boundaries; mid[255] = +inf is a sentinel for the branchless search.
struct Codebook {
  float code[kMapSize];
  float mid[kMapSize];
};

inline Codebook make_codebook(const float* code) {
  Codebook cb{};
  for (int i = 0; i < kMapSize; ++i) cb.code[i] = code[i];
  for (int i = 0; i + 1 < kMapSize; ++i) cb.mid[i] = (code[i] + code[i + 1]) * 0.5f;
  cb.mid[kMapSize - 1] = bits_f32(0x7f800000u);
  return cb;
}

inline Codebook make_codebook_from_bits(const uint32_t* bits) {
  float code[kMapSize];
  for (int i = 0; i < kMapSize; ++i) code[i] = bits_f32(bits[i]);
  return make_codebook(code);
}

// Nearest code by binary search over the midpoints: 8 comparisons, no data-dependent branches.
QSTEP_HD int nearest_code(const float* mid, float x) {
  if (!(x == x)) return 0;
  int lo = 0;  // becomes the number of midpoints strictly below x
#pragma unroll
  for (int step = 128; step > 0; step >>= 1) {
    if (mid[lo + step - 1] < x) lo += step;
  }
  // x == mid[lo] is a tie between lo and lo + 1: the even index wins.
  if (lo < kMapSize - 1 && x == mid[lo] && (lo & 1)) lo += 1;
  return lo;
}

QSTEP_HD bool sign_bit(float f) { return (f32_bits(f) >> 31) != 0; }

// Sign fix for signed state (5.2), with 8-bit wrap-around (an all-zero block stores 255).
QSTEP_HD int sign_fix(const float* code, int q, float s) {
  if (sign_bit(code[q]) != sign_bit(s)) q = s > 0.f ? q + 1 : q - 1;
  return q & 0xff;
}

// Normalisation of a state value against its block scale (7.2 step 5, 8.1 step 3): x = s * f32(1 / scale), the
// reciprocal taken once per block, as bnb's kernels do (they divide approximately, 5.3 multiplies by the
// reciprocal). Both backends compute the same bits: one IEEE reciprocal, one IEEE product. When the reciprocal is
// not finite (scale 0, NaN, or a subnormal below 2^-128, whose reciprocal overflows) the exact quotient s / scale
// is used, so an all-zero block still stores 0/0 = NaN -> 255 after the sign fix and a tiny scale never turns
// zeros into NaN.
QSTEP_HD float state_reciprocal(float scale) { return 1.f / scale; }

QSTEP_HD bool reciprocal_ok(float inv) { return inv <= 3.40282347e38f; }  // false for +inf and NaN

QSTEP_HD float normalize_state(float s, float scale, float inv) { return reciprocal_ok(inv) ? s * inv : s / scale; }

// Byte stored for state value `s` against block scale `scale`, given inv = state_reciprocal(scale).
QSTEP_HD uint8_t quantize_state(const Codebook& cb, float s, float scale, float inv, bool is_signed) {
  int q = nearest_code(cb.mid, normalize_state(s, scale, inv));
  if (is_signed) q = sign_fix(cb.code, q, s);
  return uint8_t(q);
}

}  // namespace qstep
