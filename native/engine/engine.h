// Backend-independent parameter life cycle: creation with the state layout its mode needs, raw state export and
// import (bit-exact, refusing mismatches: docs/math.md §15, T12), and memory accounting by kind.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend.h"

namespace qstep {

struct RawTensor {
  std::string name;
  bool u8 = false;  // else f32
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};

struct RawState {
  OpKind op = OpKind::ADAM;
  StateMode mode = StateMode::FP32;
  int64_t block = 0;
  int64_t n = 0;
  int32_t step = 0;
  std::vector<RawTensor> tensors;
};

struct MemoryReport {
  size_t param = 0, state = 0, scales = 0, maps = 0, percentile_history = 0, paged = 0, paged_resident = 0;
  size_t fp32_state_equivalent = 0;
};

Status create_param(Backend& backend, const ParamSpec& spec, std::shared_ptr<ParamState>& out);
// Asks for the parameter's buffers to be released without waiting: at once if no call holds it, else by the
// holder as it lets go (ParamGuard). Later calls fail with FREED. Never blocks the caller.
void request_free(ParamState& ps);
// Makes every buffer of the parameter real (Backend::commit); expects ps.mu held by the caller.
Status commit_param(ParamState& ps);

// Holds ps.mu for one native call, and honours a free requested meanwhile when it lets go.
class ParamGuard {
 public:
  explicit ParamGuard(ParamState& ps);
  ~ParamGuard();
  ParamGuard(const ParamGuard&) = delete;
  ParamGuard& operator=(const ParamGuard&) = delete;

 private:
  ParamState& ps_;
};
// Both expect ps.mu held by the caller.
Status export_state(ParamState& ps, RawState& out);
Status import_state(ParamState& ps, const RawState& in);
MemoryReport memory_report(const ParamState& ps);

// The default codebooks and their CPU lookup tables (built once).
std::shared_ptr<const Codebook> default_codebook(bool is_signed);
std::shared_ptr<const FastQuantizer> default_quantizer(bool is_signed);

}  // namespace qstep
