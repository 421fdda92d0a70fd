// SGD with momentum / LARS (docs/math.md §6.3, 7.5; bnb kernel MOMENTUM). Coupled L2 decay (g += wd * p). The buffer is
// set to the first gradient at t == 1 (T3); afterwards buf = momentum * buf + g (no dampening, no Nesterov).
// update_scale is LARS's capped trust ratio (docs/math.md §11). betas[0] is the momentum.
#pragma once

#include "consts.h"
#include "qstep/hd.h"

namespace qstep {

struct MomentumOp {
  static constexpr int kStreams = 1;
  static constexpr bool kSigned[kStreams] = {true};
  static constexpr bool kCoupledDecay = true;
  static constexpr bool kSkipZeros = true;
  static constexpr bool kHasNormTerm = true;
  // Traits read by the engine and exported to TypeScript (native/lib/optimizers.ts checks its table against them).
  static constexpr const char* kName = "momentum";  // the kernel family's name in the addon's opKinds
  static constexpr int kRows1 = 1;             // streams kept in state1; the rest in state2
  static constexpr bool kSchedules = false;      // alpha/beta3 warm-up schedulers (docs/math.md §12)
  static constexpr bool kZeroVGuard = false;     // divides a stored momentum by a second moment (§19)
  static constexpr bool kTrustAddsEps = true;   // trust-ratio threshold form (LARS adds eps; §11)

  QSTEP_HD static void advance(const StepConsts& c, float g, float (&s)[kStreams]) {
    s[0] = c.t == 1 ? g : s[0] * c.beta1 + g;
  }

  template <class R, class F>
  QSTEP_HD static float update(const StepConsts& c, float p, float, const float (&)[kStreams],
                               const float (&s)[kStreams]) {
    return R::param(p + c.update_scale * (-c.lr * s[0]));
  }

  // LARS: the norm of the new buffer (computed without the decay term).
  QSTEP_HD static float norm_term(const StepConsts&, const float (&s)[kStreams]) { return s[0]; }
};

}  // namespace qstep
