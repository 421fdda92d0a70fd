// Host-side decisions between passes, shared by every backend: the percentile-clipping scale (docs/math.md §9) and the
// LAMB/LARS trust ratio (docs/math.md §11).
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "qstep/types.h"

namespace qstep {

// Records `sq` (the squared gradient norm) in the history for step t and returns the gradient scale.
// t == 1 fills all slots, so the first step is never clipped; later steps overwrite slot t mod 100.
inline float percentile_scale(std::vector<float>& hist, int32_t t, float sq, int percentile) {
  if (t == 1) std::fill(hist.begin(), hist.end(), sq);
  else hist[size_t(t % kPercentileHistory)] = sq;
  std::vector<float> sorted(hist);
  std::sort(sorted.begin(), sorted.end());
  const float current = std::sqrt(hist[size_t(t % kPercentileHistory)]);
  const float clip = std::sqrt(sorted[size_t(percentile)]);
  return current > clip ? clip / current : 1.f;
}

// Capped trust ratio: 2-state (LAMB) threshold max_unorm * ||p||; 1-state (LARS) max_unorm * ||p|| + eps, where
// eps = 0 for LARS. A zero-norm parameter gets scale 0 and never moves (docs/math.md §11).
inline float trust_scale(float unorm_sq, float param_norm, float max_unorm, float eps, bool two_state) {
  const float r = std::sqrt(unorm_sq);
  const float threshold = max_unorm * param_norm + (two_state ? 0.f : eps);
  return r > threshold ? threshold / r : 1.f;
}

}  // namespace qstep
