// Maps the run-time optimizer kind to its Op type: the one switch in the native code (backends call it once per
// launch, never inside a kernel).
#pragma once

#include "adagrad.h"
#include "adam.h"
#include "ademamix.h"
#include "lion.h"
#include "momentum.h"
#include "rmsprop.h"
#include "qstep/types.h"

namespace qstep {

template <class F>
auto with_op(OpKind k, F&& f) {
  switch (k) {
    case OpKind::ADAM: return f(AdamOp{});
    case OpKind::LION: return f(LionOp{});
    case OpKind::MOMENTUM: return f(MomentumOp{});
    case OpKind::RMSPROP: return f(RmspropOp{});
    case OpKind::ADAGRAD: return f(AdagradOp{});
    case OpKind::ADEMAMIX: return f(AdemamixOp{});
  }
  return f(AdamOp{});
}

template <class F>
auto with_dtype(DType d, F&& f) {
  switch (d) {
    case DType::F16: return f(f16{});
    case DType::BF16: return f(bf16{});
    case DType::F32: break;
  }
  return f(float{});
}

inline int op_streams(OpKind k) {
  return with_op(k, [](auto op) { return decltype(op)::kStreams; });
}

inline int op_rows1(OpKind k) {
  return with_op(k, [](auto op) { return decltype(op)::kRows1; });
}

// Whether the family can take LAMB/LARS's trust ratio (it has an update-norm term, docs/math.md §11).
inline bool op_trust(OpKind k) {
  return with_op(k, [](auto op) { return decltype(op)::kHasNormTerm; });
}

// The trust-ratio threshold form of the family: LARS's adds eps, LAMB's does not (§11).
inline bool op_trust_adds_eps(OpKind k) {
  return with_op(k, [](auto op) { return decltype(op)::kTrustAddsEps; });
}

inline StepConsts make_consts(OpKind k, const Hyper& h, int32_t t) {
  return with_op(k, [&](auto op) { return make_consts<decltype(op)>(h, t); });
}

}  // namespace qstep
