// The per-element step shared by every state mode and both backends (house style 1-2).
//
// A traversal (native/formats/) loads one element, widens p and g to fp32, decodes the old state into fp32
// registers, calls element_step<Op, R>, and stores what comes back. `R` says where values are rounded to the
// parameter type T (spec 10): in fp32 state mode the scaled and the decayed gradient are stored back to T; in the
// 8-bit modes the gradient stays an fp32 local and only Lion's step lr*sign(...) is rounded to T. Parameters are
// rounded after every assignment in both.
#pragma once

#include "consts.h"
#include "qstep/dtype.h"
#include "qstep/hd.h"

namespace qstep {

template <typename T, bool kFp32State>
struct Rounding {
  QSTEP_HD static float param(float x) { return round_to<T>(x); }
  QSTEP_HD static float grad(float x) { return kFp32State ? round_to<T>(x) : x; }
  QSTEP_HD static float lion_step(float x) { return kFp32State ? x : round_to<T>(x); }
};

QSTEP_HD float sign_of(float x) { return float(x > 0.f) - float(x < 0.f); }

// One element: s[] holds the decoded old state on entry and the new state on exit; returns the new parameter.
// skip_zeros (spec D5, our documented rule): an element whose raw gradient is exactly 0 keeps its parameter and
// its old state value, in every mode, for every optimizer that honours it (not AdEMAMix).
//
// Run-time options are selects, not branches, so that CPU loops stay vectorizable. kMaySkip = false promises that
// c.skip_zeros is off and drops its selects (a traversal may dispatch on the flag once per launch).
template <class Op, class R, bool kMaySkip = true>
QSTEP_HD float element_step(const StepConsts& c, float g_raw, float p, float (&s)[Op::kStreams]) {
  float old[Op::kStreams];
#pragma unroll
  for (int k = 0; k < Op::kStreams; ++k) old[k] = s[k];
  float g = R::grad(g_raw * c.gnorm_scale);
  if (Op::kCoupledDecay) g = c.has_wd ? R::grad(g + p * c.wd) : g;
  Op::advance(c, g, s);
  const float p_new = Op::template update<R>(c, p, g, old, s);
  if (!Op::kSkipZeros || !kMaySkip) return p_new;
  const bool keep = c.skip_zeros & (g_raw == 0.f);
  // A kept value is the old one, except that -0.0 becomes +0.0: fresh 8-bit state decodes as code[0] * 0 = -0.0
  // (spec 3.3, T13), which the sign fix (5.2) would store as a small negative; the state it stands for is 0.
#pragma unroll
  for (int k = 0; k < Op::kStreams; ++k) s[k] = keep ? old[k] + 0.f : s[k];
  return keep ? p : p_new;
}

// Squared contribution of one element to the update norm of LAMB/LARS (spec 11): the new state computed from the
// gnorm-scaled gradient without the weight-decay term.
template <class Op>
QSTEP_HD float element_norm_term(const StepConsts& c, float g_raw, const float (&s_old)[Op::kStreams]) {
  float s[Op::kStreams];
#pragma unroll
  for (int k = 0; k < Op::kStreams; ++k) s[k] = s_old[k];
  const float g = g_raw * c.gnorm_scale;
  Op::advance(c, g, s);
  const float u = Op::norm_term(c, s);
  return u * u;
}

}  // namespace qstep
