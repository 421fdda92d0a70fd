// fp16 / bf16 <-> fp32 conversions with round-to-nearest-even (spec 0: toT, fromT), for host and device.
#pragma once

#include <cstdint>
#include <cstring>

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
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}

QSTEP_HD float bits_f32(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

QSTEP_HD float bf16_to_f32(uint16_t h) { return bits_f32(uint32_t(h) << 16); }

QSTEP_HD uint16_t f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN, sign kept
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

QSTEP_HD float f16_to_f32(uint16_t h) {
#if defined(__CUDA_ARCH__)
  return __half2float(__ushort_as_half(h));
#else
  _Float16 v;
  std::memcpy(&v, &h, 2);
  return float(v);
#endif
}

QSTEP_HD uint16_t f32_to_f16(float f) {
#if defined(__CUDA_ARCH__)
  return __half_as_ushort(__float2half_rn(f));
#else
  _Float16 v = _Float16(f);  // round to nearest even (F16C with -mf16c)
  uint16_t h;
  std::memcpy(&h, &v, 2);
  return h;
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

// round<T>(x) = fromT(toT(x)): the value an fp32 local takes when it is "stored back to T" (spec 10).
template <typename T> QSTEP_HD float round_to(float v) { return load<T>(store<T>(v)); }

template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::F32; };
template <> struct DTypeOf<f16> { static constexpr DType value = DType::F16; };
template <> struct DTypeOf<bf16> { static constexpr DType value = DType::BF16; };

}  // namespace qstep
