// The CPU's deterministic sum of per-element float terms over [begin, end): fp32 partial sums of 4096 terms, each
// added to a double. The order is fixed by the range alone, so a norm or a percentile-clipping gradient norm is the
// same on every run and for every thread count (the caller splits ranges at fixed chunk boundaries).
#pragma once

#include <cstdint>

namespace qstep {

template <class Term>
double chunked_sum(int64_t begin, int64_t end, Term&& term) {
  float acc = 0.f;
  double total = 0.0;
  for (int64_t i = begin; i < end; ++i) {
    acc += term(i);
    if (((i - begin) & 4095) == 4095) { total += acc; acc = 0.f; }
  }
  return total + acc;
}

}  // namespace qstep
