// Types and constants defined once (house style 7): dtypes, state modes, optimizer kinds, block sizes, limits.
// The addon exports all of these to TypeScript; nothing here is retyped there.
#pragma once

#include <cstdint>

namespace qstep {

enum class DType : int32_t { F32 = 0, F16 = 1, BF16 = 2 };
enum class StateMode : int32_t { FP32 = 0, BLOCKWISE8 = 1, STATIC8 = 2 };

// Kernel families (docs/math.md §2). AdamW and LAMB run ADAM, SGD and LARS run MOMENTUM; LAMB/LARS add the trust ratio.
enum class OpKind : int32_t { ADAM = 0, LION = 1, MOMENTUM = 2, RMSPROP = 3, ADAGRAD = 4, ADEMAMIX = 5 };
constexpr int kNumOpKinds = 6;

constexpr int kMapSize = 256;
constexpr int64_t kDefaultBlockSize = 256;   // bnb >= 0.44 optimizers
constexpr int64_t kCompatBlockSize = 2048;   // bnb <= 0.43 checkpoints
constexpr int64_t kQuantizeBlockSizes[] = {64, 128, 256, 512, 1024, 2048, 4096};  // standalone quantizer (5.3)
constexpr int64_t kDefaultMin8bitSize = 4096;  // strict < (docs/math.md §3.3, T19)
constexpr int64_t kPagedMinElements = 100000;  // docs/math.md §14, T27
constexpr int kPercentileHistory = 100;        // docs/math.md §9
constexpr int kMaxDims = 8;                    // dimensions of a parameter's shape (the state is flat)
// Buffers in Node 20 stop at 4 GiB, but parameters live natively; 2^40 elements bounds every 64-bit product.
constexpr int64_t kMaxElements = int64_t(1) << 40;

inline int dtype_bytes(DType d) { return d == DType::F32 ? 4 : 2; }

// Hyperparameters of one step of one parameter, as the caller resolved them (docs/math.md §3.2). Plain values, passed by
// value to kernels (house style 4).
// The betas and alpha stay double as the caller gave them: AdEMAMix's schedule (docs/math.md §12) is computed in
// double on the given values; every other use rounds them to fp32 once, in make_consts.
struct Hyper {
  float lr = 1e-3f;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double beta3 = 0.0;
  double alpha = 0.0;
  float eps = 1e-8f;
  float weight_decay = 0.f;
  double t_alpha = 0;  // AdEMAMix schedulers (docs/math.md §12); 0 = off
  double t_beta3 = 0;
  bool skip_zeros = false;
  bool zero_v_guard = false;  // 8-bit second-moment floor (docs/math.md §19)
  float max_unorm = 0.f;  // LAMB/LARS (docs/math.md §11)
};

}  // namespace qstep
