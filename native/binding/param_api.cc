// Parameters: create, values in and out, the step, state export/import, memory, free.
#include <algorithm>
#include <cstring>

#include "../engine/finite.h"
#include "api.h"
#include "handles.h"
#include "worker.h"

namespace qstep {

// A Buffer that owns a heap vector (no copy back into JS).
static Napi::Buffer<uint8_t> owned_buffer(Napi::Env env, std::vector<uint8_t>&& bytes) {
  auto* v = new std::vector<uint8_t>(std::move(bytes));
  if (v->empty()) {
    delete v;
    return Napi::Buffer<uint8_t>::New(env, 0);
  }
  return Napi::Buffer<uint8_t>::New(env, v->data(), v->size(), [](Napi::Env, uint8_t*, std::vector<uint8_t>* p) {
    delete p;
  }, v);
}

Napi::Value param_create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BackendBox& bb = unwrap<BackendBox>(arg(info, 0), "backend");
  Napi::Object o = object(arg(info, 1), "spec");
  ParamSpec spec;
  spec.n = integer(field(o, "numel"), "numel", 1, kMaxElements);
  spec.dtype = dtype_arg(field(o, "dtype"), "dtype");
  spec.op = OpKind(integer(field(o, "opKind"), "opKind", 0, kNumOpKinds - 1));
  spec.mode = StateMode(integer(field(o, "mode"), "mode", 0, 2));
  spec.block = integer(field(o, "blockSize"), "blockSize", 1, 1 << 20);
  spec.trust = boolean(field(o, "trustRatio"), "trustRatio");
  spec.percentile = int(integer(field(o, "percentile"), "percentile", 0, 100));
  spec.paged = boolean(field(o, "paged"), "paged");
  Napi::Value dir = field(o, "pagedDir");
  if (!dir.IsString()) throw ArgError("expected a string for pagedDir");
  spec.paged_dir = dir.As<Napi::String>().Utf8Value();
  std::shared_ptr<ParamState> ps;
  Status st = create_param(*bb.backend, spec, ps);
  if (!st.ok()) return throw_status(env, st);
  return wrap(env, new ParamBox{ps, bb.backend});
}

// On the worker thread: holds the parameter, checks it is alive and that [offset, offset + count) lies inside it,
// then runs io (a read or write of those elements).
template <class F>
Status in_range(ParamState& ps, int64_t offset, int64_t count, const char* what, F&& io) {
  ParamGuard g(ps);
  if (ps.freed) return Status::Error(Code::FREED, "parameter was freed");
  if (offset + count > ps.spec.n) return Status::Error(Code::INVALID_ARGUMENT, std::string(what) + " past the parameter");
  return io();
}

Napi::Value param_write(const Napi::CallbackInfo& info) {
  ParamBox& pb = unwrap<ParamBox>(arg(info, 0), "param");
  const int64_t offset = integer(arg(info, 1), "offset", 0, kMaxElements);
  Napi::Buffer<uint8_t> data = buffer(arg(info, 2), "data");
  const DType dt = dtype_arg(arg(info, 3), "dtype");
  const int64_t count = int64_t(data.Length()) / dtype_bytes(dt);
  if (count * dtype_bytes(dt) != int64_t(data.Length())) throw ArgError("data is not a whole number of elements");
  auto ps = pb.state;
  const uint8_t* src = data.Data();
  return TaskWorker::Start(
      info.Env(),
      [=]() {
        return in_range(*ps, offset, count, "write", [&] { return ps->backend->write_param(*ps, offset, src, dt, count); });
      },
      [](Napi::Env e) -> Napi::Value { return e.Undefined(); }, {data});
}

// Heap bytes handed to JS as a Buffer without a copy and without zero-filling first (every byte is written).
struct RawBytes {
  uint8_t* data = nullptr;
  size_t size = 0;
  ~RawBytes() { delete[] data; }
};

