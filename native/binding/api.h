// The functions addon.cc exports (declared in TS in native/lib/native.ts).
#pragma once

#include <napi.h>

namespace qstep {

Napi::Object constants(Napi::Env env);
Napi::Value qmap(const Napi::CallbackInfo& info);
Napi::Value nearest_codes(const Napi::CallbackInfo& info);
Napi::Value quantize_states(const Napi::CallbackInfo& info);
Napi::Value decode_states(const Napi::CallbackInfo& info);
Napi::Value quantize_blockwise_js(const Napi::CallbackInfo& info);
Napi::Value dequantize_blockwise_js(const Napi::CallbackInfo& info);

Napi::Value backend_create(const Napi::CallbackInfo& info);
Napi::Value backend_info(const Napi::CallbackInfo& info);
Napi::Value cuda_probe_js(const Napi::CallbackInfo& info);
Napi::Value backend_bandwidth_probe(const Napi::CallbackInfo& info);

Napi::Value param_create(const Napi::CallbackInfo& info);
Napi::Value param_write(const Napi::CallbackInfo& info);
Napi::Value param_read(const Napi::CallbackInfo& info);
Napi::Value param_read_into(const Napi::CallbackInfo& info);
Napi::Value param_step(const Napi::CallbackInfo& info);
Napi::Value param_memory(const Napi::CallbackInfo& info);
Napi::Value param_free(const Napi::CallbackInfo& info);
Napi::Value param_commit(const Napi::CallbackInfo& info);
Napi::Value backend_trim(const Napi::CallbackInfo& info);
Napi::Value set_heap_trim_threshold(const Napi::CallbackInfo& info);
Napi::Value step_many(const Napi::CallbackInfo& info);
Napi::Value grad_copy_checked(const Napi::CallbackInfo& info);
Napi::Value state_export(const Napi::CallbackInfo& info);
Napi::Value state_import(const Napi::CallbackInfo& info);

// Runs fn, turning ArgError and other C++ exceptions into JS exceptions.
template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, F&& fn) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    Napi::Error::New(info.Env(), e.what()).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
}

}  // namespace qstep
