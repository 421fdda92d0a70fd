{
  # qstep's native code: the one build description. node-gyp builds the addon from it (npm install, npm run
  # build:native); scripts/native-build.js reads the same source lists, flags and nvcc rule for every other build
  # (the addon without npm, the CUDA check program, the CUDA emulator check, the ASan+UBSan check, prebuilds).
  # The C++ core (native/) has no Node dependency; native/binding/ is the thin Node-API layer.
  #
  # Host flags come from native/cpu.flags through scripts/cuda-config.js (one line for every architecture, one per
  # architecture: x64 gets x86-64-v3, arm64 the portable code). -fno-math-errno lets g++ vectorize loops with sqrt
  # (service-notes: 3x on fp32 Adam) and -fno-trapping-math lets it turn the per-element option selects into blends.
  #
  # CUDA: when scripts/cuda-config.js finds a working nvcc (and QSTEP_CUDA is not 0), native/cuda/*.cu are
  # compiled by the nvcc rule below for sm_80 and sm_90 plus compute_90 PTX (QSTEP_CUDA_ARCHS narrows this while
  # iterating) and cudart is linked statically, so the addon needs only the driver at run time and loads on
  # machines with none. Without nvcc, native/cuda/cuda_stub.cc gives the CPU-only build with the same API.
  # nvcc runs without --use_fast_math: exact division and sqrt, as on the CPU (spec D1).
  "variables": {
    "qstep_version": "<!(node -p \"require('./package.json').version\")",
    "qstep_cuda": "<!(node scripts/cuda-config.js enabled)",
    "qstep_core_sources": [
      "native/engine/engine.cc",
      "native/cpu/cpu_backend.cc"
    ],
    "qstep_binding_sources": [
      "native/binding/addon.cc",
      "native/binding/backend_api.cc",
      "native/binding/param_api.cc",
      "native/binding/quant_api.cc"
    ],
    "qstep_cuda_sources": [
      "native/cuda/cuda_backend.cu",
      "native/cuda/cuda_step.cu",
      "native/cuda/staging.cu",
      "native/cuda/elementwise.cu",
      "native/cuda/reduce.cu",
      "native/cuda/fp32_update.cu",
      "native/cuda/blockwise8_update.cu",
      "native/cuda/static8_update.cu"
    ],
    "qstep_cuda_stub_sources": ["native/cuda/cuda_stub.cc"],
    "qstep_check_sources": [
      "native/tests/cuda_vs_cpu.cc",
      "native/tests/bench.cc"
    ]
  },
  "targets": [
    {
      "target_name": "qstep",
      "sources": ["<@(qstep_binding_sources)", "<@(qstep_core_sources)"],
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
      "cflags_cc": ["-std=c++17", "-O3", "<!@(node scripts/cuda-config.js cpuflags)", "-fexceptions", "-Wall", "-Wno-unknown-pragmas"],
      "cflags": ["-O3", "<!@(node scripts/cuda-config.js cpuflags)"],
      "ldflags": ["-pthread"],
      "conditions": [
        ["qstep_cuda==1", {
          "sources": ["<@(qstep_cuda_sources)"],
          "defines": ["QSTEP_WITH_CUDA"],
          "libraries": [
            "<!(node scripts/cuda-config.js lib)/libcudart_static.a",
            "-ldl",
            "-lrt",
            "-lpthread"
          ],
          "rules": [
            {
              "rule_name": "nvcc",
              "extension": "cu",
              "message": "NVCC <(RULE_INPUT_PATH)",
              "inputs": ["<!@(node scripts/cuda-config.js headers)"],
              "outputs": ["<(INTERMEDIATE_DIR)/<(RULE_INPUT_ROOT).cu.o"],
              "action": [
                "<!(node scripts/cuda-config.js nvcc)",
                "-c", "<(RULE_INPUT_PATH)",
                "-o", "<(INTERMEDIATE_DIR)/<(RULE_INPUT_ROOT).cu.o",
                "-std=c++17", "-O3",
                "<!@(node scripts/cuda-config.js gencode)",
                "-Xcompiler", "-fPIC,-O3,<!(node scripts/cuda-config.js cpuflags ,)",
                "-DQSTEP_WITH_CUDA",
                "-I<(module_root_dir)/native/include"
              ],
              "process_outputs_as_sources": 1
            }
          ]
        }, {
          "sources": ["<@(qstep_cuda_stub_sources)"]
        }]
      ]
    }
  ]
}