Napi::Value param_read(const Napi::CallbackInfo& info) {
  ParamBox& pb = unwrap<ParamBox>(arg(info, 0), "param");
  const int64_t offset = integer(arg(info, 1), "offset", 0, kMaxElements);
  const int64_t count = integer(arg(info, 2), "count", 0, kMaxElements);
  const DType dt = dtype_arg(arg(info, 3), "dtype");
  auto ps = pb.state;
  auto out = std::make_shared<RawBytes>();
  return TaskWorker::Start(
      info.Env(),
      [=]() {
        return in_range(*ps, offset, count, "read", [&] {
          out->size = size_t(count) * size_t(dtype_bytes(dt));
          out->data = new uint8_t[out->size ? out->size : 1];
          return ps->backend->read_param(*ps, offset, out->data, dt, count);
        });
      },
      [=](Napi::Env e) -> Napi::Value {
        if (out->size == 0) return Napi::Buffer<uint8_t>::New(e, 0);
        auto* owner = new RawBytes{out->data, out->size};
        out->data = nullptr;
        return Napi::Buffer<uint8_t>::New(e, owner->data, owner->size,
                                          [](Napi::Env, uint8_t*, RawBytes* o) { delete o; }, owner);
      });
}

// paramReadInto(param, offset, count, dtype, dst, dstByteOffset): like paramRead, into the caller's buffer (reused
// across steps, so that returning weights allocates nothing). The caller leaves dst alone until the promise settles.
Napi::Value param_read_into(const Napi::CallbackInfo& info) {
  ParamBox& pb = unwrap<ParamBox>(arg(info, 0), "param");
  const int64_t offset = integer(arg(info, 1), "offset", 0, kMaxElements);
  const int64_t count = integer(arg(info, 2), "count", 0, kMaxElements);
  const DType dt = dtype_arg(arg(info, 3), "dtype");
  Napi::Buffer<uint8_t> dst = buffer(arg(info, 4), "dst");
  const int64_t at = integer(arg(info, 5), "dstByteOffset", 0, int64_t(dst.Length()));
  if (at + count * dtype_bytes(dt) > int64_t(dst.Length())) throw ArgError("read past the end of the destination");
  auto ps = pb.state;
  uint8_t* out = dst.Data() + at;
  return TaskWorker::Start(
      info.Env(),
      [=]() {
        return in_range(*ps, offset, count, "read", [&] { return ps->backend->read_param(*ps, offset, out, dt, count); });
      },
      [](Napi::Env e) -> Napi::Value { return e.Undefined(); }, {dst});
}

Napi::Value param_step(const Napi::CallbackInfo& info) {
  ParamBox& pb = unwrap<ParamBox>(arg(info, 0), "param");
  if (pb.state->freed) return throw_status(info.Env(), Status::Error(Code::FREED, "parameter was freed"));
  return Napi::Number::New(info.Env(), pb.state->step);
}

Napi::Value param_memory(const Napi::CallbackInfo& info) {
  ParamBox& pb = unwrap<ParamBox>(arg(info, 0), "param");
  MemoryReport r = memory_report(*pb.state);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("param", double(r.param));
  o.Set("state", double(r.state));
  o.Set("scales", double(r.scales));
  o.Set("maps", double(r.maps));
  o.Set("percentileHistory", double(r.percentile_history));
  o.Set("paged", double(r.paged));
  o.Set("pagedResident", double(r.paged_resident));
  o.Set("fp32StateEquivalent", double(r.fp32_state_equivalent));
  return o;
}

