// fp16 / bf16 <-> fp32 conversions with round-to-nearest-even (docs/math.md §0: toT, fromT), for host and device.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "hd.h"
#include "types.h"

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#endif

namespace qstep {

// 16-bit storage types are distinct structs so that templates can tell them apart.
struct f16 { uint16_t bits; };
struct bf16 { uint16_t bits; };

QSTEP_HD uint32_t f32_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  return __builtin_bit_cast(uint32_t, f);  // not memcpy: g++ does not vectorize through an address-taken temporary
#endif
}

QSTEP_HD float bits_f32(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  return __builtin_bit_cast(float, u);
#endif
}

QSTEP_HD float bf16_to_f32(uint16_t h) { return bits_f32(uint32_t(h) << 16); }

QSTEP_HD uint16_t f32_to_bf16(float f) {
  const uint32_t u = f32_bits(f);
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const uint32_t nan = (u >> 16) | 0x40u;  // quiet NaN, sign kept
  return uint16_t((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

// Host conversions are branchless bit arithmetic (selects and one int-to-float conversion), so that g++
// vectorizes loops over fp16 data; g++ 12 does not vectorize _Float16 conversions. Exhaustively equal to the
// hardware conversions (test: native/tests/dtype_check.cc).
QSTEP_HD float f16_to_f32(uint16_t h) {
#if defined(__CUDA_ARCH__)
  return __half2float(__ushort_as_half(h));
#else
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t em = h & 0x7fffu;               // exponent and mantissa
  const uint32_t normal = (em << 13) + 0x38000000u;   // rebias the exponent: 127 - 15
  const uint32_t special = (em << 13) + 0x70000000u;  // exponent 31 (inf, NaN) -> 255
  const uint32_t sub = f32_bits(float(int32_t(em)) * 5.9604644775390625e-8f);  // mantissa * 2^-24
  const uint32_t mag = em < 0x0400u ? sub : (em >= 0x7c00u ? special : normal);
  return bits_f32(sign | mag);
#endif
}

QSTEP_HD uint16_t f32_to_f16(float f) {
#if defined(__CUDA_ARCH__)
  return __half_as_ushort(__float2half_rn(f));
#else
  const uint32_t u = f32_bits(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t a = u & 0x7fffffffu;
  const uint32_t nan = 0x7e00u | ((a >> 13) & 0x3ffu);                        // quiet NaN, top payload bits kept
  const uint32_t normal = (a - 0x38000000u + 0xfffu + ((a >> 13) & 1u)) >> 13;  // round to nearest even
  // Below 2^-14 the result is subnormal: adding 0.5 (ulp 2^-24) rounds |f| to a multiple of 2^-24, nearest even.
  const uint32_t sub = f32_bits(bits_f32(a) + 0.5f) - 0x3f000000u;
  const uint32_t mag = a > 0x7f800000u ? nan
                     : a >= 0x477ff000u ? 0x7c00u   // 65520 and above round to infinity
                     : a >= 0x38800000u ? normal
                     : sub;
  return uint16_t(sign | mag);
#endif
}

// load<T>: widen a stored element to fp32 (exact). store<T>: round an fp32 value to T.
template <typename T> QSTEP_HD float load(T v);
template <> QSTEP_HD float load<float>(float v) { return v; }
template <> QSTEP_HD float load<f16>(f16 v) { return f16_to_f32(v.bits); }
template <> QSTEP_HD float load<bf16>(bf16 v) { return bf16_to_f32(v.bits); }

template <typename T> QSTEP_HD T store(float v);
template <> QSTEP_HD float store<float>(float v) { return v; }
template <> QSTEP_HD f16 store<f16>(float v) { return f16{f32_to_f16(v)}; }
template <> QSTEP_HD bf16 store<bf16>(float v) { return bf16{f32_to_bf16(v)}; }

// round<T>(x) = fromT(toT(x)): the value an fp32 local takes when it is "stored back to T" (docs/math.md §10).
template <typename T> QSTEP_HD float round_to(float v) { return load<T>(store<T>(v)); }

// The bf16 round trip in one pass over the fp32 bits (the high half rounded, the low half cleared; NaN quieted).
template <> QSTEP_HD float round_to<bf16>(float v) {
  const uint32_t u = f32_bits(v);
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  const uint32_t nan = (u | 0x00400000u) & 0xffff0000u;
  return bits_f32((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

// The host's fp16 round trip in one pass over the fp32 value, without the two conversions (about a third of their
// operations, which matters where g++ vectorizes the element math: a step rounds up to three times per element).
// Exhaustively equal to f16_to_f32(f32_to_f16(v)) for every fp32 pattern (native/tests/dtype_check.cc).
template <> QSTEP_HD float round_to<f16>(float v) {
#if defined(__CUDA_ARCH__)
  return load<f16>(store<f16>(v));
#else
  const uint32_t u = f32_bits(v);
  const uint32_t a = u & 0x7fffffffu;  // |v|
  // fp16 keeps |v| to a unit of 2^(e-10) for 2^e <= |v| (e >= -14), 2^-24 below. Adding c = 2^(e+13), at least 0.5,
  // leaves exactly that unit as the sum's last place, so fp32's own nearest-even addition rounds |v| to it (ties
  // to even included: c is an even multiple of the unit), and subtracting c again is exact. e is capped at 15:
  // anything larger becomes infinity below whatever c does to it (Inf stays Inf, a NaN is quieted).
  const uint32_t e = a & 0x7f800000u;
  const uint32_t cb = (e < 0x47000000u ? e : 0x47000000u) + (13u << 23);
  const float c = bits_f32(cb > 0x3f000000u ? cb : 0x3f000000u);
  const float r = (bits_f32(a) + c) - c;
  // Above fp16's largest finite value, 65504, lies only what rounds to 65536 or more: infinity. An fp16 value has
  // no fp32 mantissa bits below its 10th, so clearing them changes nothing but a NaN's payload, which fp16 drops.
  const float m = r > 65504.f ? bits_f32(0x7f800000u) : r;
  return bits_f32((f32_bits(m) & 0xffffe000u) | (u & 0x80000000u));
#endif
}

// The element as stored in memory: float, or the 16-bit pattern. CPU loops index raw arrays (g++ does not
// vectorize loads of the tag structs f16/bf16).
template <typename T> using raw_t = std::conditional_t<std::is_same_v<T, float>, float, uint16_t>;

template <typename T> QSTEP_HD float load_raw(raw_t<T> v) {
  if constexpr (std::is_same_v<T, float>) return v;
  else return load<T>(T{v});
}

template <typename T> QSTEP_HD raw_t<T> store_raw(float v) {
  if constexpr (std::is_same_v<T, float>) return v;
  else return store<T>(v).bits;
}

template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::F32; };
template <> struct DTypeOf<f16> { static constexpr DType value = DType::F16; };
template <> struct DTypeOf<bf16> { static constexpr DType value = DType::BF16; };

}  // namespace qstep
