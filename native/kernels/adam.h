// Adam / AdamW / LAMB update (docs/math.md §6.1, 7.3; Kingma & Ba 2015; bnb kernel ADAM).
// Decoupled weight decay is applied AFTER the Adam step (docs/math.md T1): p = toT(toT(p - lr*u) * (1 - lr*wd)).
// eps is added as eps * sqrt(1 - beta2^t) to sqrt(v) (T4). update_scale is LAMB's capped trust ratio (docs/math.md §11).
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
  // Traits read by the engine and exported to TypeScript (native/lib/optimizers.ts checks its table against them).
  static constexpr const char* kName = "adam";  // the kernel family's name in the addon's opKinds
  static constexpr int kRows1 = 1;             // streams kept in state1; the rest in state2
  static constexpr bool kSchedules = false;      // alpha/beta3 warm-up schedulers (docs/math.md §12)
  static constexpr bool kZeroVGuard = true;     // divides a stored momentum by a second moment (§19)
  static constexpr bool kTrustAddsEps = false;   // trust-ratio threshold form (LARS adds eps; §11)

  QSTEP_HD static void advance(const StepConsts& c, float g, float (&s)[kStreams]) {
    s[0] = s[0] * c.beta1 + c.one_m_beta1 * g;
    s[1] = s[1] * c.beta2 + c.one_m_beta2 * (g * g);
  }

  template <class R, class F>
  QSTEP_HD static float update(const StepConsts& c, float p, float, const float (&old)[kStreams],
                               const float (&s)[kStreams]) {
    const float sv = sqrtf(s[1]);
    const float m = R::kQuantized ? capped_m(s[0], old[1], sv, c.zv_r1) : s[0];  // zero-v guard (docs/math.md §19)
    const float p_new = R::param(p + c.update_scale * c.step_size * (m / (sv + c.eps_c2)));
    return F::wd(c) ? R::param(p_new * c.decay) : p_new;
  }

  // LAMB's lr-free direction with bias-corrected moments (docs/math.md §11).
  QSTEP_HD static float norm_term(const StepConsts& c, const float (&s)[kStreams]) {
    return (s[0] * c.inv_bc1) / (sqrtf(s[1] * c.inv_bc2) + c.eps);
  }
};

}  // namespace qstep
