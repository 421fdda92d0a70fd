// `npm run bench:cpu8`: where the CPU blockwise8 step spends its time, measured on this machine.
//
// 1. The two primitives the 8-bit step is bound by, each beside its alternative: a 16-lane and an 8-lane gather
//    from an L1-resident table (ns per lane), and the update's square root plus division at 8 and 16 lanes
//    (ns per element).
// 2. The blockwise8 Adam traversal itself (formats/blockwise8.h), single thread, on a cache-resident tensor: the
//    AVX2 form against the engine's AVX-512 form (pipelined), and the AVX-512 loops grouped against pipelined,
//    each pair interleaved step by step so that both see the same machine load; minimum and median ns per
//    element. The three forms must leave identical state (exit 1 otherwise).
// 3. The grouped AVX-512 step with one phase skipped (decode, encode), to split the step into its parts.
// 4. The step on 16M elements (memory-resident, as in bench:kernels), on 1 and 2 threads: each form with its
//    software prefetch (blockwise8.h, kPrefetchAhead) against the same form without, paired; ms per step.
//
// Timings are minima and medians over many repetitions: the machines this runs on are shared and their speed
// drifts by tens of percent, so only figures taken in the same run are compared.
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "formats/blockwise8.h"
#include "kernels/adam.h"
#include "kernels/consts.h"
#include "qstep/qmaps.h"

namespace qstep::bench {
namespace {

double now_ns() {
  return double(std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count());
}

struct Stat {
  std::vector<double> v;
  void add(double x) { v.push_back(x); }
  double min() { return *std::min_element(v.begin(), v.end()); }
  double median() {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }
};

#define QSTEP_B512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))

QSTEP_B512 __attribute__((noinline)) void gather16(const int* t, const int* idx, int* out, int n) {
  for (int j = 0; j < n; j += 16)
    _mm512_storeu_si512(out + j, _mm512_i32gather_epi32(_mm512_loadu_si512(idx + j), t, 4));
}
__attribute__((noinline)) void gather8(const int* t, const int* idx, int* out, int n) {
  for (int j = 0; j < n; j += 8) {
    const __m256i i = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx + j));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + j), _mm256_i32gather_epi32(t, i, 4));
  }
}
QSTEP_B512 __attribute__((noinline)) void sqrtdiv16(const float* a, const float* b, float* o, int n) {
  const __m512 e = _mm512_set1_ps(1e-8f);
  for (int j = 0; j < n; j += 16)
    _mm512_storeu_ps(o + j, _mm512_div_ps(_mm512_loadu_ps(a + j), _mm512_add_ps(_mm512_sqrt_ps(_mm512_loadu_ps(b + j)), e)));
}
__attribute__((noinline)) void sqrtdiv8(const float* a, const float* b, float* o, int n) {
  const __m256 e = _mm256_set1_ps(1e-8f);
  for (int j = 0; j < n; j += 8)
    _mm256_storeu_ps(o + j, _mm256_div_ps(_mm256_loadu_ps(a + j), _mm256_add_ps(_mm256_sqrt_ps(_mm256_loadu_ps(b + j)), e)));
}

// Two kernels timed alternately, `reps` times each; returns {min, median} per unit for both.
template <class A, class B>
void paired(const char* name_a, const char* name_b, const char* unit, double units, int reps, A&& a, B&& b,
            bool last = false) {
  Stat sa, sb;
  for (int r = 0; r < reps; ++r) {
    double t0 = now_ns();
    a();
    double t1 = now_ns();
    b();
    double t2 = now_ns();
    sa.add((t1 - t0) / units);
    sb.add((t2 - t1) / units);
  }
  std::printf("  {\"what\": \"%s\", \"unit\": \"%s\", \"min\": %.3f, \"median\": %.3f},\n", name_a, unit, sa.min(),
              sa.median());
  std::printf("  {\"what\": \"%s\", \"unit\": \"%s\", \"min\": %.3f, \"median\": %.3f}%s\n", name_b, unit, sb.min(),
              sb.median(), last ? "" : ",");
}

