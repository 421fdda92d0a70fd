// Non-finite detection on gradients (docs/math.md D4), on the raw bits so that the loops vectorize: NaN and Inf are exactly
// the values whose exponent field is all ones, in every dtype. Two uses: the step's check pass over a gradient it
// was handed, and copy_checked(), which moves a received chunk into a staging buffer and checks it on the way, so
// that a gradient staged that way needs no second pass before its step (StepWork::grad_finite).
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "qstep/dtype.h"
#include "qstep/types.h"

namespace qstep {

template <typename T>
bool any_non_finite(const raw_t<T>* g, int64_t begin, int64_t end) {
  uint32_t any = 0;
  if constexpr (std::is_same_v<T, float>) {
    for (int64_t i = begin; i < end; ++i) any |= uint32_t((f32_bits(g[i]) & 0x7f800000u) == 0x7f800000u);
  } else {
    constexpr uint16_t kExp = std::is_same_v<T, f16> ? 0x7c00 : 0x7f80;
    for (int64_t i = begin; i < end; ++i) any |= uint32_t((g[i] & kExp) == kExp);
  }
  return any != 0;
}

// Copies n elements of dtype d from src (any alignment) to dst and tells whether any of them is NaN or Inf, in one
// pass: each word is loaded once, stored, and its exponent field tested (the loop vectorizes to plain loads, stores
// and compares), so the check adds no memory traffic to the copy.
template <typename W, W kExp>
bool copy_words_checked(const void* src, void* dst, int64_t n) {
  const uint8_t* s = static_cast<const uint8_t*>(src);
  uint8_t* d = static_cast<uint8_t*>(dst);
  W any = 0;
  for (int64_t i = 0; i < n; ++i) {
    W v;
    std::memcpy(&v, s + i * int64_t(sizeof(W)), sizeof(W));
    std::memcpy(d + i * int64_t(sizeof(W)), &v, sizeof(W));
    any |= W((v & kExp) == kExp);
  }
  return any != 0;
}

inline bool copy_checked(DType d, const void* src, void* dst, int64_t n) {
  switch (d) {
    case DType::F16: return copy_words_checked<uint16_t, 0x7c00>(src, dst, n);
    case DType::BF16: return copy_words_checked<uint16_t, 0x7f80>(src, dst, n);
    case DType::F32: break;
  }
  return copy_words_checked<uint32_t, 0x7f800000u>(src, dst, n);
}

}  // namespace qstep
