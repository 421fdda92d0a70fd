// The addon's export table. No math here; see api.h for what each entry does.
#include <napi.h>

#include "../cuda/cuda_backend.h"
#include "api.h"

namespace qstep {

#define QSTEP_EXPORT(name, fn) \
  exports.Set(name, Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return guarded(i, [&] { return fn(i); }); }))

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::String::New(env, QSTEP_VERSION));
  exports.Set("cudaBuilt", Napi::Boolean::New(env, cuda_built()));
  exports.Set("constants", constants(env));
  QSTEP_EXPORT("qmap", qmap);
  QSTEP_EXPORT("nearestCodes", nearest_codes);
  QSTEP_EXPORT("quantizeStates", quantize_states);
  QSTEP_EXPORT("decodeStates", decode_states);
  QSTEP_EXPORT("quantizeBlockwise", quantize_blockwise_js);
  QSTEP_EXPORT("dequantizeBlockwise", dequantize_blockwise_js);
  QSTEP_EXPORT("backendCreate", backend_create);
  QSTEP_EXPORT("backendInfo", backend_info);
  QSTEP_EXPORT("cudaProbe", cuda_probe_js);
  QSTEP_EXPORT("backendBandwidthProbe", backend_bandwidth_probe);
  QSTEP_EXPORT("paramCreate", param_create);
  QSTEP_EXPORT("paramWrite", param_write);
  QSTEP_EXPORT("paramRead", param_read);
  QSTEP_EXPORT("paramReadInto", param_read_into);
  QSTEP_EXPORT("paramStep", param_step);
  QSTEP_EXPORT("paramMemory", param_memory);
  QSTEP_EXPORT("paramFree", param_free);
  QSTEP_EXPORT("paramCommit", param_commit);
  QSTEP_EXPORT("backendTrim", backend_trim);
  QSTEP_EXPORT("setHeapTrimThreshold", set_heap_trim_threshold);
  QSTEP_EXPORT("stepMany", step_many);
  QSTEP_EXPORT("gradCopyChecked", grad_copy_checked);
  QSTEP_EXPORT("stateExport", state_export);
  QSTEP_EXPORT("stateImport", state_import);
  return exports;
}

}  // namespace qstep

static Napi::Object InitQstep(Napi::Env env, Napi::Object exports) { return qstep::Init(env, exports); }

NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitQstep)
