// AdEMAMix (Pagliardini, Ablin, Grangier 2024, "The AdEMAMix Optimizer"; spec 6.2, 7.4, 12). Three EMAs: fast m1
// (beta1, bias-corrected), slow m2 (beta3, not corrected), nu (beta2). alpha and beta3 arrive already scheduled
// (consts.h). Decoupled decay after the step. No skip_zeros, no update_scale. Streams: m1 = state1 row 0,
// m2 = state1 row 1 (both signed map), nu = state2 (unsigned map); 8-bit scales use the intended layout (D6).
#pragma once

#include <cmath>

#include "consts.h"
#include "qstep/hd.h"

namespace qstep {

struct AdemamixOp {
  static constexpr int kStreams = 3;
  static constexpr bool kSigned[kStreams] = {true, true, false};
  static constexpr bool kCoupledDecay = false;
  static constexpr bool kSkipZeros = false;
  static constexpr bool kHasNormTerm = false;

  QSTEP_HD static void advance(const StepConsts& c, float g, float (&s)[kStreams]) {
    s[0] = s[0] * c.beta1 + c.one_m_beta1 * g;
    s[1] = s[1] * c.beta3 + c.one_m_beta3 * g;
    s[2] = s[2] * c.beta2 + c.one_m_beta2 * (g * g);
  }

  template <class R, class F>
  QSTEP_HD static float update(const StepConsts& c, float p, float, const float (&)[kStreams],
                               const float (&s)[kStreams]) {
    const float p_new = R::param(p - c.lr * ((s[0] / c.c1 + c.alpha * s[1]) / (sqrtf(s[2]) / c.c2 + c.eps)));
    return F::wd(c) ? R::param(p_new * c.decay) : p_new;
  }

  QSTEP_HD static float norm_term(const StepConsts&, const float (&)[kStreams]) { return 0.f; }
};

}  // namespace qstep
