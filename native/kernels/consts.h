// Per-step constants of one parameter: the hyperparameters plus the quantities every element would otherwise
// recompute (bias corrections, decay factors). Built on the host once per step, passed by value to the
// traversals on both backends, so CPU and CUDA use identical constants.
#pragma once

#include <cmath>
#include <cstdint>

#include "qstep/types.h"

namespace qstep {

struct StepConsts {
  int32_t t;           // 1-based step counter of this parameter (spec 3.4)
  float lr, beta1, beta2, beta3, alpha, eps, wd;
  float one_m_beta1, one_m_beta2, one_m_beta3;
  float c1;            // 1 - beta1^t
  float c2;            // sqrt(1 - beta2^t)
  float step_size;     // Adam: -lr * c2 / c1 (spec 6.1)
  float eps_c2;        // Adam: eps * c2 (T4)
  float inv_bc1;       // LAMB norm term: 1 / (1 - beta1^t) (spec 11)
  float inv_bc2;       // LAMB norm term: 1 / (1 - beta2^t)
  float decay;         // decoupled decay factor 1 - lr * wd
  bool has_wd;
  bool skip_zeros;
  float gnorm_scale;   // percentile clipping (spec 9); 1 when off
  float update_scale;  // LAMB/LARS trust ratio (spec 11); 1 when off
};

// AdEMAMix schedulers (spec 12), in double on the host as bnb does, then handed to the kernel as fp32.
inline void ademamix_schedule(const Hyper& h, int32_t t, double& alpha, double& beta3) {
  alpha = h.alpha;
  beta3 = h.beta3;
  if (h.t_alpha > 0) alpha = std::fmin(double(t) * h.alpha / h.t_alpha, double(h.alpha));
  if (h.t_beta3 > 0) {
    const double s = double(t) / h.t_beta3;
    const double lb1 = std::log(double(h.beta1)), lb3 = std::log(double(h.beta3));
    beta3 = std::fmin(std::exp(lb1 * lb3 / ((1.0 - s) * lb3 + s * lb1)), double(h.beta3));
  }
}

inline StepConsts make_consts(OpKind op, const Hyper& h, int32_t t) {
  StepConsts c{};
  c.t = t;
  c.lr = h.lr;
  c.beta1 = h.beta1;
  c.beta2 = h.beta2;
  c.beta3 = h.beta3;
  c.alpha = h.alpha;
  c.eps = h.eps;
  c.wd = h.weight_decay;
  if (op == OpKind::ADEMAMIX) {
    double a, b3;
    ademamix_schedule(h, t, a, b3);
    c.alpha = float(a);
    c.beta3 = float(b3);
  }
  c.one_m_beta1 = 1.f - c.beta1;
  c.one_m_beta2 = 1.f - c.beta2;
  c.one_m_beta3 = 1.f - c.beta3;
  const double bc1 = 1.0 - std::pow(double(h.beta1), t);
  const double bc2 = 1.0 - std::pow(double(h.beta2), t);
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
  return c;
}

}  // namespace qstep
