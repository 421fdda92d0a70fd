// Tolerances of the CUDA-vs-CPU check (issue 4; docs/math.md D1: the two backends share one per-element implementation,
// so they agree to fp32 rounding). Both start every step from the same state (the CUDA side is re-synchronised to
// the CPU's after each comparison), so each step is judged on its own:
//  * fp32 values (parameters, fp32 state): |a - b| <= 1e-5 |b| + 1e-6 max|b|. The absolute floor covers
//    cancellation (m = beta1 m + (1 - beta1) g near 0), where g++ and nvcc fuse different multiply-adds.
//  * fp16 / bf16 parameters: additionally one unit in the last place of the type (a rounding tie may fall either
//    way when the fp32 values differ in the last bit).
//  * 8-bit codes: equal or one index apart (a value on a decision boundary); the count of differing codes is
//    reported.
//  * scales (blockwise absmax, static max): |a - b| <= 4e-6 max(|a|, |b|), i.e. a few fp32 ulps.
//  * reductions (percentile history, LAMB/LARS norm): 1e-5 relative (the CPU adds in fp32 chunks, CUDA in double).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "qstep/dtype.h"

namespace qstep::check {

struct Diff {
  int64_t count = 0;       // elements compared
  int64_t violations = 0;  // elements outside the tolerance
  int64_t changed = 0;     // 8-bit codes that differ (by one)
  double worst = 0.0;      // largest relative difference |a - b| / max(|a|, |b|) (codes: largest index distance)
  int64_t bad_at = -1;     // first element outside the tolerance
  std::string what;        // the tensor of bad_at (or of worst when all are inside)

  bool ok() const { return violations == 0; }
  void merge(const Diff& o) {
    if (o.bad_at >= 0 && bad_at < 0) { bad_at = o.bad_at; what = o.what; }
    if (bad_at < 0 && o.worst > worst) what = o.what;
    worst = std::max(worst, o.worst);
    count += o.count;
    violations += o.violations;
    changed += o.changed;
  }
};

inline double rel(double a, double b) {
  const double d = std::fabs(a - b);
  const double m = std::max(std::fabs(a), std::fabs(b));
  return d == 0.0 ? 0.0 : d / std::max(m, 1e-30);
}

// Values in fp32 (state, scales, reductions) or widened from the parameter dtype; ulp_bits = mantissa bits of the
// type for the one-ulp allowance (0 = none).
inline Diff compare_values(const std::string& what, const std::vector<float>& a, const std::vector<float>& b,
                           double rtol, double floor_frac, int ulp_bits) {
  Diff d;
  d.what = what;
  d.count = int64_t(b.size());
  double peak = 0.0;
  for (float x : b) peak = std::max(peak, double(std::fabs(x)));
  const double atol = floor_frac * peak;
  for (size_t i = 0; i < b.size(); ++i) {
    const double x = a[i], y = b[i];
    if (std::isnan(x) && std::isnan(y)) continue;
    double tol = rtol * std::fabs(y) + atol;
    if (ulp_bits > 0) tol = std::max(tol, std::ldexp(std::fabs(y), -ulp_bits));
    const double r = rel(x, y);
    d.worst = std::max(d.worst, r);
    if (!(std::fabs(x - y) <= tol)) {
      if (d.bad_at < 0) d.bad_at = int64_t(i);
      ++d.violations;
    }
  }
  return d;
}

inline Diff compare_codes(const std::string& what, const uint8_t* a, const uint8_t* b, int64_t n) {
  Diff d;
  d.what = what;
  d.count = n;
  for (int64_t i = 0; i < n; ++i) {
    const int delta = std::abs(int(a[i]) - int(b[i]));
    if (delta == 0) continue;
    ++d.changed;
    d.worst = std::max(d.worst, double(delta));
    if (delta > 1) {
      ++d.violations;
      if (d.bad_at < 0) d.bad_at = i;
    }
  }
  return d;
}

inline std::vector<float> floats_of(const uint8_t* bytes, size_t count) {
  std::vector<float> v(count);
  std::memcpy(v.data(), bytes, count * 4);
  return v;
}

inline std::vector<float> widen(const std::vector<uint8_t>& raw, DType d) {
  const size_t n = raw.size() / size_t(dtype_bytes(d));
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) {
    uint16_t h = 0;
    switch (d) {
      case DType::F32: std::memcpy(&v[i], raw.data() + 4 * i, 4); break;
      case DType::F16: std::memcpy(&h, raw.data() + 2 * i, 2); v[i] = f16_to_f32(h); break;
      case DType::BF16: std::memcpy(&h, raw.data() + 2 * i, 2); v[i] = bf16_to_f32(h); break;
    }
  }
  return v;
}

// Mantissa bits of a parameter dtype for the one-ulp allowance (0 for fp32: the relative tolerance governs).
inline int ulp_bits(DType d) { return d == DType::F16 ? 10 : d == DType::BF16 ? 7 : 0; }

}  // namespace qstep::check
