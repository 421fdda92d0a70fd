// Exhaustive check of the host fp16 conversions in qstep/dtype.h against the hardware's (_Float16: F16C on x86-64,
// FCVT on aarch64 through __fp16, IEEE half there, since GCC before 13 has no _Float16 in C++):
// every one of the 65536 half patterns to fp32, and every fp32 pattern whose low 8 bits are 0, 0x80, 0xff or 1
// (the rounding boundaries of the 13 dropped bits fall on these) plus ties, to fp16; and the one-pass round trip
// round_to<f16> and round_to<bf16> against the two conversions for every fp32 pattern. Build and run:
//   g++ -std=c++17 -O2 -march=x86-64-v3 -Inative/include native/tests/dtype_check.cc -o /tmp/dtype_check && /tmp/dtype_check
// aarch64 from an x86-64 machine (Debian's g++-aarch64-linux-gnu and qemu-user-static):
//   aarch64-linux-gnu-g++ -std=c++17 -O2 -static -Inative/include native/tests/dtype_check.cc -o /tmp/dtype_check_a64
//   qemu-aarch64-static /tmp/dtype_check_a64
#include <cstdio>
#include <cstring>
#include <initializer_list>

#include "qstep/dtype.h"

#if defined(__aarch64__)
using hw_half = __fp16;
#else
using hw_half = _Float16;
#endif

int main() {
  using namespace qstep;
  long bad = 0;
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    hw_half hw;
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
      const hw_half hw = hw_half(f);
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
  std::printf("%s: %ld mismatches\n", bad ? "FAIL" : "ok", bad);
  return bad ? 1 : 0;
}
