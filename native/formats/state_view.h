// Raw pointers to one parameter's state streams, as the traversals of every mode see them.
#pragma once

#include <cstdint>

#include "quantize.h"

namespace qstep {

struct StateView {
  int64_t n = 0;
  int64_t block = 0;          // blockwise8 block size
  int64_t blocks = 0;
  float* f32[3] = {};         // fp32 mode: stream k
  uint8_t* codes[3] = {};     // 8-bit modes: stream k
  float* scales[3] = {};      // blockwise8: blocks floats per stream; static8: one float per stream
  const Codebook* cb[3] = {}; // the map of stream k
};

}  // namespace qstep
