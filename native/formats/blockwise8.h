// blockwise8 state mode (docs/math.md §7): per block of B elements (256, or 2048 for old checkpoints), decode with the old
// absmax, run the element step, take the new absmax as the exact max |new state| of the block (padded lanes of a
// partial last block included, 7.6), update the parameter from the unquantized new state, then re-encode against
// the new absmax with the nearest-code rule and the sign fix for signed streams. No cross-block communication.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "../kernels/element.h"
#include "element_block.h"
#include "f16c.h"
#include "fast_quantizer.h"
#include "state_view.h"

namespace qstep {

// Codes of padded lanes (7.6): signed streams 128, unsigned 0; g = 0, p = 0.
template <class Op>
void blockwise8_pad_max(const StepConsts& c, const StateView& v, int64_t b, float (&mx)[Op::kStreams]) {
  using R = Rounding<float, false>;
  float s[Op::kStreams];
  for (int k = 0; k < Op::kStreams; ++k) {
    s[k] = v.cb[k]->code[Op::kSigned[k] ? 128 : 0] * v.scales[k][b];
  }
  element_step<Op, R>(c, 0.f, 0.f, s);
  for (int k = 0; k < Op::kStreams; ++k) mx[k] = fmaxf(mx[k], fabsf(s[k]));
}

// How far ahead (elements) both forms ask for their inputs: two groups. At 16M parameters the hardware prefetchers
// alone leave the step waiting on memory, its time close to the sum of the loop's time on cached data and the
// transfer's; one L2 prefetch per cache line of p, g and codes this far ahead lets the two overlap (bench:cpu8,
// docs/engine.md). Into L2, not L1: L1 holds the step tables' hot entries and the scratch (a T0 hint measured
// slower).
constexpr int64_t kPrefetchAhead = 2048;

// The cache lines of p, g and every stream's codes `ahead` elements past offset o, o a multiple of 16: each line
// once (fp32 every 16 elements, 16-bit every 32, codes every 64). `ahead` is 0 near the parameter's end, where it
// re-touches lines already in cache.
template <int K, typename P, typename G>
inline __attribute__((always_inline)) void prefetch_ahead(const P* p, const G* g, const uint8_t* const* codes,
                                                          int64_t o, int64_t ahead) {
  // __builtin_prefetch(a, 0, 2): a read into L2 (x86 prefetcht1).
  if (((o * int64_t(sizeof(P))) & 63) == 0) __builtin_prefetch(p + o + ahead, 0, 2);
  if (((o * int64_t(sizeof(G))) & 63) == 0) __builtin_prefetch(g + o + ahead, 0, 2);
  if ((o & 63) == 0) {
    for (int k = 0; k < K; ++k) __builtin_prefetch(codes[k] + o + ahead, 0, 2);
  }
}

// Blocks per pass of blockwise8_update: enough elements (1024) that the per-pass costs (loop set-up, the decoder's
// tables) are spread thin, few enough that the scratch stays in L1.
inline int64_t blockwise8_group(int64_t block) { return block >= 1024 ? 1 : 1024 / block; }

// Floats of scratch blockwise8_update needs: the decoded states of two groups (the pipelined form works on two).
inline int64_t blockwise8_scratch(int64_t block) { return 6 * block * blockwise8_group(block); }

// The AVX2 form. Blocks [b0, b1), a group of blocks per pass: decode the codes of every stream, run the element
// math over the whole group (vectorized like the fp32 mode; 64 elements per call, between prefetches), take each
// block's new scales, encode against them. `prefetch` as in the pipelined form.
template <class Op, typename T>
void blockwise8_update_grouped(const StepConsts& c, raw_t<T>* __restrict p, const raw_t<T>* __restrict g,
                               const StateView& v, const FastQuantizer* const* fq, int64_t b0, int64_t b1,
                               float* scratch, int64_t prefetch = kPrefetchAhead) {
  constexpr int K = Op::kStreams;
  const int64_t B = v.block, G = blockwise8_group(B), S = B * G;  // S: scratch floats per stream
  for (int64_t b = b0; b < b1; b += G) {
    const int64_t nb = b + G <= b1 ? G : b1 - b;
    const int64_t start = b * B;
    const int64_t len = (start + nb * B <= v.n) ? nb * B : v.n - start;
    for (int k = 0; k < K; ++k) fq[k]->decode_blocks(v.codes[k] + start, len, v.scales[k] + b, B, scratch + k * S);
    const uint8_t* codes[K];
    for (int k = 0; k < K; ++k) codes[k] = v.codes[k] + start;
    const int64_t ahead = start + len + prefetch <= v.n ? prefetch : 0;
    with_flags(c, [&](auto f) {
      for (int64_t o = 0; o < len; o += 64) {
        for (int64_t q = o; q < o + 64; q += 16) prefetch_ahead<K>(p + start, g + start, codes, q, ahead);
        const int64_t n = len - o < 64 ? len - o : 64;
#if defined(__F16C__)
        if constexpr (std::is_same_v<T, f16>) {  // conversions in hardware (f16c.h)
          with_widened_f16(p + start + o, g + start + o, n, [&](float* pw, const float* gw) {
            math_block<Op, float, decltype(f), f16>(c, pw, gw, scratch + o, scratch + S + o, scratch + 2 * S + o, n);
          });
          continue;
        }
#endif
        math_block<Op, T, decltype(f)>(c, p + start + o, g + start + o, scratch + o, scratch + S + o,
                                       scratch + 2 * S + o, n);
      }
    });
    for (int64_t i = 0; i < nb; ++i) {
      const int64_t off = i * B, n = len - off < B ? len - off : B;
      float mx[K];
      for (int k = 0; k < K; ++k) mx[k] = abs_max(scratch + k * S + off, n);
      if (n < B) blockwise8_pad_max<Op>(c, v, b + i, mx);
      for (int k = 0; k < K; ++k) v.scales[k][b + i] = mx[k];
    }
    for (int k = 0; k < K; ++k) {
      fq[k]->encode_blocks(scratch + k * S, len, v.scales[k] + b, B, Op::kSigned[k], v.codes[k] + start);
    }
  }
}

#if defined(QSTEP_HAVE_AVX512_PATH)

// See simd512.h: g++ 12 warns about its own intrinsics' undefined pass-through operands.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// The pipelined form keeps per-block constants of the previous group in fixed arrays of this many blocks.
constexpr int64_t kPipelinedMaxGroup = 4;  // blockwise8_group(256)

// acc = max(acc, |x|) lane-wise, ignoring NaN as fmaxf does (and the CUDA kernel): the accumulator is maxps's second
// operand, which a NaN first operand never displaces.
QSTEP_AVX512 inline __attribute__((always_inline)) __m512 max_abs(__m512 acc, __m512 x) {
  return _mm512_max_ps(_mm512_and_ps(x, _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff))), acc);
}

