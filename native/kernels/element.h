// The per-element step shared by every state mode and both backends (house style 1-2).
//
// A traversal (native/formats/) loads one element, widens p and g to fp32, decodes the old state into fp32
// registers, calls element_step<Op, R>, and stores what comes back. `R` says where values are rounded to the
// parameter type T (docs/math.md §10): in fp32 state mode the scaled and the decayed gradient are stored back to T; in the
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
  static constexpr bool kQuantized = !kFp32State;  // the zero-v guard acts only on 8-bit state (docs/math.md §19)
};

QSTEP_HD float sign_of(float x) { return float(x > 0.f) - float(x < 0.f); }

// The run-time options an element step may meet. Dynamic reads them from StepConsts (selects on every element);
// Fixed<skip, wd> promises them at compile time, so that a CPU traversal can dispatch once per launch and g++
// vectorizes loops without selects on loop-invariant flags (it does not vectorize those for 16-bit types).
struct DynamicFlags {
  QSTEP_HD static bool skip(const StepConsts& c) { return c.skip_zeros; }
  QSTEP_HD static bool wd(const StepConsts& c) { return c.has_wd; }
};

template <bool kSkip, bool kWd>
struct FixedFlags {
  QSTEP_HD static bool skip(const StepConsts&) { return kSkip; }
  QSTEP_HD static bool wd(const StepConsts&) { return kWd; }
};

// Calls f(FixedFlags<...>{}) matching c: the one run-time branch, outside the loop.
template <class F>
void with_flags(const StepConsts& c, F&& f) {
  if (c.skip_zeros) {
    if (c.has_wd) f(FixedFlags<true, true>{});
    else f(FixedFlags<true, false>{});
  } else {
    if (c.has_wd) f(FixedFlags<false, true>{});
    else f(FixedFlags<false, false>{});
  }
}

// One element: s[] holds the decoded old state on entry and the new state on exit; returns the new parameter.
// skip_zeros (docs/math.md D5, our documented rule): an element whose raw gradient is exactly 0 keeps its parameter and
// its old state value, in every mode, for every optimizer that honours it (not AdEMAMix).
template <class Op, class R, class F = DynamicFlags>
QSTEP_HD float element_step(const StepConsts& c, float g_raw, float p, float (&s)[Op::kStreams]) {
  float old[Op::kStreams];
#pragma unroll
  for (int k = 0; k < Op::kStreams; ++k) old[k] = s[k];
  float g = R::grad(g_raw * c.gnorm_scale);
  if (Op::kCoupledDecay) g = F::wd(c) ? R::grad(g + p * c.wd) : g;
  Op::advance(c, g, s);
  const float p_new = Op::template update<R, F>(c, p, g, old, s);
  if (!Op::kSkipZeros) return p_new;
  const bool keep = F::skip(c) & (g_raw == 0.f);
  // A kept value is the old one, except that -0.0 becomes +0.0: fresh 8-bit state decodes as code[0] * 0 = -0.0
  // (docs/math.md §3.3, T13), which the sign fix (5.2) would store as a small negative; the state it stands for is 0.
#pragma unroll
  for (int k = 0; k < Op::kStreams; ++k) s[k] = keep ? old[k] + 0.f : s[k];
  return keep ? p : p_new;
}

// Squared contribution of one element to the update norm of LAMB/LARS (docs/math.md §11): the new state computed from the
// gnorm-scaled gradient without the weight-decay term; 0 for an element skip_zeros keeps.
template <class Op>
QSTEP_HD float element_norm_term(const StepConsts& c, float g_raw, const float (&s_old)[Op::kStreams]) {
  float s[Op::kStreams];
#pragma unroll
  for (int k = 0; k < Op::kStreams; ++k) s[k] = s_old[k];
  const float g = g_raw * c.gnorm_scale;
  Op::advance(c, g, s);
  const float u = Op::norm_term(c, s);
  // An element skip_zeros keeps adds nothing to the update norm (docs/math.md D13): it is not updated.
  const bool kept = Op::kSkipZeros & c.skip_zeros & (g_raw == 0.f);
  return kept ? 0.f : u * u;
}

}  // namespace qstep