// A blockwise8 Adam state on n elements with its own quantizers (one instruction-set form).
struct AdamState {
  int64_t n, blocks;
  std::vector<float> p, g, s1, s2, scratch;
  std::vector<uint8_t> c1, c2;
  Codebook cs, cu;
  FastQuantizer fs, fu;
  StateView v{};
  AdamState(int64_t n_, CpuIsa isa, uint32_t seed)
      : n(n_), blocks(n_ / 256), p(n_), g(n_), s1(n_ / 256, 0.f), s2(n_ / 256, 0.f),
        scratch(blockwise8_scratch(256)), c1(n_, 0), c2(n_, 0), cs(make_codebook_from_bits(kSignedMapBits)),
        cu(make_codebook_from_bits(kUnsignedMapBits)), fs(cs, isa), fu(cu, isa) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.f, 1.f);
    for (auto& x : p) x = nd(rng) * 0.1f;
    for (auto& x : g) x = nd(rng) * 0.01f;
    v.n = n;
    v.block = 256;
    v.blocks = blocks;
    v.codes[0] = c1.data();
    v.codes[1] = c2.data();
    v.scales[0] = s1.data();
    v.scales[1] = s2.data();
    v.cb[0] = &cs;
    v.cb[1] = &cu;
  }
  // The step through the form the engine picks for these quantizers (AVX-512: pipelined), or the grouped form.
  int t = 0;  // steps taken
  void step(bool grouped = false) {
    const FastQuantizer* fq[3] = {&fs, &fu, nullptr};
    Hyper h{};
    const StepConsts c = make_consts<AdamOp>(h, ++t);
    if (grouped) blockwise8_update_grouped<AdamOp, float>(c, p.data(), g.data(), v, fq, 0, blocks, scratch.data());
    else blockwise8_update<AdamOp, float>(c, p.data(), g.data(), v, fq, 0, blocks, scratch.data());
  }
  // The step over blocks split between `threads` threads in tasks of 256 blocks, as the engine's pool does, with
  // or without software prefetch. Scratch: one per thread.
  void timed_step(int threads, bool grouped, bool prefetch, std::vector<std::vector<float>>& scratch) {
    const FastQuantizer* fq[3] = {&fs, &fu, nullptr};
    Hyper h{};
    const StepConsts c = make_consts<AdamOp>(h, ++t);
    const int64_t ahead = prefetch ? kPrefetchAhead : 0;
    auto work = [&](int w) {
      for (int64_t b = w * 256; b < blocks; b += threads * 256) {
        const int64_t e = std::min<int64_t>(blocks, b + 256);
        float* s = scratch[size_t(w)].data();
        if (grouped) {
          blockwise8_update_grouped<AdamOp, float>(c, p.data(), g.data(), v, fq, b, e, s, ahead);
        } else {
          with_flags(c, [&](auto f) {
            blockwise8_update_pipelined<AdamOp, float, decltype(f)>(c, p.data(), g.data(), v, fq, b, e, s, ahead);
          });
        }
      }
    };
    std::vector<std::thread> others;
    for (int w = 1; w < threads; ++w) others.emplace_back(work, w);
    work(0);
    for (auto& th : others) th.join();
  }
  // The step with decode or encode left out (the scratch keeps the previous step's states), to apportion the time.
  void step_without(bool skip_decode) {
    const FastQuantizer* fq[3] = {&fs, &fu, nullptr};
    Hyper h{};
    const StepConsts c = make_consts<AdamOp>(h, ++t);
    const int64_t S = 1024;
    for (int64_t b = 0; b < blocks; b += 4) {
      const int64_t start = b * 256;
      if (!skip_decode) {
        fs.decode_blocks(c1.data() + start, S, s1.data() + b, 256, scratch.data());
        fu.decode_blocks(c2.data() + start, S, s2.data() + b, 256, scratch.data() + S);
      }
      math_block<AdamOp, float, FixedFlags<false, false>>(c, p.data() + start, g.data() + start, scratch.data(),
                                                          scratch.data() + S, scratch.data() + 2 * S, S);
      for (int i = 0; i < 4; ++i) {
        s1[size_t(b + i)] = abs_max(scratch.data() + 256 * i, 256);
        s2[size_t(b + i)] = abs_max(scratch.data() + S + 256 * i, 256);
      }
      if (skip_decode) {
        fs.encode_blocks(scratch.data(), S, s1.data() + b, 256, true, c1.data() + start);
        fu.encode_blocks(scratch.data() + S, S, s2.data() + b, 256, false, c2.data() + start);
      }
    }
  }
};

