// CPU nearest-code lookup: a 64K-entry table indexed by the top 16 bits of the fp32 value (sign, exponent, 7
// mantissa bits). Every such bucket holds floats of one contiguous interval; for each bucket the table stores the
// code of its lower end and whether one decision boundary falls inside it, so a lookup plus at most one compare
// gives exactly the code of the binary search (nearest_code), ties and saturation included. Buckets with more than
// one boundary (none for the two dynamic maps; checked at construction) fall back to the binary search.
// About 4x cheaper than the search on the CPU (service-notes).
#pragma once

#include <cstdint>
#include <vector>

#include "quantize.h"

namespace qstep {

class FastQuantizer {
 public:
  explicit FastQuantizer(const Codebook& cb) : cb_(cb), lut_(1u << 16) {
    for (uint32_t t = 0; t < (1u << 16); ++t) {
      const float a = bits_f32(t << 16), b = bits_f32((t << 16) | 0xffffu);
      const bool na = !(a == a), nb = !(b == b);
      if (na && nb) { lut_[t] = 0; continue; }
      int qa = nearest_code(cb_.mid, na ? b : a), qb = nearest_code(cb_.mid, nb ? a : b);
      if (qa > qb) { int tmp = qa; qa = qb; qb = tmp; }
      if (qa == qb) lut_[t] = uint16_t(qa);
      else if (qb == qa + 1) lut_[t] = uint16_t(qa | kBoundary);
      else { lut_[t] = uint16_t(qa | kSlow); ++slow_buckets_; }
    }
  }

  inline int nearest(float x) const {
    const uint32_t u = f32_bits(x);
    const uint16_t e = lut_[u >> 16];
    int q = e & 0xff;
    if (e & kBoundary) {
      const float m = cb_.mid[q];
      q += int(x > m) | (int(x == m) & (q & 1));
    } else if (e & kSlow) {
      q = nearest_code(cb_.mid, x);
    }
    return (x == x) ? q : 0;
  }

  inline uint8_t quantize_state(float s, float scale, bool is_signed) const {
    const float x = s / scale;
    int q = nearest(x);
    if (is_signed) q = sign_fix(cb_.code, q, s);
    return uint8_t(q);
  }

  const Codebook& codebook() const { return cb_; }
  int slow_buckets() const { return slow_buckets_; }

 private:
  static constexpr uint16_t kBoundary = 0x100, kSlow = 0x200;
  Codebook cb_;
  std::vector<uint16_t> lut_;
  int slow_buckets_ = 0;
};

}  // namespace qstep
