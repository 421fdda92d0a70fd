// AdEMAMix (Pagliardini, Ablin, Grangier 2024, "The AdEMAMix Optimizer"; docs/math.md §6.2, 7.4, 12). Three EMAs: fast m1
// (beta1, bias-corrected), slow m2 (beta3, not corrected), nu (beta2). alpha and beta3 arrive already scheduled
// (consts.h). Decoupled decay after the step. skip_zeros as every optimizer (D13); no update_scale. Streams: m1 = state1 row 0,
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
  static constexpr bool kSkipZeros = true;  // docs/math.md D13: every optimizer, AdEMAMix included
  static constexpr bool kHasNormTerm = false;
  // Traits read by the engine and exported to TypeScript (native/lib/optimizers.ts checks its table against them).
  static constexpr const char* kName = "ademamix";  // the kernel family's name in the addon's opKinds
  static constexpr int kRows1 = 2;             // streams kept in state1; the rest in state2
  static constexpr bool kSchedules = true;      // alpha/beta3 warm-up schedulers (docs/math.md §12)
  static constexpr bool kZeroVGuard = true;     // divides a stored momentum by a second moment (§19)
  static constexpr bool kTrustAddsEps = false;   // trust-ratio threshold form (LARS adds eps; §11)

  QSTEP_HD static void advance(const StepConsts& c, float g, float (&s)[kStreams]) {
    s[0] = s[0] * c.beta1 + c.one_m_beta1 * g;
    s[1] = s[1] * c.beta3 + c.one_m_beta3 * g;
    s[2] = s[2] * c.beta2 + c.one_m_beta2 * (g * g);
  }

  template <class R, class F>
  QSTEP_HD static float update(const StepConsts& c, float p, float, const float (&old)[kStreams],
                               const float (&s)[kStreams]) {
    const float sv = sqrtf(s[2]);
    const float m1 = R::kQuantized ? capped_m(s[0], old[2], sv, c.zv_r1) : s[0];  // zero-v guard (docs/math.md §19)
    const float m2 = R::kQuantized ? capped_m(s[1], old[2], sv, c.zv_r3) : s[1];
    const float p_new = R::param(p - c.lr * ((m1 / c.c1 + c.alpha * m2) / (sv / c.c2 + c.eps)));
    return F::wd(c) ? R::param(p_new * c.decay) : p_new;
  }

  QSTEP_HD static float norm_term(const StepConsts&, const float (&)[kStreams]) { return 0.f; }
};

}  // namespace qstep
