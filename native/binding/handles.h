// Opaque handles handed to JS: External wrappers around shared pointers. A parameter's last owner (its JS handle
// or a worker still using it) releases its buffers; the parameter keeps its backend alive.
#pragma once

#include <napi.h>

#include <memory>

#include "../engine/engine.h"
#include "args.h"

namespace qstep {

struct BackendBox {
  std::shared_ptr<Backend> backend;
};

struct ParamBox {
  std::shared_ptr<ParamState> state;
  std::shared_ptr<Backend> backend;  // outlives the state's buffers
};

template <typename Box>
Napi::External<Box> wrap(Napi::Env env, Box* box) {
  return Napi::External<Box>::New(env, box, [](Napi::Env, Box* b) {
    if constexpr (std::is_same_v<Box, ParamBox>) request_free(*b->state);
    delete b;
  });
}

template <typename Box>
Box& unwrap(Napi::Value v, const char* name) {
  if (!v.IsExternal()) throw ArgError(std::string("expected a handle for ") + name);
  Box* b = v.As<Napi::External<Box>>().Data();
  if (!b) throw ArgError(std::string("invalid handle for ") + name);
  return *b;
}

}  // namespace qstep
