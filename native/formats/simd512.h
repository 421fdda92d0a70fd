// AVX-512 forms of the two 8-bit state loops of the CPU backend (decode a block of codes, encode a block of
// states), chosen at run time: the module is built for x86-64-v3 (AVX2) so that it loads on any such machine, and
// these functions carry their own target attribute. Both produce exactly the bytes and floats of the AVX2 and
// scalar forms in fast_quantizer.h (tests compare every form).
//
// * Decode without gathers: a code byte selects a 4-byte float, i.e. four byte tables of 256 entries. Each table
//   is looked up for 64 codes at once with two vpermi2b (128 entries each) and a blend on the code's top bit; the
//   four byte planes are then interleaved into floats. About 30 instructions per 64 codes, against four 16-lane
//   gathers (this CPU: about 0.2 ns per gathered lane).
// * Encode: the step table of FastQuantizer, 16 lanes per gather, one shift and one compare for the position
//   inside the bucket, the code narrowed with vpmovdb; a partial group is masked.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__CUDACC__)
#define QSTEP_HAVE_AVX512_PATH 1
#include <immintrin.h>
#define QSTEP_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi")))
#endif

namespace qstep {

// The instruction set the CPU 8-bit loops use. kAvx2 is the build's baseline.
enum class CpuIsa : uint8_t { kAvx2 = 0, kAvx512 = 1 };

inline bool cpu_supports_avx512() {
#if defined(QSTEP_HAVE_AVX512_PATH)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vbmi");
#else
  return false;
#endif
}

// The process default: AVX-512 where the CPU has it, unless QSTEP_CPU_ISA=avx2 asks for the baseline (used by CI to
// run the whole suite through the AVX2 loops on a machine that has both).
inline CpuIsa default_cpu_isa() {
  static const CpuIsa isa = [] {
    const char* e = std::getenv("QSTEP_CPU_ISA");
    if (e != nullptr && std::strcmp(e, "avx2") == 0) return CpuIsa::kAvx2;
    return cpu_supports_avx512() ? CpuIsa::kAvx512 : CpuIsa::kAvx2;
  }();
  return isa;
}

#if defined(QSTEP_HAVE_AVX512_PATH)

// g++ 12 reports the deliberately undefined pass-through operands inside its own AVX-512 intrinsic headers as
// "may be used uninitialized" wherever those intrinsics are inlined (fixed in later releases).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// The four byte planes of a 256-entry float table, and the byte order that makes the interleave come out in
// element order: unpacking 64-byte planes works per 128-bit lane L, so output register r, lane L, dword i holds
// plane position 16L + 4r + i; feeding element 16r + 4L + i there puts elements 16r..16r+15 in register r.
struct BytePlanes {
  alignas(64) uint8_t plane[4][256];
  alignas(64) uint8_t order[64];

