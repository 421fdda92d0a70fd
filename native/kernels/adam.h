// Adam / AdamW / LAMB update (spec 6.1, 7.3; Kingma & Ba 2015; bnb kernel ADAM).
// Decoupled weight decay is applied AFTER the Adam step (spec T1): p = toT(toT(p - lr*u) * (1 - lr*wd)).
// eps is added as eps * sqrt(1 - beta2^t) to sqrt(v) (T4). update_scale is LAMB's capped trust ratio (spec 11).
#pragma once

#include <cmath>

#include "consts.h"
#include "qstep/hd.h"

namespace qstep {

struct AdamOp {
  static constexpr int kStreams = 2;                   // m (signed map), v (unsigned map)
  static constexpr bool kSigned[kStreams] = {true, false};
  static constexpr bool kCoupledDecay = false;
  static constexpr bool kSkipZeros = true;
  static constexpr bool kHasNormTerm = true;

  QSTEP_HD static void advance(const StepConsts& c, float g, float (&s)[kStreams]) {
    s[0] = s[0] * c.beta1 + c.one_m_beta1 * g;
    s[1] = s[1] * c.beta2 + c.one_m_beta2 * (g * g);
  }

  template <class R, class F>
  QSTEP_HD static float update(const StepConsts& c, float p, float, const float (&)[kStreams],
                               const float (&s)[kStreams]) {
    const float p_new = R::param(p + c.update_scale * c.step_size * (s[0] / (sqrtf(s[1]) + c.eps_c2)));
    return F::wd(c) ? R::param(p_new * c.decay) : p_new;
  }

  // LAMB's lr-free direction with bias-corrected moments (spec 11).
  QSTEP_HD static float norm_term(const StepConsts& c, const float (&s)[kStreams]) {
    return (s[0] * c.inv_bc1) / (sqrtf(s[1] * c.inv_bc2) + c.eps);
  }
};

}  // namespace qstep
