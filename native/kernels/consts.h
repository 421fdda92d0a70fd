// Per-step constants of one parameter: the hyperparameters plus the quantities every element would otherwise
// recompute (bias corrections, decay factors). Built on the host once per step, passed by value to the
// traversals on both backends, so CPU and CUDA use identical constants.
#pragma once

#include <cmath>
#include <cstdint>

#include "qstep/hd.h"
#include "qstep/types.h"

namespace qstep {

struct StepConsts {
  int32_t t;           // 1-based step counter of this parameter (docs/math.md §3.4)
  float lr, beta1, beta2, beta3, alpha, eps, wd;
  float one_m_beta1, one_m_beta2, one_m_beta3;
  float c1;            // 1 - beta1^t
  float c2;            // sqrt(1 - beta2^t)
  float step_size;     // Adam: -lr * c2 / c1 (docs/math.md §6.1)
  float eps_c2;        // Adam: eps * c2 (T4)
  float inv_bc1;       // LAMB norm term: 1 / (1 - beta1^t) (docs/math.md §11)
  float inv_bc2;       // LAMB norm term: 1 / (1 - beta2^t)
  float decay;         // decoupled decay factor 1 - lr * wd
  bool has_wd;
  bool skip_zeros;
  float gnorm_scale;   // percentile clipping (docs/math.md §9); 1 when off
  float update_scale;  // LAMB/LARS trust ratio (docs/math.md §11); 1 when off
  // Zero-v guard (docs/math.md §19): in 8-bit modes, where the old second moment decoded to 0, the momentum an
  // update uses is capped at |m| <= sqrt(v) * zv_r, the bound 32-bit state always satisfies (zv_r1 for m1, zv_r3
  // for AdEMAMix's m2). +inf when the guard is off, which leaves every result bit-identical (capped_m returns m).
  float zv_r1;
  float zv_r3;
};

// Cauchy-Schwarz bound of an EMA momentum by its second moment: with m_t = (1-b) sum b^(t-k) g_k and
// v_t = (1-b2) sum b2^(t-k) g_k^2, m_t^2 <= (1-b)^2 S / (1-b2) * v_t where S = sum_{j<t} (b^2/b2)^j. Returns
// r = (1-b) sqrt(S / (1-b2)), so that |m_t| <= r sqrt(v_t) (docs/math.md §19). Skipped elements have seen fewer
// terms, and S only grows with t, so the bound holds for them too.
// The bound is met with equality by state built from one gradient (t = 1, or an element whose earlier gradients
// were all 0); the factor 1 + 2^-8 keeps fp32 rounding of such state from ever reaching the cap.
inline double zero_v_ratio(double b, double b2, int32_t t) {
  const double q = b * b / b2;
  const double s = std::fabs(q - 1.0) < 1e-12 ? double(t) : (std::pow(q, t) - 1.0) / (q - 1.0);
  const double r = (1.0 + 1.0 / 256) * (1.0 - b) * std::sqrt(s / (1.0 - b2));
  return std::isfinite(r) ? r : HUGE_VAL;
}

// The momentum an 8-bit update uses: m, except where the old second moment decoded to exactly 0 (it fell below
// its block's smallest code) and the new one cannot hold m (sqrt(v_new) * r < |m|): then the largest momentum it
// can hold, with m's sign. Consistent state is never touched, so the guard changes only the hazard. r = +inf
// (guard off): the product is +inf or NaN (v = 0), the compare is false and m comes back unchanged, bit for bit.
// Written as selects rather than branches and fminf so that g++ vectorizes it.
QSTEP_HD float capped_m(float m, float v_old, float sqrt_v, float r) {
  const float cap = sqrt_v * r;
  return (v_old == 0.f) & (cap < fabsf(m)) ? copysignf(cap, m) : m;
}

// AdEMAMix schedulers (docs/math.md §12), in double on the betas and alpha as the caller gave them (not their fp32
// roundings: beta3 after one step of t_beta3 = 100 is 0.990900162 from the given 0.9 and 0.9999, 0.990898788 from
// their floats), then handed to the kernel as fp32.
inline void ademamix_schedule(const Hyper& h, int32_t t, double& alpha, double& beta3) {
  alpha = h.alpha;
  beta3 = h.beta3;
  if (h.t_alpha > 0) alpha = std::fmin(double(t) * h.alpha / h.t_alpha, h.alpha);
  if (h.t_beta3 > 0) {
    const double s = double(t) / h.t_beta3;
    const double lb1 = std::log(h.beta1), lb3 = std::log(h.beta3);
    beta3 = std::fmin(std::exp(lb1 * lb3 / ((1.0 - s) * lb3 + s * lb1)), h.beta3);
  }
}

// The constants of one step for Op (its traits say whether it schedules, whether the zero-v guard applies).
// Betas other than the schedule's are rounded to fp32 first, as bnb hands them to its kernels.
template <class Op>
inline StepConsts make_consts(const Hyper& h, int32_t t) {
  StepConsts c{};
  c.t = t;
  c.lr = h.lr;
  c.beta1 = float(h.beta1);
  c.beta2 = float(h.beta2);
  c.beta3 = float(h.beta3);
  c.alpha = float(h.alpha);
  c.eps = h.eps;
  c.wd = h.weight_decay;
  if constexpr (Op::kSchedules) {
    double a, b3;
    ademamix_schedule(h, t, a, b3);
    c.alpha = float(a);
    c.beta3 = float(b3);
  }
  c.one_m_beta1 = 1.f - c.beta1;
  c.one_m_beta2 = 1.f - c.beta2;
  c.one_m_beta3 = 1.f - c.beta3;
  const double bc1 = 1.0 - std::pow(double(c.beta1), t);
  const double bc2 = 1.0 - std::pow(double(c.beta2), t);
  c.c1 = float(bc1);
  c.c2 = float(std::sqrt(bc2));
  c.step_size = float(-double(h.lr) * std::sqrt(bc2) / bc1);
  c.eps_c2 = c.eps * c.c2;
  c.inv_bc1 = float(1.0 / bc1);
  c.inv_bc2 = float(1.0 / bc2);
  c.decay = 1.f - h.lr * h.weight_decay;
  c.has_wd = h.weight_decay > 0.f;
  c.skip_zeros = h.skip_zeros;
  c.gnorm_scale = 1.f;
  c.update_scale = 1.f;
  c.zv_r1 = HUGE_VALF;
  c.zv_r3 = HUGE_VALF;
  if constexpr (Op::kZeroVGuard) {
    if (h.zero_v_guard) {
      c.zv_r1 = float(zero_v_ratio(c.beta1, c.beta2, t));
      if constexpr (Op::kStreams == 3) c.zv_r3 = float(zero_v_ratio(c.beta3, c.beta2, t));
    }
  }
  return c;
}

}  // namespace qstep