// 16 elements of the element math: math_block inlined with a constant length, which g++ vectorizes as one block of
// straight-line code for the AVX-512 target.
template <class Op, typename T, class F>
QSTEP_AVX512 inline __attribute__((always_inline)) void math16(const StepConsts& c, raw_t<T>* __restrict pb,
                                                             const raw_t<T>* __restrict gb, float* __restrict d0,
                                                             float* __restrict d1, float* __restrict d2) {
  math_block<Op, T, F>(c, pb, gb, d0, d1, d2, 16);
}

// One full block of the pipelined form (below) when every lane is live and the previous group's block, if any,
// goes through the step table: no masks, no branches in the loop.
template <class Op, typename T, class F, bool kPrev>
QSTEP_AVX512 inline __attribute__((always_inline)) void pipelined_full_block(
    const StepConsts& c, raw_t<T>* __restrict p, const raw_t<T>* __restrict g, float* __restrict cur,
    const float* __restrict prev, int64_t S, int64_t B, const uint32_t* const* table, const __m512* vinv,
    uint8_t* const* out, __m512* mx, const uint8_t* const* codes, int64_t ahead) {
  constexpr int K = Op::kStreams;
  for (int64_t o = 0; o < B; o += 16) {
    prefetch_ahead<K>(p, g, codes, o, ahead);
    math16<Op, T, F>(c, p + o, g + o, cur + o, cur + S + o, cur + 2 * S + o);
    for (int k = 0; k < K; ++k) mx[k] = max_abs(mx[k], _mm512_loadu_ps(cur + k * S + o));
    if constexpr (kPrev) {
      for (int k = 0; k < K; ++k) encode16_avx512<false>(table[k], prev + k * S + o, 0xffff, vinv[k], out[k] + o);
    }
  }
}