  explicit BytePlanes(const float* code) {
    for (int i = 0; i < 256; ++i) {
      uint32_t u;
      std::memcpy(&u, code + i, 4);
      for (int k = 0; k < 4; ++k) plane[k][i] = uint8_t(u >> (8 * k));
    }
    for (int l = 0; l < 4; ++l)
      for (int r = 0; r < 4; ++r)
        for (int i = 0; i < 4; ++i) order[16 * l + 4 * r + i] = uint8_t(16 * r + 4 * l + i);
  }
};

// out[j] = code[q[j]] * scales[j / block] for j < len; a block's tail beyond a multiple of 64 is done one by one.
QSTEP_AVX512 inline void decode_avx512(const BytePlanes& bp, const float* code, const uint8_t* q, int64_t len,
                                       const float* scales, int64_t block, float* out) {
  __m512i t[4][4];
  for (int k = 0; k < 4; ++k)
    for (int h = 0; h < 4; ++h) t[k][h] = _mm512_load_si512(bp.plane[k] + 64 * h);
  const __m512i order = _mm512_load_si512(bp.order);
  for (int64_t b0 = 0; b0 < len; b0 += block) {
    const int64_t end = b0 + block < len ? b0 + block : len;
    const float scale = scales[b0 / block];
    const __m512 vs = _mm512_set1_ps(scale);
    int64_t j = b0;
    for (; j + 64 <= end; j += 64) {
      const __m512i idx = _mm512_permutexvar_epi8(order, _mm512_loadu_si512(q + j));
      const __mmask64 upper = _mm512_movepi8_mask(idx);  // code >= 128
      __m512i b[4];
      for (int k = 0; k < 4; ++k) {
        b[k] = _mm512_mask_blend_epi8(upper, _mm512_permutex2var_epi8(t[k][0], idx, t[k][1]),
                                      _mm512_permutex2var_epi8(t[k][2], idx, t[k][3]));
      }
      const __m512i lo01 = _mm512_unpacklo_epi8(b[0], b[1]), hi01 = _mm512_unpackhi_epi8(b[0], b[1]);
      const __m512i lo23 = _mm512_unpacklo_epi8(b[2], b[3]), hi23 = _mm512_unpackhi_epi8(b[2], b[3]);
      _mm512_storeu_ps(out + j, _mm512_mul_ps(_mm512_castsi512_ps(_mm512_unpacklo_epi16(lo01, lo23)), vs));
      _mm512_storeu_ps(out + j + 16, _mm512_mul_ps(_mm512_castsi512_ps(_mm512_unpackhi_epi16(lo01, lo23)), vs));
      _mm512_storeu_ps(out + j + 32, _mm512_mul_ps(_mm512_castsi512_ps(_mm512_unpacklo_epi16(hi01, hi23)), vs));
      _mm512_storeu_ps(out + j + 48, _mm512_mul_ps(_mm512_castsi512_ps(_mm512_unpackhi_epi16(hi01, hi23)), vs));
    }
    for (; j < end; ++j) out[j] = code[q[j]] * scale;
  }
}

// Lanes [0, n) of a group of 16, n <= 16.
QSTEP_AVX512 inline __mmask16 lanes16(int64_t n) { return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1); }

// Encodes s[0, 16) with x = s * inv through the step table (entry b | a << 8 | cut << 16, see
// FastQuantizer::build_steps); with kMasked only the `live` lanes, the others read as 0 (bucket 0, a valid entry)
// and are not stored.
template <bool kMasked = true>
QSTEP_AVX512 inline __attribute__((always_inline)) void encode16_avx512(const uint32_t* steps, const float* s,
                                                                      __mmask16 live, __m512 inv, uint8_t* out) {
  const __m512 sv = kMasked ? _mm512_maskz_loadu_ps(live, s) : _mm512_loadu_ps(s);
  const __m512i xb = _mm512_castps_si512(_mm512_mul_ps(sv, inv));
  const __m512i e = _mm512_i32gather_epi32(_mm512_srli_epi32(xb, 16), reinterpret_cast<const int*>(steps), 4);
  // (low 16 bits) << 16 > entry exactly when the low bits exceed cut: the entry's own low half (the codes) only
  // decides ties, which it never wins.
  const __mmask16 up = _mm512_cmpgt_epu32_mask(_mm512_slli_epi32(xb, 16), e);
  const __m512i code = _mm512_mask_srli_epi32(e, up, e, 8);  // the low byte is the code; vpmovdb keeps it
  if (kMasked) _mm512_mask_cvtepi32_storeu_epi8(out, live, code);
  else _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm512_cvtepi32_epi8(code));
}

// Encodes one block s[0, len) with x = s * inv, 16 values at a time.
QSTEP_AVX512 inline void encode_avx512(const uint32_t* steps, const float* s, int64_t len, float inv, uint8_t* out) {
  const __m512 vi = _mm512_set1_ps(inv);
  int64_t j = 0;
  for (; j + 16 <= len; j += 16) encode16_avx512<false>(steps, s + j, 0xffff, vi, out + j);
  if (j < len) encode16_avx512(steps, s + j, lanes16(len - j), vi, out + j);
}

#pragma GCC diagnostic pop

#endif  // QSTEP_HAVE_AVX512_PATH

}  // namespace qstep
