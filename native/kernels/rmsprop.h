// RMSprop (Tieleman & Hinton 2012; spec 6.5; bnb kernel RMSPROP). betas[0] is alpha. Coupled L2 decay, in the
// state AND in the numerator in every mode (spec D8: bnb's 8-bit kernel uses the raw gradient in the numerator;
// qstep uses the scaled, decayed gradient everywhere so that fp32 and 8-bit compute the same function).
#pragma once

#include <cmath>

#include "consts.h"
#include "qstep/hd.h"

namespace qstep {

struct RmspropOp {
  static constexpr int kStreams = 1;
  static constexpr bool kSigned[kStreams] = {true};  // bnb: every 1-state optimizer uses the signed map (T8)
  static constexpr bool kCoupledDecay = true;
  static constexpr bool kSkipZeros = true;
  static constexpr bool kHasNormTerm = false;

  QSTEP_HD static void advance(const StepConsts& c, float g, float (&s)[kStreams]) {
    s[0] = s[0] * c.beta1 + c.one_m_beta1 * (g * g);
  }

  template <class R, class F>
  QSTEP_HD static float update(const StepConsts& c, float p, float g, const float (&)[kStreams],
                               const float (&s)[kStreams]) {
    return R::param(p - c.update_scale * (c.lr * (g / (sqrtf(s[0]) + c.eps))));
  }

  QSTEP_HD static float norm_term(const StepConsts&, const float (&)[kStreams]) { return 0.f; }
};

}  // namespace qstep
