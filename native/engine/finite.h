// Non-finite detection on gradients (spec D4), on the raw bits so that the loops vectorize: NaN and Inf are exactly
// the values whose exponent field is all ones, in every dtype. Two uses: the step's check pass over a gradient it
// was handed, and copy_checked(), which moves a received chunk into a staging buffer and checks it on the way, so
// that a gradient staged that way needs no second pass before its step (StepWork::grad_finite).
#pragma once

#include <algorithm>
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

// Copies n elements of dtype d from src (any alignment) to dst (aligned to the element) and tells whether any of
// them is NaN or Inf. Works in L1-sized pieces: memcpy, then the check reads the piece back from cache, so the
// whole costs what the copy costs.
inline bool copy_checked(DType d, const void* src, void* dst, int64_t n) {
  constexpr int64_t kPieceBytes = 16 << 10;
  const int64_t width = dtype_bytes(d);
  const int64_t piece = kPieceBytes / width;
  bool bad = false;
  for (int64_t b = 0; b < n; b += piece) {
    const int64_t e = std::min(n, b + piece);
    std::memcpy(static_cast<uint8_t*>(dst) + b * width, static_cast<const uint8_t*>(src) + b * width,
                size_t((e - b) * width));
    switch (d) {
      case DType::F32: bad |= any_non_finite<float>(static_cast<const float*>(dst), b, e); break;
      case DType::F16: bad |= any_non_finite<f16>(static_cast<const uint16_t*>(dst), b, e); break;
      case DType::BF16: bad |= any_non_finite<bf16>(static_cast<const uint16_t*>(dst), b, e); break;
    }
  }
  return bad;
}

}  // namespace qstep