// The AVX-512 form, software-pipelined: the element math is bound by the divider (square root and division), the
// encode by gathers, and run one after the other they cannot overlap. Here each group's element math runs 16
// elements at a time interleaved with the encode of the same offsets of the previous group, whose scales are
// known by then, so both units work at once (bench:cpu8, docs/engine.md). Decoding stays a pass of its own per
// group (shuffles). Same bytes as the grouped form: the same functions on the same values, in another order.
// `prefetch`: how far ahead full blocks ask for their inputs (kPrefetchAhead; 0 for none, which bench:cpu8 compares).
template <class Op, typename T, class F>
QSTEP_AVX512 void blockwise8_update_pipelined(const StepConsts& consts, raw_t<T>* __restrict p,
                                              const raw_t<T>* __restrict g, const StateView& v,
                                              const FastQuantizer* const* fq, int64_t b0, int64_t b1,
                                              float* scratch, int64_t prefetch = kPrefetchAhead) {
  // A local copy: the codes are stored through uint8_t pointers, which may alias anything, so with a reference
  // g++ reloads and re-broadcasts every constant after each store (7 extra operations per 16 elements).
  const StepConsts c = consts;
  constexpr int K = Op::kStreams;
  const int64_t B = v.block, G = blockwise8_group(B), S = B * G;
  const uint32_t* table[K];
  for (int k = 0; k < K; ++k) table[k] = fq[k]->step_table(Op::kSigned[k]);
  float* cur = scratch;
  float* prev = scratch + 3 * S;
  // The previous group, whose codes are still to be written: first block, elements, and per block and stream the
  // scale, its reciprocal and whether the step table applies.
  int64_t pb = 0, plen = 0;
  float pscale[K][kPipelinedMaxGroup], pinv[K][kPipelinedMaxGroup];
  bool ptable[K][kPipelinedMaxGroup];
  for (int64_t b = b0;; b += G) {
    const bool have = b < b1;
    const int64_t nb = !have ? 0 : b + G <= b1 ? G : b1 - b;
    const int64_t start = b * B;
    const int64_t len = !have ? 0 : (start + nb * B <= v.n) ? nb * B : v.n - start;
    for (int k = 0; k < K; ++k) {
      if (have) fq[k]->decode_blocks(v.codes[k] + start, len, v.scales[k] + b, B, cur + k * S);
    }
    for (int64_t i = 0; i < G; ++i) {
      const int64_t bo = i * B;
      const int64_t cl = len - bo <= 0 ? 0 : len - bo < B ? len - bo : B;     // this group's elements in block i
      const int64_t pl = plen - bo <= 0 ? 0 : plen - bo < B ? plen - bo : B;  // the previous group's
      if (cl == 0 && pl == 0) break;
      __m512 mx[K], vinv[K];
      uint8_t* out[K];
      bool tables = true;
      for (int k = 0; k < K; ++k) {
        mx[k] = _mm512_setzero_ps();
        vinv[k] = _mm512_set1_ps(pl > 0 ? pinv[k][i] : 0.f);
        out[k] = v.codes[k] + pb * B + bo;
        tables = tables && (pl == 0 || ptable[k][i]);
      }
      const int64_t span = cl > pl ? cl : pl;
      const uint8_t* codes[K];
      for (int k = 0; k < K; ++k) codes[k] = v.codes[k] + start + bo;
      const int64_t ahead = start + bo + B + prefetch <= v.n ? prefetch : 0;
      if (cl == B && pl == B && tables) {
        pipelined_full_block<Op, T, F, true>(c, p + start + bo, g + start + bo, cur + bo, prev + bo, S, B, table,
                                             vinv, out, mx, codes, ahead);
      } else if (cl == B && pl == 0) {
        pipelined_full_block<Op, T, F, false>(c, p + start + bo, g + start + bo, cur + bo, prev + bo, S, B, table,
                                              vinv, out, mx, codes, ahead);
      } else {
        for (int64_t o = bo; o < bo + span; o += 16) {
          const int64_t cn = bo + cl - o, pn = bo + pl - o;  // elements left in this block, in each group
          if (cn >= 16) {
            math16<Op, T, F>(c, p + start + o, g + start + o, cur + o, cur + S + o, cur + 2 * S + o);
          } else if (cn > 0) {
            math_block<Op, T, F>(c, p + start + o, g + start + o, cur + o, cur + S + o, cur + 2 * S + o, cn);
          }
          if (cn > 0) {
            const __mmask16 live = lanes16(cn);
            for (int k = 0; k < K; ++k) mx[k] = max_abs(mx[k], _mm512_maskz_loadu_ps(live, cur + k * S + o));
          }
          if (pn > 0) {
            const int64_t n = pn < 16 ? pn : 16;
            for (int k = 0; k < K; ++k) {
              uint8_t* dst = out[k] + (o - bo);
              if (ptable[k][i]) {
                encode16_avx512(table[k], prev + k * S + o, lanes16(n), vinv[k], dst);
              } else {
                for (int64_t j = 0; j < n; ++j) {
                  dst[j] = fq[k]->quantize_state(prev[k * S + o + j], pscale[k][i], pinv[k][i], Op::kSigned[k]);
                }
              }
            }
          }
        }
      }
      if (cl > 0) {
        float m[K];
        for (int k = 0; k < K; ++k) m[k] = _mm512_reduce_max_ps(mx[k]);
        if (cl < B) blockwise8_pad_max<Op>(c, v, b + i, m);
        for (int k = 0; k < K; ++k) v.scales[k][b + i] = m[k];
      }
    }
    if (!have) break;
    float* t = cur;
    cur = prev;
    prev = t;
    pb = b;
    plen = len;
    for (int64_t i = 0; i < nb; ++i) {
      for (int k = 0; k < K; ++k) {
        pscale[k][i] = v.scales[k][b + i];
        pinv[k][i] = state_reciprocal(pscale[k][i]);
        ptable[k][i] = fq[k]->table_encodes(Op::kSigned[k], pscale[k][i], pinv[k][i]);
      }
    }
  }
}