// paramCommit(param): makes the parameter's memory real (Backend::commit) on a worker thread: faulting in a few
// GiB takes about a second, which the event loop must not wait for.
Napi::Value param_commit(const Napi::CallbackInfo& info) {
  auto ps = unwrap<ParamBox>(arg(info, 0), "param").state;
  return TaskWorker::Start(
      info.Env(),
      [=]() {
        ParamGuard g(*ps);
        return commit_param(*ps);
      },
      [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
}

Napi::Value param_free(const Napi::CallbackInfo& info) {
  request_free(*unwrap<ParamBox>(arg(info, 0), "param").state);
  return info.Env().Undefined();
}

static Hyper hyper_arg(Napi::Object o) {
  Hyper h;
  h.lr = float(num(field(o, "lr"), "lr"));
  h.beta1 = num(field(o, "beta1"), "beta1");  // double: the AdEMAMix schedule needs the given values
  h.beta2 = num(field(o, "beta2"), "beta2");
  h.beta3 = num(field(o, "beta3"), "beta3");
  h.alpha = num(field(o, "alpha"), "alpha");
  h.eps = float(num(field(o, "eps"), "eps"));
  h.weight_decay = float(num(field(o, "weightDecay"), "weightDecay"));
  h.t_alpha = num(field(o, "tAlpha"), "tAlpha");
  h.t_beta3 = num(field(o, "tBeta3"), "tBeta3");
  h.skip_zeros = boolean(field(o, "skipZeros"), "skipZeros");
  h.zero_v_guard = boolean(field(o, "zeroVGuard"), "zeroVGuard");
  h.max_unorm = float(num(field(o, "maxUnorm"), "maxUnorm"));
  return h;
}

Napi::Value step_many(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BackendBox& bb = unwrap<BackendBox>(arg(info, 0), "backend");
  if (!arg(info, 1).IsArray()) throw ArgError("expected an array for items");
  Napi::Array items = info[1].As<Napi::Array>();
  const bool error_on_non_finite = boolean(arg(info, 2), "errorOnNonFinite");
  std::vector<StepWork> work;
  std::vector<std::shared_ptr<ParamState>> owners;
  std::vector<Napi::Value> keep;
  for (uint32_t i = 0; i < items.Length(); ++i) {
    Napi::Object it = object(items.Get(i), "item");
    ParamBox& pb = unwrap<ParamBox>(field(it, "param"), "param");
    if (pb.backend != bb.backend) throw ArgError("a parameter belongs to another backend");
    Napi::Buffer<uint8_t> g = buffer(field(it, "grad"), "grad");
    StepWork w;
    w.ps = pb.state.get();
    w.grad = g.Data();
    w.grad_dtype = dtype_arg(field(it, "gradDtype"), "gradDtype");
    if (int64_t(g.Length()) != pb.state->spec.n * dtype_bytes(w.grad_dtype)) throw ArgError("gradient length");
    w.hyper = hyper_arg(object(field(it, "hyper"), "hyper"));
    w.grad_finite = boolean(field(it, "gradFinite"), "gradFinite");
    for (auto& o : owners) if (o == pb.state) throw ArgError("a parameter appears twice in one step");
    owners.push_back(pb.state);
    work.push_back(w);
    keep.push_back(g);
  }
  auto backend = bb.backend;
  auto outcome = std::make_shared<StepOutcome>();
  return TaskWorker::Start(
      env,
      [=]() mutable {
        // Lock every parameter of the step in address order (no deadlock between overlapping steps).
        std::vector<ParamState*> order;
        for (auto& o : owners) order.push_back(o.get());
        std::sort(order.begin(), order.end());
        std::vector<std::unique_ptr<ParamGuard>> guards;
        for (ParamState* p : order) guards.push_back(std::make_unique<ParamGuard>(*p));
        for (ParamState* p : order) {
          if (p->freed) return Status::Error(Code::FREED, "a parameter of this step was freed");
        }
        return backend->step(work, error_on_non_finite, *outcome);
      },
      [=](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("skipped", outcome->skipped);
        Napi::Array nf = Napi::Array::New(e, outcome->non_finite.size());
        for (size_t i = 0; i < outcome->non_finite.size(); ++i) nf.Set(uint32_t(i), outcome->non_finite[i]);
        o.Set("nonFinite", nf);
        Napi::Array rs = Napi::Array::New(e, outcome->results.size());
        for (size_t i = 0; i < outcome->results.size(); ++i) {
          Napi::Object r = Napi::Object::New(e);
          r.Set("step", outcome->results[i].step);
          r.Set("gnormScale", outcome->results[i].gnorm_scale);
          r.Set("updateScale", outcome->results[i].update_scale);
          rs.Set(uint32_t(i), r);
        }
        o.Set("results", rs);
        return o;
      },
      keep);
}

// gradCopyChecked(dst, dstByteOffset, src, dtype) -> true if every element of src is finite. Synchronous: it moves
// one received chunk (at most a few MiB) at memcpy speed, which is what staging would cost without the check.
Napi::Value grad_copy_checked(const Napi::CallbackInfo& info) {
  Napi::Buffer<uint8_t> dst = buffer(arg(info, 0), "dst");
  const int64_t at = integer(arg(info, 1), "dstByteOffset", 0, int64_t(dst.Length()));
  Napi::Buffer<uint8_t> src = buffer(arg(info, 2), "src");
  const DType d = dtype_arg(arg(info, 3), "dtype");
  const int64_t width = dtype_bytes(d);
  const int64_t bytes = int64_t(src.Length());
  if (bytes % width != 0 || at % width != 0) throw ArgError("chunk offset and length must be whole elements");
  if (reinterpret_cast<uintptr_t>(dst.Data() + at) % uintptr_t(width) != 0) throw ArgError("misaligned destination");
  if (at + bytes > int64_t(dst.Length())) throw ArgError("chunk past the end of the destination");
  const bool bad = copy_checked(d, src.Data(), dst.Data() + at, bytes / width);
  return Napi::Boolean::New(info.Env(), !bad);
}

Napi::Value state_export(const Napi::CallbackInfo& info) {
  auto ps = unwrap<ParamBox>(arg(info, 0), "param").state;
  auto raw = std::make_shared<RawState>();
  return TaskWorker::Start(
      info.Env(),
      [=]() {
        ParamGuard g(*ps);
        return export_state(*ps, *raw);
      },
      [=](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("opKind", int(raw->op));
        o.Set("mode", int(raw->mode));
        o.Set("blockSize", double(raw->block));
        o.Set("numel", double(raw->n));
        o.Set("step", raw->step);
        Napi::Array ts = Napi::Array::New(e, raw->tensors.size());
        for (size_t i = 0; i < raw->tensors.size(); ++i) {
          RawTensor& t = raw->tensors[i];
          Napi::Object to = Napi::Object::New(e);
          to.Set("name", t.name);
          to.Set("dtype", t.u8 ? "u8" : "f32");
          Napi::Array shape = Napi::Array::New(e, t.shape.size());
          for (size_t d = 0; d < t.shape.size(); ++d) shape.Set(uint32_t(d), double(t.shape[d]));
          to.Set("shape", shape);
          to.Set("data", owned_buffer(e, std::move(t.data)));
          ts.Set(uint32_t(i), to);
        }
        o.Set("tensors", ts);
        return o;
      });
}

Napi::Value state_import(const Napi::CallbackInfo& info) {
  auto ps = unwrap<ParamBox>(arg(info, 0), "param").state;
  Napi::Object o = object(arg(info, 1), "state");
  auto raw = std::make_shared<RawState>();
  raw->op = OpKind(integer(field(o, "opKind"), "opKind", 0, kNumOpKinds - 1));
  raw->mode = StateMode(integer(field(o, "mode"), "mode", 0, 2));
  raw->block = integer(field(o, "blockSize"), "blockSize", 0, 1 << 20);
  raw->n = integer(field(o, "numel"), "numel", 0, kMaxElements);
  raw->step = int32_t(integer(field(o, "step"), "step", 0, INT32_MAX));
  Napi::Value tv = field(o, "tensors");
  if (!tv.IsArray()) throw ArgError("expected an array for tensors");
  Napi::Array ts = tv.As<Napi::Array>();
  auto spans = std::make_shared<std::vector<std::pair<const uint8_t*, size_t>>>();
  std::vector<Napi::Value> keep;
  for (uint32_t i = 0; i < ts.Length(); ++i) {
    Napi::Object t = object(ts.Get(i), "tensor");
    RawTensor r;
    Napi::Value name = field(t, "name"), dt = field(t, "dtype");
    if (!name.IsString() || !dt.IsString()) throw ArgError("tensor name and dtype must be strings");
    r.name = name.As<Napi::String>().Utf8Value();
    const std::string d = dt.As<Napi::String>().Utf8Value();
    if (d != "u8" && d != "f32") throw ArgError("tensor dtype must be u8 or f32");
    r.u8 = d == "u8";
    Napi::Value sv = field(t, "shape");
    if (!sv.IsArray()) throw ArgError("expected an array for shape");
    Napi::Array shape = sv.As<Napi::Array>();
    for (uint32_t k = 0; k < shape.Length(); ++k) r.shape.push_back(integer(shape.Get(k), "shape", 0, kMaxElements));
    Napi::Buffer<uint8_t> data = buffer(field(t, "data"), "data");
    spans->push_back({data.Data(), data.Length()});
    keep.push_back(data);
    raw->tensors.push_back(std::move(r));
  }
  // The bytes are copied on the worker thread (a state can be gigabytes); the Buffers stay alive until then.
  return TaskWorker::Start(
      info.Env(),
      [=]() {
        for (size_t i = 0; i < spans->size(); ++i) {
          raw->tensors[i].data.assign((*spans)[i].first, (*spans)[i].first + (*spans)[i].second);
        }
        ParamGuard g(*ps);
        return import_state(*ps, *raw);
      },
      [](Napi::Env e) -> Napi::Value { return e.Undefined(); }, keep);
}

}  // namespace qstep
