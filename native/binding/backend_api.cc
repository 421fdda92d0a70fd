// Backends: creation (CPU or CUDA) and what they report.
#include <malloc.h>

#include "../cpu/cpu_backend.h"
#include "../cuda/cuda_backend.h"
#include "api.h"
#include "handles.h"
#include "worker.h"

namespace qstep {

Napi::Value backend_create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!arg(info, 0).IsString()) throw ArgError("expected 'cpu' or 'cuda' for kind");
  const std::string kind = info[0].As<Napi::String>().Utf8Value();
  Napi::Object opts = object(arg(info, 1), "options");
  const int threads = int(integer(field(opts, "threads"), "threads", 0, 1024));
  const int device = int(integer(field(opts, "device"), "device", 0, 1024));
  std::unique_ptr<Backend> b;
  Napi::Value budget = opts.Get("pagedBudgetBytes");
  const int64_t paged_budget = budget.IsUndefined() ? 0 : integer(budget, "pagedBudgetBytes", 0, int64_t(1) << 50);
  if (kind == "cpu") {
    b = make_cpu_backend(threads, size_t(paged_budget));
  } else if (kind == "cuda") {
    Status st = make_cuda_backend(device, b);
    if (!st.ok()) return throw_status(env, st);
  } else {
    throw ArgError("expected 'cpu' or 'cuda' for kind");
  }
  return wrap(env, new BackendBox{std::shared_ptr<Backend>(std::move(b))});
}

Napi::Value backend_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Backend& b = *unwrap<BackendBox>(arg(info, 0), "backend").backend;
  Napi::Object o = Napi::Object::New(env);
  o.Set("kind", b.kind());
  o.Set("threads", b.threads());
  DeviceInfo d;
  if (b.device_info(d)) {
    Napi::Object dev = Napi::Object::New(env);
    dev.Set("name", d.name);
    dev.Set("totalBytes", double(d.total_bytes));
    dev.Set("freeBytes", double(d.free_bytes));
    o.Set("device", dev);
  } else {
    o.Set("device", env.Null());
  }
  return o;
}

Napi::Value backend_bandwidth_probe(const Napi::CallbackInfo& info) {
  auto backend = unwrap<BackendBox>(arg(info, 0), "backend").backend;
  const int64_t n = integer(arg(info, 1), "numel", 1, int64_t(1) << 34);
  const int iters = int(integer(arg(info, 2), "iters", 1, 100000));
  auto ms = std::make_shared<double>(0.0);
  return TaskWorker::Start(
      info.Env(), [=]() { return backend->bandwidth_probe(n, iters, *ms); },
      [=](Napi::Env e) -> Napi::Value { return Napi::Number::New(e, *ms); });
}

// backendTrim(backend): gives freed heap memory back to the OS on a worker thread (after a model's deletion).
Napi::Value backend_trim(const Napi::CallbackInfo& info) {
  auto backend = unwrap<BackendBox>(arg(info, 0), "backend").backend;
  return TaskWorker::Start(
      info.Env(),
      [=]() {
        backend->trim();
        return Status::Ok();
      },
      [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
}

// setHeapTrimThreshold(bytes): freed heap memory up to this much stays with the process for reuse, instead of going
// back to the OS whenever the top of the heap is free (glibc's M_TRIM_THRESHOLD, 128 KiB by default). A server that
// receives and frees megabytes of socket buffers per step otherwise pays page faults for them again and again; the
// reclaim after a model's deletion still returns everything (malloc_trim ignores the threshold). Returns false where
// the C library is not glibc (nothing changed).
Napi::Value set_heap_trim_threshold(const Napi::CallbackInfo& info) {
  const int64_t bytes = integer(arg(info, 0), "bytes", 0, (int64_t(1) << 31) - 1);
#if defined(__GLIBC__)
  return Napi::Boolean::New(info.Env(), mallopt(M_TRIM_THRESHOLD, int(bytes)) == 1);
#else
  (void)bytes;
  return Napi::Boolean::New(info.Env(), false);
#endif
}

Napi::Value cuda_probe_js(const Napi::CallbackInfo& info) {
  CudaProbe p = cuda_probe();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("ok", p.ok);
  o.Set("count", p.count);
  o.Set("message", p.message);
  return o;
}

}  // namespace qstep
