{
  # qstep's native addon. The C++ core (native/) has no Node dependency; native/binding/ is the thin Node-API
  # layer. -fno-math-errno lets g++ vectorize loops with sqrt (service-notes: 3x on fp32 Adam); x86-64-v3 (AVX2,
  # FMA, F16C) is as fast as -march=native on the build machines and stays portable.
  "variables": {
    "qstep_version": "<!(node -p \"require('./package.json').version\")"
  },
  "targets": [
    {
      "target_name": "qstep",
      "sources": [
        "native/binding/addon.cc",
        "native/binding/backend_api.cc",
        "native/binding/param_api.cc",
        "native/binding/quant_api.cc",
        "native/engine/engine.cc",
        "native/cpu/cpu_backend.cc",
        "native/cuda/cuda_stub.cc"
      ],
      "include_dirs": [
        "<!@(node -p \"require('node-addon-api').include\")",
        "native/include"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "QSTEP_VERSION=\"<(qstep_version)\""
      ],
      "cflags!": ["-fno-exceptions", "-O2"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-O2"],
      "cflags_cc": ["-std=c++17", "-O3", "-march=x86-64-v3", "-fno-math-errno", "-fexceptions", "-Wall", "-Wno-unknown-pragmas"],
      "cflags": ["-O3", "-march=x86-64-v3", "-fno-math-errno"],
      "ldflags": ["-pthread"]
    }
  ]
}
