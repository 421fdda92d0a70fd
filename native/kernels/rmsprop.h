// RMSprop (Tieleman & Hinton 2012; docs/math.md §6.5; bnb kernel RMSPROP). betas[0] is alpha. Coupled L2 decay, in the
// state AND in the numerator in every mode (docs/math.md D8: bnb's 8-bit kernel uses the raw gradient in the numerator;
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
  // Traits read by the engine and exported to TypeScript (native/lib/optimizers.ts checks its table against them).
  static constexpr const char* kName = "rmsprop";  // the kernel family's name in the addon's opKinds
  static constexpr int kRows1 = 1;             // streams kept in state1; the rest in state2
  static constexpr bool kSchedules = false;      // alpha/beta3 warm-up schedulers (docs/math.md §12)
  static constexpr bool kZeroVGuard = false;     // divides a stored momentum by a second moment (§19)
  static constexpr bool kTrustAddsEps = false;   // trust-ratio threshold form (LARS adds eps; §11)

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
