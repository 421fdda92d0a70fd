// Baton + AsyncWorker + Promise (house style 9): arguments are converted on the JS thread into plain C++ values,
// Execute runs on a libuv worker thread with no N-API calls, and the promise settles in OnOK / OnError. Buffers
// the work reads or writes are kept alive by references until the promise settles.
#pragma once

#include <napi.h>

#include <functional>
#include <utility>
#include <vector>

#include "qstep/status.h"

namespace qstep {

class TaskWorker final : public Napi::AsyncWorker {
 public:
  using Exec = std::function<Status()>;
  using Done = std::function<Napi::Value(Napi::Env)>;

  // Queues the task and returns its promise.
  static Napi::Promise Start(Napi::Env env, Exec exec, Done done, std::vector<Napi::Value> keep = {}) {
    auto* w = new TaskWorker(env, std::move(exec), std::move(done), keep);
    Napi::Promise p = w->deferred_.Promise();
    w->Queue();
    return p;
  }

 private:
  TaskWorker(Napi::Env env, Exec exec, Done done, const std::vector<Napi::Value>& keep)
      : Napi::AsyncWorker(env, "qstep"), deferred_(Napi::Promise::Deferred::New(env)), exec_(std::move(exec)),
        done_(std::move(done)) {
    for (const auto& v : keep) keep_.push_back(Napi::Persistent(v));
  }

  void Execute() override {
    Status st;
    try {
      st = exec_();
    } catch (const std::bad_alloc&) {
      st = Status::Error(Code::OUT_OF_MEMORY, "host allocation failed");
    } catch (const std::exception& e) {
      st = Status::Error(Code::INTERNAL, e.what());
    }
    if (!st.ok()) SetError(st.to_string());
  }

  void OnOK() override { deferred_.Resolve(done_(Env())); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

  Napi::Promise::Deferred deferred_;
  Exec exec_;
  Done done_;
  std::vector<Napi::Reference<Napi::Value>> keep_;
};

// Throws a JS Error whose message carries the code ("CODE: text"); native/lib/errors.ts converts it.
inline Napi::Value throw_status(Napi::Env env, const Status& st) {
  Napi::Error::New(env, st.to_string()).ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace qstep
