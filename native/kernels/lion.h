// Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"; docs/math.md §6.4, 7.5; bnb kernel LION).
// Decoupled decay BEFORE the sign step in every mode (bnb 0.50). The step direction interpolates with beta1; the
// stored EMA uses beta2 and is updated after the parameter (T5). sign(0) = 0. eps is unused.
#pragma once

#include "consts.h"
#include "element.h"
#include "qstep/hd.h"

namespace qstep {

struct LionOp {
  static constexpr int kStreams = 1;
  static constexpr bool kSigned[kStreams] = {true};
  static constexpr bool kCoupledDecay = false;
  static constexpr bool kSkipZeros = true;
  static constexpr bool kHasNormTerm = false;
  // Traits read by the engine and exported to TypeScript (native/lib/optimizers.ts checks its table against them).
  static constexpr const char* kName = "lion";  // the kernel family's name in the addon's opKinds
  static constexpr int kRows1 = 1;             // streams kept in state1; the rest in state2
  static constexpr bool kSchedules = false;      // alpha/beta3 warm-up schedulers (docs/math.md §12)
  static constexpr bool kZeroVGuard = false;     // divides a stored momentum by a second moment (§19)
  static constexpr bool kTrustAddsEps = false;   // trust-ratio threshold form (LARS adds eps; §11)

  QSTEP_HD static void advance(const StepConsts& c, float g, float (&s)[kStreams]) {
    s[0] = s[0] * c.beta2 + c.one_m_beta2 * g;
  }

  template <class R, class F>
  QSTEP_HD static float update(const StepConsts& c, float p, float g, const float (&old)[kStreams],
                               const float (&)[kStreams]) {
    p = F::wd(c) ? R::param(p * c.decay) : p;
    const float u = R::lion_step(c.update_scale * (c.lr * sign_of(old[0] * c.beta1 + c.one_m_beta1 * g)));
    return R::param(p - u);
  }

  QSTEP_HD static float norm_term(const StepConsts&, const float (&)[kStreams]) { return 0.f; }
};

}  // namespace qstep
