// Exhaustive check of the host fp16 conversions in qstep/dtype.h against the hardware's (_Float16, F16C):
// every one of the 65536 half patterns to fp32, and every fp32 pattern whose low 8 bits are 0, 0x80, 0xff or 1
// (the rounding boundaries of the 13 dropped bits fall on these) plus ties, to fp16; and the one-pass round trip
// round_to<f16> and round_to<bf16> against the two conversions for every fp32 pattern. Build and run:
//   g++ -std=c++17 -O2 -march=x86-64-v3 -Inative -Inative/include native/tests/dtype_check.cc -o /tmp/dtype_check && /tmp/dtype_check
#include <cstdio>
#include <cstring>
#include <initializer_list>

#include "formats/f16c.h"
#include "qstep/dtype.h"

#if defined(QSTEP_HAVE_AVX512_PATH)
QSTEP_AVX512 long check_narrow_bf16x16() {
  using namespace qstep;
  long bad = 0;
  alignas(64) uint32_t in[16];
  alignas(32) uint16_t out[16];
  for (uint64_t base = 0; base < (1ull << 32); base += 16) {
    for (uint32_t j = 0; j < 16; ++j) in[j] = uint32_t(base) + j;
    _mm256_store_si256(reinterpret_cast<__m256i*>(out), narrow_bf16x16(_mm512_load_si512(in)));
    for (uint32_t j = 0; j < 16; ++j) {
      const uint16_t want = f32_to_bf16(bits_f32(in[j]));
      if (out[j] != want && bad++ < 10) std::printf("narrow_bf16x16(%08x): got %04x want %04x\n", in[j], out[j], want);
    }
  }
  return bad;
}
#endif

int main() {
  using namespace qstep;
  long bad = 0;
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    _Float16 hw;
    const uint16_t hb = uint16_t(h);
    std::memcpy(&hw, &hb, 2);
    const float want = float(hw), got = f16_to_f32(hb);
    if (f32_bits(want) != f32_bits(got) && !(want != want && got != got)) {
      if (bad++ < 5) std::printf("f16_to_f32(%04x): got %08x want %08x\n", h, f32_bits(got), f32_bits(want));
    }
  }
  for (uint64_t hi = 0; hi < (1ull << 24); ++hi) {
    for (uint32_t lo : {0x00u, 0x01u, 0x80u, 0xffu}) {
      const uint32_t u = uint32_t(hi << 8) | lo;
      const float f = bits_f32(u);
      const _Float16 hw = _Float16(f);
      uint16_t want;
      std::memcpy(&want, &hw, 2);
      const uint16_t got = f32_to_f16(f);
      if (got != want) {
        if (bad++ < 10) std::printf("f32_to_f16(%08x): got %04x want %04x\n", u, got, want);
      }
    }
  }
  // The one-pass fp16 and bf16 round trips against the two conversions, every fp32 pattern (NaN bits included).
  for (uint64_t i = 0; i < (1ull << 32); ++i) {
    const float f = bits_f32(uint32_t(i));
    const uint32_t got = f32_bits(round_to<f16>(f)), want = f32_bits(f16_to_f32(f32_to_f16(f)));
    if (got != want) {
      if (bad++ < 15) std::printf("round_to<f16>(%08x): got %08x want %08x\n", uint32_t(i), got, want);
    }
    const uint32_t got_b = f32_bits(round_to<bf16>(f)), want_b = f32_bits(bf16_to_f32(f32_to_bf16(f)));
    if (got_b != want_b) {
      if (bad++ < 15) std::printf("round_to<bf16>(%08x): got %08x want %08x\n", uint32_t(i), got_b, want_b);
    }
  }
#if defined(QSTEP_HAVE_AVX512_PATH)
  // The AVX-512 form's bf16 narrowing against f32_to_bf16, every fp32 pattern, where the CPU has AVX-512.
  if (cpu_supports_avx512()) bad += check_narrow_bf16x16();
  else std::printf("(no AVX-512 here: the 16-lane bf16 narrowing is not checked)\n");
#endif
  std::printf("%s: %ld mismatches\n", bad ? "FAIL" : "ok", bad);
  return bad ? 1 : 0;
}
