// Parameter life cycle shared by the CPU and CUDA backends (see engine.h).
#include "engine.h"

#include <cstring>
#include <mutex>

#include "../kernels/ops.h"

namespace qstep {

std::shared_ptr<const Codebook> default_codebook(bool is_signed) {
  static const auto s = std::make_shared<const Codebook>(make_codebook_from_bits(kSignedMapBits));
  static const auto u = std::make_shared<const Codebook>(make_codebook_from_bits(kUnsignedMapBits));
  return is_signed ? s : u;
}

std::shared_ptr<const FastQuantizer> default_quantizer(bool is_signed) {
  static std::once_flag once;
  static std::shared_ptr<const FastQuantizer> s, u;
  std::call_once(once, [] {
    s = std::make_shared<const FastQuantizer>(*default_codebook(true));
    u = std::make_shared<const FastQuantizer>(*default_codebook(false));
  });
  return is_signed ? s : u;
}

static std::vector<float> map_values(const uint32_t* bits) {
  std::vector<float> v(kMapSize);
  for (int i = 0; i < kMapSize; ++i) v[size_t(i)] = bits_f32(bits[i]);
  return v;
}

static void release_locked(ParamState& ps);

// Which map each bnb state uses (T8): state1 always signed; state2 (Adam's v, AdEMAMix's nu) unsigned.
static void set_default_maps(ParamState& ps) {
  ps.qmap1 = map_values(kSignedMapBits);
  ps.cb1 = default_codebook(true);
  ps.fq1 = default_quantizer(true);
  if (ps.has_state2) {
    ps.qmap2 = map_values(kUnsignedMapBits);
    ps.cb2 = default_codebook(false);
    ps.fq2 = default_quantizer(false);
  }
}

Status create_param(Backend& backend, const ParamSpec& spec, std::shared_ptr<ParamState>& out) {
  if (spec.n < 1 || spec.n > kMaxElements) return Status::Error(Code::INVALID_ARGUMENT, "bad element count");
  if (int(spec.op) < 0 || int(spec.op) >= kNumOpKinds) return Status::Error(Code::INVALID_ARGUMENT, "bad optimizer");
  if (int(spec.mode) < 0 || int(spec.mode) > 2) return Status::Error(Code::INVALID_ARGUMENT, "bad state mode");
  if (int(spec.dtype) < 0 || int(spec.dtype) > 2) return Status::Error(Code::INVALID_ARGUMENT, "bad dtype");
  if (spec.mode == StateMode::BLOCKWISE8 && spec.block != kDefaultBlockSize && spec.block != kCompatBlockSize) {
    return Status::Error(Code::INVALID_ARGUMENT, "block size must be 256 or 2048");
  }
  if (spec.percentile < 0 || spec.percentile > 100) return Status::Error(Code::INVALID_ARGUMENT, "bad percentile");
  if (spec.trust && !op_trust(spec.op)) {
    return Status::Error(Code::INVALID_ARGUMENT, "max_unorm needs a family with an update-norm term (LAMB, LARS)");
  }
  auto ps = std::make_shared<ParamState>();
  ps->spec = spec;
  ps->backend = &backend;
  ps->streams = op_streams(spec.op);
  ps->rows1 = op_rows1(spec.op);
  ps->has_state2 = ps->streams > ps->rows1;
  const int64_t n = spec.n;
  ps->blocks = spec.mode == StateMode::BLOCKWISE8 ? (n + spec.block - 1) / spec.block
             : spec.mode == StateMode::STATIC8 ? 1 : 0;
  const bool paged = spec.paged && n >= kPagedMinElements;
  const size_t se = ps->state_elem_bytes();
  Status st = backend.alloc(ps->param, size_t(n) * ps->elem_bytes(), false, "");
  if (st.ok()) st = backend.alloc(ps->state1, size_t(ps->rows1) * size_t(n) * se, paged, spec.paged_dir);
  if (st.ok() && ps->has_state2) st = backend.alloc(ps->state2, size_t(n) * se, paged, spec.paged_dir);
  if (st.ok() && ps->quantized()) {
    st = backend.alloc(ps->scales1, size_t(ps->rows1) * size_t(ps->blocks) * 4, false, "");
    if (st.ok() && ps->has_state2) st = backend.alloc(ps->scales2, size_t(ps->blocks) * 4, false, "");
    set_default_maps(*ps);
  }
  if (!st.ok()) {
    release_locked(*ps);
    return st;
  }
  if (spec.percentile < 100) ps->gnorm_hist.assign(kPercentileHistory, 0.f);
  out = std::move(ps);
  return Status::Ok();
}

static void release_locked(ParamState& ps) {
  if (ps.freed.exchange(true)) return;
  for (Storage* s : {&ps.param, &ps.state1, &ps.state2, &ps.scales1, &ps.scales2}) ps.backend->release(*s);
}

Status commit_param(ParamState& ps) {
  if (ps.freed) return Status::Error(Code::FREED, "parameter was freed");
  for (Storage* s : {&ps.param, &ps.state1, &ps.state2, &ps.scales1, &ps.scales2}) {
    QSTEP_RETURN_IF_ERROR(ps.backend->commit(*s));
  }
  return Status::Ok();
}

// Whoever sets free_requested and whoever unlocks both try the lock afterwards, so one of them releases.
static void release_if_requested(ParamState& ps) {
  if (ps.free_requested.load() && ps.mu.try_lock()) {
    release_locked(ps);
    ps.mu.unlock();
  }
}

void request_free(ParamState& ps) {
  ps.free_requested.store(true);
  release_if_requested(ps);
}

ParamGuard::ParamGuard(ParamState& ps) : ps_(ps) { ps_.mu.lock(); }

ParamGuard::~ParamGuard() {
  ps_.mu.unlock();
  release_if_requested(ps_);
}

static Status pull(ParamState& ps, const Storage& s, RawTensor t, RawState& out, bool with_data) {
  t.data.resize(s.bytes);
  if (s.bytes && with_data) QSTEP_RETURN_IF_ERROR(ps.backend->to_host(s, 0, t.data.data(), s.bytes));
  out.tensors.push_back(std::move(t));
  return Status::Ok();
}

static RawTensor f32_tensor(const char* name, const std::vector<float>& v, std::vector<int64_t> shape) {
  RawTensor t{name, false, std::move(shape), {}};
  t.data.resize(v.size() * 4);
  if (!v.empty()) std::memcpy(t.data.data(), v.data(), t.data.size());
  return t;
}

// The tensors of the state; with_data = false gives names, shapes and sizes only (zero-filled data).
static Status describe_state(ParamState& ps, RawState& out, bool with_data) {
  if (ps.freed) return Status::Error(Code::FREED, "parameter was freed");
  const int64_t n = ps.spec.n;
  const bool q = ps.quantized();
  out = RawState{ps.spec.op, ps.spec.mode, ps.spec.block, n, ps.step, {}};
  std::vector<int64_t> s1shape = ps.rows1 > 1 ? std::vector<int64_t>{ps.rows1, n} : std::vector<int64_t>{n};
  QSTEP_RETURN_IF_ERROR(pull(ps, ps.state1, RawTensor{"state1", q, s1shape, {}}, out, with_data));
  if (ps.has_state2) QSTEP_RETURN_IF_ERROR(pull(ps, ps.state2, RawTensor{"state2", q, {n}, {}}, out, with_data));
  if (q) {
    const bool bw = ps.spec.mode == StateMode::BLOCKWISE8;
    const char* n1 = bw ? "absmax1" : "max1";
    const char* n2 = bw ? "absmax2" : "max2";
    std::vector<int64_t> sc1 = ps.rows1 > 1 ? std::vector<int64_t>{ps.rows1, ps.blocks}
                                            : std::vector<int64_t>{ps.blocks};
    QSTEP_RETURN_IF_ERROR(pull(ps, ps.scales1, RawTensor{n1, false, sc1, {}}, out, with_data));
    if (ps.has_state2) {
      QSTEP_RETURN_IF_ERROR(pull(ps, ps.scales2, RawTensor{n2, false, {ps.blocks}, {}}, out, with_data));
    }
    out.tensors.push_back(f32_tensor("qmap1", ps.qmap1, {kMapSize}));
    if (ps.has_state2) out.tensors.push_back(f32_tensor("qmap2", ps.qmap2, {kMapSize}));
  }
  if (ps.spec.trust) out.tensors.push_back(f32_tensor("unorm", {ps.unorm}, {1}));
  if (!ps.gnorm_hist.empty()) out.tensors.push_back(f32_tensor("gnorm_hist", ps.gnorm_hist, {kPercentileHistory}));
  return Status::Ok();
}

Status export_state(ParamState& ps, RawState& out) { return describe_state(ps, out, true); }

static std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

Status import_state(ParamState& ps, const RawState& in) {
  if (ps.freed) return Status::Error(Code::FREED, "parameter was freed");
  auto mismatch = [](std::string m) { return Status::Error(Code::STATE_MISMATCH, std::move(m)); };
  if (in.op != ps.spec.op) return mismatch("state belongs to another optimizer family");
  if (in.mode != ps.spec.mode) return mismatch("state mode differs from the parameter's");
  if (in.n != ps.spec.n) return mismatch("element count differs");
  if (ps.spec.mode == StateMode::BLOCKWISE8 && in.block != ps.spec.block) {
    return mismatch("block size " + std::to_string(in.block) + " differs from the parameter's " +
                    std::to_string(ps.spec.block));
  }
  if (in.step < 0) return Status::Error(Code::INVALID_ARGUMENT, "negative step");
  // Validate everything first, then write: a rejected import changes nothing.
  RawState expect;
  QSTEP_RETURN_IF_ERROR(describe_state(ps, expect, false));
  if (in.tensors.size() != expect.tensors.size()) {
    std::string names;
    for (auto& t : expect.tensors) names += (names.empty() ? "" : ", ") + t.name;
    return mismatch("expected the tensors " + names);
  }
  std::vector<const RawTensor*> ordered;
  for (auto& e : expect.tensors) {
    const RawTensor* found = nullptr;
    for (auto& t : in.tensors) if (t.name == e.name) found = &t;
    if (!found) return mismatch("missing state tensor " + e.name);
    if (found->u8 != e.u8) return mismatch(e.name + " has the wrong dtype");
    int64_t count = 1;
    for (auto d : found->shape) count *= d;
    int64_t want = 1;
    for (auto d : e.shape) want *= d;
    // A blockwise scale vector's length identifies its block size (T12): refuse any other length.
    if (count != want || found->data.size() != e.data.size()) {
      return mismatch(e.name + " has shape " + shape_str(found->shape) + ", expected " + shape_str(e.shape));
    }
    ordered.push_back(found);
  }
  std::vector<float> qmap1 = ps.qmap1, qmap2 = ps.qmap2, hist = ps.gnorm_hist;
  float unorm = ps.unorm;
  auto floats = [](const RawTensor& t) {
    std::vector<float> v(t.data.size() / 4);
    std::memcpy(v.data(), t.data.data(), t.data.size());
    return v;
  };
  for (auto* t : ordered) {
    if (t->name == "qmap1") qmap1 = floats(*t);
    else if (t->name == "qmap2") qmap2 = floats(*t);
    else if (t->name == "gnorm_hist") hist = floats(*t);
    else if (t->name == "unorm") unorm = floats(*t)[0];
  }
  for (auto* m : {&qmap1, &qmap2}) {
    for (size_t i = 1; i < m->size(); ++i) {
      if (!((*m)[i - 1] < (*m)[i])) return Status::Error(Code::INVALID_ARGUMENT, "a quantization map must be sorted");
    }
  }
  for (auto* t : ordered) {
    Storage* dst = t->name == "state1" ? &ps.state1 : t->name == "state2" ? &ps.state2
                 : (t->name == "absmax1" || t->name == "max1") ? &ps.scales1
                 : (t->name == "absmax2" || t->name == "max2") ? &ps.scales2 : nullptr;
    if (dst && dst->bytes) QSTEP_RETURN_IF_ERROR(ps.backend->from_host(*dst, 0, t->data.data(), dst->bytes));
  }
  if (ps.quantized()) {
    auto set_map = [](const std::vector<float>& m, bool is_signed, std::shared_ptr<const Codebook>& cb,
                      std::shared_ptr<const FastQuantizer>& fq) {
      auto def = default_codebook(is_signed);
      if (std::memcmp(m.data(), def->code, kMapSize * 4) == 0) {
        cb = def;
        fq = default_quantizer(is_signed);
      } else {
        cb = std::make_shared<const Codebook>(make_codebook(m.data()));
        fq = std::make_shared<const FastQuantizer>(*cb);
      }
    };
    ps.qmap1 = qmap1;
    set_map(qmap1, true, ps.cb1, ps.fq1);
    if (ps.has_state2) {
      ps.qmap2 = qmap2;
      set_map(qmap2, false, ps.cb2, ps.fq2);
    }
  }
  ps.gnorm_hist = hist;
  ps.unorm = unorm;
  ps.step = in.step;
  return Status::Ok();
}

MemoryReport memory_report(const ParamState& ps) {
  MemoryReport r;
  if (ps.freed) return r;
  r.param = ps.param.bytes;
  r.state = ps.state1.bytes + ps.state2.bytes;
  r.scales = ps.scales1.bytes + ps.scales2.bytes;
  r.maps = (ps.qmap1.size() + ps.qmap2.size()) * 4;
  r.percentile_history = ps.gnorm_hist.size() * 4;
  r.paged = (ps.state1.paged() ? ps.state1.bytes : 0) + (ps.state2.paged() ? ps.state2.bytes : 0);
  for (const Storage* st : {&ps.state1, &ps.state2}) {
    if (st->paged()) r.paged_resident += ps.backend->resident_bytes(*st);
  }
  r.fp32_state_equivalent = size_t(ps.streams) * size_t(ps.spec.n) * 4;
  return r;
}

}  // namespace qstep
