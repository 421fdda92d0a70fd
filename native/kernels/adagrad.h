// Adagrad (Duchi et al. 2011; spec 6.6; bnb kernel ADAGRAD): s += g^2, p -= lr * g / (sqrt(s) + eps).
// Coupled L2 decay in the state and the numerator in every mode (spec D8). No lr decay, no initial accumulator.
#pragma once

#include <cmath>

#include "consts.h"
#include "qstep/hd.h"

namespace qstep {

struct AdagradOp {
  static constexpr int kStreams = 1;
  static constexpr bool kSigned[kStreams] = {true};  // signed map, as every bnb 1-state optimizer (T8)
  static constexpr bool kCoupledDecay = true;
  static constexpr bool kSkipZeros = true;
  static constexpr bool kHasNormTerm = false;

  QSTEP_HD static void advance(const StepConsts&, float g, float (&s)[kStreams]) { s[0] = s[0] + g * g; }

  template <class R, class F>
  QSTEP_HD static float update(const StepConsts& c, float p, float g, const float (&)[kStreams],
                               const float (&s)[kStreams]) {
    return R::param(p - c.lr * (g / (sqrtf(s[0]) + c.eps)));
  }

  QSTEP_HD static float norm_term(const StepConsts&, const float (&)[kStreams]) { return 0.f; }
};

}  // namespace qstep
