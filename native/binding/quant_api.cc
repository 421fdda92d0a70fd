// Constants and the standalone quantization primitives.
#include <cstring>

#include "../engine/engine.h"
#include "../formats/standalone.h"
#include "../kernels/ops.h"
#include "api.h"
#include "args.h"
#include "worker.h"

namespace qstep {

static Napi::Value cpu_isas(Napi::Env env);

Napi::Object constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  Napi::Object dtypes = Napi::Object::New(env);
  dtypes.Set("fp32", int(DType::F32));
  dtypes.Set("fp16", int(DType::F16));
  dtypes.Set("bf16", int(DType::BF16));
  c.Set("dtypes", dtypes);
  Napi::Object modes = Napi::Object::New(env);
  modes.Set("fp32", int(StateMode::FP32));
  modes.Set("blockwise8", int(StateMode::BLOCKWISE8));
  modes.Set("static8", int(StateMode::STATIC8));
  c.Set("stateModes", modes);
  // Kernel families by the name and traits their Op headers declare (never typed again here).
  Napi::Object ops = Napi::Object::New(env);
  Napi::Object traits = Napi::Object::New(env);
  for (int k = 0; k < kNumOpKinds; ++k) {
    with_op(OpKind(k), [&](auto op) {
      using Op = decltype(op);
      ops.Set(Op::kName, k);
      Napi::Object t = Napi::Object::New(env);
      t.Set("streams", Op::kStreams);
      t.Set("rows1", Op::kRows1);
      t.Set("trust", Op::kHasNormTerm);
      t.Set("schedules", Op::kSchedules);
      t.Set("zeroVGuard", Op::kZeroVGuard);
      traits.Set(Op::kName, t);
    });
  }
  c.Set("opKinds", ops);
  c.Set("opTraits", traits);
  c.Set("mapSize", kMapSize);
  c.Set("cpuIsa", cpu_isas(env));
  c.Set("defaultBlockSize", double(kDefaultBlockSize));
  c.Set("compatBlockSize", double(kCompatBlockSize));
  Napi::Array ob = Napi::Array::New(env, 2);
  ob.Set(uint32_t(0), double(kDefaultBlockSize));
  ob.Set(uint32_t(1), double(kCompatBlockSize));
  c.Set("optimizerBlockSizes", ob);
  Napi::Array qb = Napi::Array::New(env);
  uint32_t i = 0;
  for (int64_t b : kQuantizeBlockSizes) qb.Set(i++, double(b));
  c.Set("quantizeBlockSizes", qb);
  c.Set("defaultMin8bitSize", double(kDefaultMin8bitSize));
  c.Set("pagedMinElements", double(kPagedMinElements));
  c.Set("percentileHistory", kPercentileHistory);
  c.Set("maxDims", kMaxDims);
  c.Set("maxElements", double(kMaxElements));
  return c;
}

static Napi::Float32Array float_array(Napi::Env env, const float* v, size_t n) {
  Napi::Float32Array a = Napi::Float32Array::New(env, n);
  std::memcpy(a.Data(), v, n * 4);
  return a;
}

static const char* isa_name(CpuIsa isa) { return isa == CpuIsa::kAvx512 ? "avx512" : "avx2"; }

// The CPU block loops the 8-bit states go through: the process default, or a named form (tests run every form the
// CPU has). Quantizers for a named form are built once and kept; calls come from the JS thread only.
static const FastQuantizer& quantizer_arg(Napi::Value v, bool is_signed) {
  if (v.IsUndefined()) return *default_quantizer(is_signed);
  if (!v.IsString()) throw ArgError("isa must be 'avx2' or 'avx512'");
  const std::string name = v.As<Napi::String>().Utf8Value();
  CpuIsa isa;
  if (name == "avx2") isa = CpuIsa::kAvx2;
  else if (name == "avx512") isa = CpuIsa::kAvx512;
  else throw ArgError("isa must be 'avx2' or 'avx512', not '" + name + "'");
  if (isa == CpuIsa::kAvx512 && !cpu_supports_avx512()) {
    throw ArgError("this CPU lacks the AVX-512 subsets the avx512 form needs (f, bw, vl, dq, vbmi)");
  }
  static std::unique_ptr<const FastQuantizer> cache[2][2];
  auto& q = cache[is_signed][int(isa)];
  if (!q) q = std::make_unique<const FastQuantizer>(*default_codebook(is_signed), isa);
  return *q;
}

static Napi::Value cpu_isas(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("default", isa_name(default_quantizer(true)->isa()));
  Napi::Array all = Napi::Array::New(env);
  all.Set(uint32_t(0), "avx2");
  if (cpu_supports_avx512()) all.Set(uint32_t(1), "avx512");
  o.Set("available", all);
  return o;
}

// The arguments of quantizeStates and decodeStates: (block, scale, signed, isa?), the block a typed array of kind
// `kind` (`what` says which in the error).
template <class Array>
struct StateBlockArgs {
  Array block;
  float scale;
  bool is_signed;
  const FastQuantizer* fq;
};

template <class Array>
static StateBlockArgs<Array> state_block_args(const Napi::CallbackInfo& info, napi_typedarray_type kind,
                                              const char* what) {
  if (!arg(info, 0).IsTypedArray() || arg(info, 0).As<Napi::TypedArray>().TypedArrayType() != kind) {
    throw ArgError(std::string("expected a ") + what);
  }
  const float scale = float(num(arg(info, 1), "scale"));
  const bool is_signed = boolean(arg(info, 2), "signed");
  return {info[0].As<Array>(), scale, is_signed, &quantizer_arg(info[3], is_signed)};
}