#pragma GCC diagnostic pop

#endif  // QSTEP_HAVE_AVX512_PATH

// Blocks [b0, b1) of one parameter, through the form the quantizers were made for. `scratch` holds
// blockwise8_scratch(v.block) floats.
template <class Op, typename T>
void blockwise8_update(const StepConsts& c, raw_t<T>* __restrict p, const raw_t<T>* __restrict g,
                       const StateView& v, const FastQuantizer* const* fq, int64_t b0, int64_t b1, float* scratch) {
#if defined(QSTEP_HAVE_AVX512_PATH)
  // fp16 parameters stay grouped on every CPU: their math runs there on F16C-widened arrays, and the two forms must
  // run the same compiled math, or g++'s different multiply-add fusing in each can move a rounded parameter by one
  // fp16 step (cpu-forms.test.ts caught this for SGD when fp16 took the pipelined form).
  bool wide = blockwise8_group(v.block) <= kPipelinedMaxGroup && !std::is_same_v<T, f16>;
  for (int k = 0; k < Op::kStreams; ++k) wide = wide && fq[k]->isa() == CpuIsa::kAvx512;
  if (wide) {
    with_flags(c, [&](auto f) {
      blockwise8_update_pipelined<Op, T, decltype(f)>(c, p, g, v, fq, b0, b1, scratch);
    });
    return;
  }
#endif
  blockwise8_update_grouped<Op, T>(c, p, g, v, fq, b0, b1, scratch);
}

template <class Op, typename T>
double blockwise8_norm(const StepConsts& c, const raw_t<T>* g, const StateView& v, int64_t b0, int64_t b1) {
  constexpr int K = Op::kStreams;
  double total = 0.0;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t start = b * v.block, end = start + v.block < v.n ? start + v.block : v.n;
    float acc = 0.f;
    for (int64_t i = start; i < end; ++i) {
      float s[K];
      for (int k = 0; k < K; ++k) s[k] = v.cb[k]->code[v.codes[k][i]] * v.scales[k][b];
      acc += element_norm_term<Op>(c, load_raw<T>(g[i]), s);
    }
    total += acc;
  }
  return total;
}

}  // namespace qstep
