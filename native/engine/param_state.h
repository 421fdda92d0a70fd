// One parameter as the engine holds it: values in the parameter dtype, optimizer state in the chosen mode, and
// the small host-side records (step counter, maps, percentile history, last update norm).
//
// State layout follows bnb's state dict (docs/math.md §15, Appendix D): state1 holds `rows` streams of n values (rows = 2
// for AdEMAMix: m1 then m2), state2 holds the second-moment stream of 2-state optimizers. Scales per stream:
// blockwise8 one absmax per block (scales1 is rows x blocks, the intended AdEMAMix layout of D6), static8 one max
// per stream. In fp32 mode the state is fp32 and there are no scales.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../formats/fast_quantizer.h"
#include "../formats/state_view.h"
#include "qstep/types.h"
#include "storage.h"

namespace qstep {

class Backend;

struct ParamSpec {
  int64_t n = 0;
  DType dtype = DType::F32;
  OpKind op = OpKind::ADAM;
  StateMode mode = StateMode::FP32;
  int64_t block = kDefaultBlockSize;
  bool trust = false;     // LAMB/LARS update-norm clipping
  int percentile = 100;   // 100 = off
  bool paged = false;
  std::string paged_dir;
};

struct ParamState {
  ParamSpec spec;
  int streams = 0;   // 1, 2 or 3 state streams
  int rows1 = 1;     // streams stored in state1
  bool has_state2 = false;
  int64_t blocks = 0;  // blockwise8: ceil(n / block); static8: 1

  Storage param;
  Storage state1, state2;
  Storage scales1, scales2;  // blockwise8 absmax / static8 max (fp32)

  // The maps the codes refer to (docs/math.md D9: a restored checkpoint brings its own maps).
  std::vector<float> qmap1, qmap2;
  std::shared_ptr<const Codebook> cb1, cb2;
  std::shared_ptr<const FastQuantizer> fq1, fq2;  // CPU lookup tables for cb1/cb2 (shared when default)

  int32_t step = 0;
  float unorm = 0.f;                // last squared update norm (LAMB/LARS)
  std::vector<float> gnorm_hist;    // squared gradient norms (percentile clipping)

  std::mutex mu;                    // held by every native call that reads or writes this parameter
  std::atomic<bool> freed{false};
  std::atomic<bool> free_requested{false};
  Backend* backend = nullptr;

  size_t elem_bytes() const { return size_t(dtype_bytes(spec.dtype)); }
  bool quantized() const { return spec.mode != StateMode::FP32; }
  int stream_count_in(int which) const { return which == 1 ? rows1 : (has_state2 ? 1 : 0); }
  // Bytes per state element: 4 in fp32 mode, 1 in the 8-bit modes.
  size_t state_elem_bytes() const { return quantized() ? 1 : 4; }
};

// Pointers to each state stream of `ps` (the layout described at the top of this file), for every backend's
// traversals. `codebook` maps the host codebook of a stream to the one the traversal reads (a backend may keep
// device copies).
template <class MapCodebook>
StateView state_view(const ParamState& ps, MapCodebook&& codebook) {
  StateView v;
  v.n = ps.spec.n;
  v.block = ps.spec.block;
  v.blocks = ps.blocks;
  for (int k = 0; k < ps.streams; ++k) {
    const bool in1 = k < ps.rows1;
    const int64_t row = in1 ? k : 0;
    const Storage& st = in1 ? ps.state1 : ps.state2;
    if (ps.quantized()) {
      v.codes[k] = st.as<uint8_t>() + row * ps.spec.n;
      v.scales[k] = (in1 ? ps.scales1 : ps.scales2).as<float>() + row * ps.blocks;
      v.cb[k] = codebook(in1 ? ps.cb1.get() : ps.cb2.get());
    } else {
      v.f32[k] = st.as<float>() + row * ps.spec.n;
    }
  }
  return v;
}

}  // namespace qstep
