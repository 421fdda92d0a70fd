// Errors are values: every native entry point returns a Status; nothing calls exit() (house style 5).
#pragma once

#include <string>
#include <utility>

namespace qstep {

enum class Code { OK = 0, INVALID_ARGUMENT, STATE_MISMATCH, NON_FINITE, OUT_OF_MEMORY, NO_DEVICE, FREED, INTERNAL };

inline const char* code_name(Code c) {
  switch (c) {
    case Code::OK: return "OK";
    case Code::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case Code::STATE_MISMATCH: return "STATE_MISMATCH";
    case Code::NON_FINITE: return "NON_FINITE";
    case Code::OUT_OF_MEMORY: return "OUT_OF_MEMORY";
    case Code::NO_DEVICE: return "NO_DEVICE";
    case Code::FREED: return "FREED";
    case Code::INTERNAL: return "INTERNAL";
  }
  return "INTERNAL";
}

struct Status {
  Code code = Code::OK;
  std::string message;
  bool ok() const { return code == Code::OK; }
  static Status Ok() { return {}; }
  static Status Error(Code c, std::string m) { return Status{c, std::move(m)}; }
  std::string to_string() const { return std::string(code_name(code)) + ": " + message; }
};

#define QSTEP_RETURN_IF_ERROR(expr)      \
  do {                                   \
    ::qstep::Status _st = (expr);        \
    if (!_st.ok()) return _st;           \
  } while (0)

}  // namespace qstep
