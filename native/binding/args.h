// Reading JS arguments on the JS thread. Shapes are validated in TypeScript first (house style 11); these checks
// only guard memory safety and throw "INVALID_ARGUMENT: ..." when something slips through.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

#include "qstep/types.h"

namespace qstep {

struct ArgError : std::exception {
  std::string msg;
  explicit ArgError(std::string m) : msg("INVALID_ARGUMENT: " + std::move(m)) {}
  const char* what() const noexcept override { return msg.c_str(); }
};

inline Napi::Value arg(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length()) throw ArgError("missing argument " + std::to_string(i));
  return info[i];
}

inline double num(Napi::Value v, const char* name) {
  if (!v.IsNumber()) throw ArgError(std::string("expected a number for ") + name);
  return v.As<Napi::Number>().DoubleValue();
}

inline int64_t integer(Napi::Value v, const char* name, int64_t lo, int64_t hi) {
  const double d = num(v, name);
  if (!(d >= double(lo) && d <= double(hi)) || d != double(int64_t(d))) {
    throw ArgError(std::string("expected an integer in range for ") + name);
  }
  return int64_t(d);
}

inline bool boolean(Napi::Value v, const char* name) {
  if (!v.IsBoolean()) throw ArgError(std::string("expected a boolean for ") + name);
  return v.As<Napi::Boolean>().Value();
}

inline Napi::Value field(Napi::Object o, const char* name) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined()) throw ArgError(std::string("missing field ") + name);
  return v;
}

inline Napi::Object object(Napi::Value v, const char* name) {
  if (!v.IsObject()) throw ArgError(std::string("expected an object for ") + name);
  return v.As<Napi::Object>();
}

inline Napi::Buffer<uint8_t> buffer(Napi::Value v, const char* name) {
  if (!v.IsBuffer()) throw ArgError(std::string("expected a Buffer for ") + name);
  return v.As<Napi::Buffer<uint8_t>>();
}

inline DType dtype_arg(Napi::Value v, const char* name) { return DType(integer(v, name, 0, 2)); }

}  // namespace qstep
