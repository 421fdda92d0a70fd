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

}  // namespace qstep