// quantizeStates(values, scale, signed, isa?): the bytes an 8-bit state stores for `values` against one block scale
// (docs/math.md §7.2 step 5 as qstep decides it: x = s * (1/scale), nearest code, sign fix for the signed map), through the
// CPU block encoder.
Napi::Value quantize_states(const Napi::CallbackInfo& info) {
  auto a = state_block_args<Napi::Float32Array>(info, napi_float32_array, "Float32Array for values");
  Napi::Uint8Array out = Napi::Uint8Array::New(info.Env(), a.block.ElementLength());
  a.fq->encode(a.block.Data(), int64_t(a.block.ElementLength()), a.scale, a.is_signed, out.Data());
  return out;
}

// decodeStates(codes, scale, signed, isa?): code[q] * scale for a block of codes, through the CPU block decoder.
Napi::Value decode_states(const Napi::CallbackInfo& info) {
  auto a = state_block_args<Napi::Uint8Array>(info, napi_uint8_array, "Uint8Array for codes");
  Napi::Float32Array out = Napi::Float32Array::New(info.Env(), a.block.ElementLength());
  a.fq->decode(a.block.Data(), int64_t(a.block.ElementLength()), a.scale, out.Data());
  return out;
}

Napi::Value qmap(const Napi::CallbackInfo& info) {
  const bool is_signed = boolean(arg(info, 0), "signed");
  return float_array(info.Env(), default_codebook(is_signed)->code, kMapSize);
}

Napi::Value nearest_codes(const Napi::CallbackInfo& info) {
  if (!arg(info, 0).IsTypedArray() || arg(info, 0).As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw ArgError("expected a Float32Array for values");
  }
  Napi::Float32Array values = info[0].As<Napi::Float32Array>();
  const bool is_signed = boolean(arg(info, 1), "signed");
  const bool fix = boolean(arg(info, 2), "signFix");
  const Codebook& cb = *default_codebook(is_signed);
  Napi::Uint8Array out = Napi::Uint8Array::New(info.Env(), values.ElementLength());
  for (size_t i = 0; i < values.ElementLength(); ++i) {
    int q = nearest_code(cb.mid, values[i]);
    if (fix) q = sign_fix(cb.code, q, values[i]);
    out[i] = uint8_t(q);
  }
  return out;
}

static std::shared_ptr<Codebook> code_arg(Napi::Value v) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
      v.As<Napi::Float32Array>().ElementLength() != size_t(kMapSize)) {
    throw ArgError("expected a Float32Array of 256 values for code");
  }
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  for (int i = 1; i < kMapSize; ++i) {
    if (!(a[size_t(i - 1)] < a[size_t(i)])) throw ArgError("code must be sorted ascending");
  }
  return std::make_shared<Codebook>(make_codebook(a.Data()));
}

static int64_t block_arg(Napi::Value v) {
  const int64_t b = integer(v, "blockSize", 1, 1 << 20);
  for (int64_t ok : kQuantizeBlockSizes) if (ok == b) return b;
  throw ArgError("blockSize must be one of 64..4096 (powers of two)");
}

Napi::Value quantize_blockwise_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Buffer<uint8_t> in = buffer(arg(info, 0), "input");
  const DType dt = dtype_arg(arg(info, 1), "dtype");
  const int64_t block = block_arg(arg(info, 2));
  auto cb = code_arg(arg(info, 3));
  const int64_t n = int64_t(in.Length()) / dtype_bytes(dt);
  if (int64_t(in.Length()) != n * dtype_bytes(dt)) throw ArgError("input length is not a whole number of elements");
  const int64_t blocks = (n + block - 1) / block;
  auto codes = std::make_shared<std::vector<uint8_t>>(size_t(n));
  auto absmax = std::make_shared<std::vector<float>>(size_t(blocks));
  const uint8_t* src = in.Data();
  return TaskWorker::Start(
      env,
      [=]() {
        FastQuantizer fq(*cb);
        with_dtype(dt, [&](auto tag) {
          using T = decltype(tag);
          quantize_blockwise<T>(fq, reinterpret_cast<const raw_t<T>*>(src), n, block, codes->data(), absmax->data());
        });
        return Status::Ok();
      },
      [=](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("codes", Napi::Buffer<uint8_t>::Copy(e, codes->data(), codes->size()));
        o.Set("absmax", float_array(e, absmax->data(), absmax->size()));
        return o;
      },
      {in});
}

Napi::Value dequantize_blockwise_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Buffer<uint8_t> codes = buffer(arg(info, 0), "codes");
  if (!arg(info, 1).IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw ArgError("expected a Float32Array for absmax");
  }
  Napi::Float32Array absmax = info[1].As<Napi::Float32Array>();
  const int64_t block = block_arg(arg(info, 2));
  const DType dt = dtype_arg(arg(info, 3), "outDtype");
  auto cb = code_arg(arg(info, 4));
  const int64_t n = int64_t(codes.Length());
  if (int64_t(absmax.ElementLength()) != (n + block - 1) / block) throw ArgError("absmax has the wrong length");
  auto out = std::make_shared<std::vector<uint8_t>>(size_t(n) * size_t(dtype_bytes(dt)));
  const uint8_t* q = codes.Data();
  const float* am = absmax.Data();
  return TaskWorker::Start(
      env,
      [=]() {
        with_dtype(dt, [&](auto tag) {
          using T = decltype(tag);
          dequantize_blockwise<T>(cb->code, q, am, n, block, reinterpret_cast<raw_t<T>*>(out->data()));
        });
        return Status::Ok();
      },
      [=](Napi::Env e) -> Napi::Value { return Napi::Buffer<uint8_t>::Copy(e, out->data(), out->size()); },
      {codes, absmax});
}

}  // namespace qstep