int run() {
  const bool wide = cpu_supports_avx512();
  std::printf("{\n\"avx512_available\": %s,\n\"primitives\": [\n", wide ? "true" : "false");
  if (wide) {
    std::vector<int> table(1 << 16, 1), idx(1024), out(1024);
    std::mt19937 rng(1);
    for (auto& x : idx) x = 0x3c00 + int(rng() & 2047);  // a hot 8 KiB region, as the step table's
    paired("gather 16 lanes (zmm), L1", "gather 8 lanes (ymm), L1", "ns/lane", 1024, 4000,
           [&] { gather16(table.data(), idx.data(), out.data(), 1024); },
           [&] { gather8(table.data(), idx.data(), out.data(), 1024); });
    std::vector<float> a(2048, 1.5f), b(2048, 2.5f), o(2048);
    paired("sqrt + div, 16 lanes (zmm)", "sqrt + div, 8 lanes (ymm)", "ns/element", 2048, 4000,
           [&] { sqrtdiv16(a.data(), b.data(), o.data(), 2048); },
           [&] { sqrtdiv8(a.data(), b.data(), o.data(), 2048); }, true);
  }
  std::printf("],\n\"blockwise8_adam_single_thread\": [\n");
  if (!wide) {
    std::printf("]\n}\n");
    return 0;
  }
  const int64_t n = int64_t(1) << 15;  // 32K elements: p, g, codes and scratch stay in L1/L2
  AdamState x2(n, CpuIsa::kAvx2, 7), x5(n, CpuIsa::kAvx512, 7), xg(n, CpuIsa::kAvx512, 7);
  for (int i = 0; i < 3; ++i) x2.step(), x5.step(), xg.step(true);
  paired("step, AVX2 loops (grouped)", "step, AVX-512 loops, pipelined (the engine's form)", "ns/element",
         double(n), 1500, [&] { x2.step(); }, [&] { x5.step(); });
  paired("step, AVX-512 loops, grouped", "step, AVX-512 loops, pipelined", "ns/element", double(n), 1500,
         [&] { xg.step(true); }, [&] { x5.step(); });
  while (x2.t < x5.t) x2.step();
  while (xg.t < x5.t) xg.step(true);
  auto same_as = [&](const AdamState& x) {
    return x.c1 == x5.c1 && x.c2 == x5.c2 && x.s1 == x5.s1 && x.s2 == x5.s2 && x.p == x5.p;
  };
  const bool same = same_as(x2) && same_as(xg);
  paired("grouped AVX-512 step without decode", "grouped AVX-512 step without encode", "ns/element", double(n),
         1500, [&] { xg.step_without(true); }, [&] { xg.step_without(false); }, true);
  std::printf("],\n\"blockwise8_adam_16M\": [\n");
  const int64_t big = int64_t(1) << 24;
  bool same_big = true;
  {
    std::vector<std::vector<float>> scratch(2, std::vector<float>(size_t(blockwise8_scratch(256))));
    const struct {
      CpuIsa isa;
      bool grouped;
      const char* name;
    } forms[] = {{CpuIsa::kAvx512, false, "AVX-512 pipelined"}, {CpuIsa::kAvx2, true, "AVX2 grouped"}};
    for (int f = 0; f < 2; ++f) {
      AdamState with(big, forms[f].isa, 11), without(big, forms[f].isa, 11);
      for (int threads = 1; threads <= 2; ++threads) {
        char a[96], b[96];
        std::snprintf(a, sizeof a, "%s, %d thread%s, prefetch", forms[f].name, threads, threads > 1 ? "s" : "");
        std::snprintf(b, sizeof b, "%s, %d thread%s, no prefetch", forms[f].name, threads, threads > 1 ? "s" : "");
        for (int i = 0; i < 2; ++i) {
          with.timed_step(threads, forms[f].grouped, true, scratch);
          without.timed_step(threads, forms[f].grouped, false, scratch);
        }
        paired(a, b, "ms", 1e6, 16, [&] { with.timed_step(threads, forms[f].grouped, true, scratch); },
               [&] { without.timed_step(threads, forms[f].grouped, false, scratch); }, f == 1 && threads == 2);
      }
      same_big = same_big && with.c1 == without.c1 && with.c2 == without.c2 && with.p == without.p;
    }
  }
  std::printf("],\n\"all_forms_same_state\": %s\n}\n", same && same_big ? "true" : "false");
  return same && same_big ? 0 : 1;
}

}  // namespace
}  // namespace qstep::bench

int main() { return qstep::bench::run(); }
