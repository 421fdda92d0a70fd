// CPU launchers over the shared math: chunk the work, run the state mode's traversal on the pool, reduce partial
// results in a fixed order so that every step is deterministic whatever the thread count.
#include "cpu_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "../engine/finite.h"
#include "../engine/policy.h"
#include "../formats/blockwise8.h"
#include "../formats/fp32.h"
#include "../formats/static8.h"
#include "../kernels/ops.h"
#include "thread_pool.h"

namespace qstep {
namespace {

constexpr int64_t kChunk = 1 << 16;  // elements per task: large enough to amortise, small enough to balance
// Buffers from this size up get their own anonymous map; smaller ones come from the heap (a model of 100,000
// small tensors would otherwise pass the kernel's limit of 65,530 maps per process).
constexpr size_t kOwnMapBytes = size_t(1) << 20;
#ifdef MADV_POPULATE_WRITE
constexpr int kPopulateWrite = MADV_POPULATE_WRITE;
#else
constexpr int kPopulateWrite = 23;  // the Linux value; older headers lack the name, older kernels answer EINVAL
#endif

Status oom(size_t bytes) {
  return Status::Error(Code::OUT_OF_MEMORY, "host allocation of " + std::to_string(bytes) + " bytes failed");
}

int64_t chunks_of(int64_t n, int64_t chunk) { return (n + chunk - 1) / chunk; }

template <typename Src, typename Dst>
void convert_range(const void* src, void* dst, int64_t begin, int64_t end) {
  const raw_t<Src>* s = static_cast<const raw_t<Src>*>(src);
  raw_t<Dst>* d = static_cast<raw_t<Dst>*>(dst);
  for (int64_t i = begin; i < end; ++i) d[i] = store_raw<Dst>(load_raw<Src>(s[i]));
}

// dst[i] = convert(src[i]) for i in [begin, end): every dtype pair.
void convert(DType from, const void* src, DType to, void* dst, int64_t begin, int64_t end) {
  with_dtype(from, [&](auto s) {
    with_dtype(to, [&](auto d) { convert_range<decltype(s), decltype(d)>(src, dst, begin, end); });
  });
}

template <typename T>
double sum_squares(const raw_t<T>* x, int64_t begin, int64_t end) {
  return chunked_sum(begin, end, [&](int64_t i) {
    const float v = load_raw<T>(x[i]);
    return v * v;
  });
}

class CpuBackend final : public Backend {
 public:
  CpuBackend(int threads, size_t paged_budget) : pool_(threads), paged_budget_(paged_budget) {}

  const char* kind() const override { return "cpu"; }
  int threads() const override { return pool_.size(); }
  bool device_info(DeviceInfo&) const override { return false; }

  Status alloc(Storage& s, size_t bytes, bool paged, const std::string& dir) override {
    s = Storage{};
    if (bytes == 0) return Status::Ok();
    if (paged) {
      std::string path = (dir.empty() ? std::string("/tmp") : dir) + "/qstep-paged-XXXXXX";
      std::vector<char> tmpl(path.begin(), path.end());
      tmpl.push_back('\0');
      const int fd = mkstemp(tmpl.data());
      if (fd < 0) return Status::Error(Code::OUT_OF_MEMORY, "cannot create a paged-state file in " + dir);
      unlink(tmpl.data());  // the file lives as long as the mapping
      if (ftruncate(fd, off_t(bytes)) != 0) {
        close(fd);
        return Status::Error(Code::OUT_OF_MEMORY, "cannot size a paged-state file in " + dir);
      }
      void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (p == MAP_FAILED) {
        close(fd);
        return Status::Error(Code::OUT_OF_MEMORY, "cannot map paged state");
      }
      s = Storage{p, bytes, Location::HOST_MAPPED, fd};
      return Status::Ok();
    }
    if (bytes >= kOwnMapBytes) {
      // Its own anonymous map (zero-filled): munmap gives every page back at once when the model is deleted,
      // where heap memory could stay with the allocator (issue 10, "Delete returns memory").
      void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) return oom(bytes);
      s = Storage{p, bytes, Location::HOST, -1, true};
      return Status::Ok();
    }
    void* p = std::calloc(1, bytes);
    if (!p) return oom(bytes);
    s = Storage{p, bytes, Location::HOST, -1};
    return Status::Ok();
  }

  void release(Storage& s) override {
    if (s.loc == Location::HOST && s.own_map) munmap(s.ptr, s.bytes);
    if (s.loc == Location::HOST && !s.own_map) std::free(s.ptr);
    if (s.loc == Location::HOST_MAPPED) {
      munmap(s.ptr, s.bytes);
      close(s.fd);
    }
    s = Storage{};
  }

  Status commit(Storage& s) override {
    if (s.bytes == 0) return Status::Ok();
    if (s.loc == Location::HOST_MAPPED) {
      // Paged state may live outside RAM, but its file's blocks must exist: a write into a hole on a full disk
      // would kill the process with SIGBUS.
      const int err = posix_fallocate(s.fd, 0, off_t(s.bytes));
      if (err != 0) {
        return Status::Error(Code::OUT_OF_MEMORY, "cannot reserve " + std::to_string(s.bytes) +
                                                      " bytes of disk for paged state: " + std::strerror(err));
      }
      return Status::Ok();
    }
    if (s.loc != Location::HOST) return Status::Ok();
    const size_t page = size_t(sysconf(_SC_PAGESIZE));
    uint8_t* begin = reinterpret_cast<uint8_t*>(reinterpret_cast<uintptr_t>(s.ptr) & ~uintptr_t(page - 1));
    uint8_t* end = s.as<uint8_t>() + s.bytes;
    // MADV_POPULATE_WRITE (Linux 5.14) faults every page in as if written, keeps the contents, and fails with
    // ENOMEM where a touch would summon the OOM killer.
    int rc;
    do rc = madvise(begin, size_t(end - begin), kPopulateWrite);
    while (rc != 0 && errno == EINTR);
    if (rc == 0) return Status::Ok();
    if (errno != EINVAL) {
      return Status::Error(Code::OUT_OF_MEMORY, "cannot fault in " + std::to_string(s.bytes) + " bytes of host memory");
    }
    // Older kernels: write every page's first byte back to itself (the caller holds the parameter's lock).
    volatile uint8_t* v = s.as<uint8_t>();
    for (size_t off = 0; off < s.bytes; off += page) v[off] = v[off];
    v[s.bytes - 1] = v[s.bytes - 1];
    return Status::Ok();
  }

  void trim() override { malloc_trim(0); }

  Status to_host(const Storage& s, size_t offset, void* dst, size_t bytes) override {
    if (offset + bytes > s.bytes) return Status::Error(Code::INTERNAL, "read past a buffer");
    std::memcpy(dst, s.as<uint8_t>() + offset, bytes);
    return Status::Ok();
  }

  Status from_host(Storage& s, size_t offset, const void* src, size_t bytes) override {
    if (offset + bytes > s.bytes) return Status::Error(Code::INTERNAL, "write past a buffer");
    std::memcpy(s.as<uint8_t>() + offset, src, bytes);
    return Status::Ok();
  }

  size_t resident_bytes(const Storage& s) const override {
    if (s.loc != Location::HOST_MAPPED) return s.bytes;
    const size_t page = size_t(sysconf(_SC_PAGESIZE));
    std::vector<unsigned char> vec((s.bytes + page - 1) / page);
    if (mincore(s.ptr, s.bytes, vec.data()) != 0) return s.bytes;
    size_t pages = 0;
    for (unsigned char v : vec) pages += v & 1;
    return std::min(s.bytes, pages * page);
  }

  Status write_param(ParamState& ps, int64_t offset, const void* src, DType src_dtype, int64_t count) override {
    if (offset < 0 || count < 0 || offset + count > ps.spec.n) return Status::Error(Code::INVALID_ARGUMENT, "range");
    uint8_t* base = ps.param.as<uint8_t>() + size_t(offset) * ps.elem_bytes();
    const uint8_t* from = static_cast<const uint8_t*>(src);
    pool_.parallel_for(chunks_of(count, kChunk), [&](int64_t c) {
      const int64_t b = c * kChunk, e = std::min(count, b + kChunk);
      convert(src_dtype, from, ps.spec.dtype, base, b, e);
    });
    return Status::Ok();
  }

  Status read_param(ParamState& ps, int64_t offset, void* dst, DType dst_dtype, int64_t count) override {
    if (offset < 0 || count < 0 || offset + count > ps.spec.n) return Status::Error(Code::INVALID_ARGUMENT, "range");
    const uint8_t* base = ps.param.as<uint8_t>() + size_t(offset) * ps.elem_bytes();
    pool_.parallel_for(chunks_of(count, kChunk), [&](int64_t c) {
      const int64_t b = c * kChunk, e = std::min(count, b + kChunk);
      convert(ps.spec.dtype, base, dst_dtype, dst, b, e);
    });
    return Status::Ok();
  }

  Status step(std::vector<StepWork>& work, bool error_on_non_finite, StepOutcome& out) override {
    out = StepOutcome{};
    // 1. Gradients in the parameter dtype (docs/math.md D12: converted on arrival).
    std::vector<std::vector<uint8_t>> converted(work.size());
    std::vector<const void*> grads(work.size());
    for (size_t w = 0; w < work.size(); ++w) {
      ParamState& ps = *work[w].ps;
      if (ps.freed) return Status::Error(Code::FREED, "parameter was freed");
      grads[w] = work[w].grad;
      if (work[w].grad_dtype != ps.spec.dtype) {
        converted[w].resize(size_t(ps.spec.n) * ps.elem_bytes());
        const int64_t n = ps.spec.n;
        pool_.parallel_for(chunks_of(n, kChunk), [&](int64_t c) {
          const int64_t b = c * kChunk, e = std::min(n, b + kChunk);
          convert(work[w].grad_dtype, work[w].grad, ps.spec.dtype, converted[w].data(), b, e);
        });
        grads[w] = converted[w].data();
      }
    }
    // 2. Non-finite check over the whole step before anything changes (docs/math.md D4), except gradients staged through
    //    copy_checked (checked as they arrived) that no narrowing conversion has touched since.
    for (size_t w = 0; w < work.size(); ++w) {
      ParamState& ps = *work[w].ps;
      if (work[w].grad_finite && !narrows(work[w].grad_dtype, ps.spec.dtype)) continue;
      const int64_t n = ps.spec.n;
      std::vector<uint8_t> bad(size_t(chunks_of(n, kChunk)), 0);
      with_dtype(ps.spec.dtype, [&](auto tag) {
        using T = decltype(tag);
        const raw_t<T>* g = static_cast<const raw_t<T>*>(grads[w]);
        pool_.parallel_for(int64_t(bad.size()), [&](int64_t c) {
          bad[size_t(c)] = any_non_finite<T>(g, c * kChunk, std::min(n, (c + 1) * kChunk));
        });
      });
      for (uint8_t b : bad) {
        if (b) { out.non_finite.push_back(int(w)); break; }
      }
    }
    if (!out.non_finite.empty()) return non_finite_outcome(work, error_on_non_finite, out);
    // 3. Apply, parameter by parameter. Nothing below can fail on the CPU.
    for (size_t w = 0; w < work.size(); ++w) {
      out.results.push_back(apply(work[w], grads[w]));
      trim_paged(*work[w].ps);
    }
    return Status::Ok();
  }

  Status bandwidth_probe(int64_t n, int iters, double& ms_per_pass) override {
    std::vector<float> p(size_t(n), 0.5f), g(size_t(n), 0.25f), m(size_t(n), 0.125f), v(size_t(n), 0.0625f);
    auto pass = [&] {
      pool_.parallel_for(chunks_of(n, kChunk), [&](int64_t c) {
        float* __restrict pp = p.data();
        const float* __restrict gg = g.data();
        float* __restrict mm = m.data();
        float* __restrict vv = v.data();
        const int64_t e = std::min(n, (c + 1) * kChunk);
        for (int64_t i = c * kChunk; i < e; ++i) {
          const float gi = gg[i];
          mm[i] = 0.5f * mm[i] + gi;
          vv[i] = 0.5f * vv[i] + gi;
          pp[i] = pp[i] - 1e-9f * gi;
        }
      });
    };
    pass();  // first touch: fault the pages in
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) pass();
    const auto t1 = std::chrono::steady_clock::now();
    ms_per_pass = std::chrono::duration<double, std::milli>(t1 - t0).count() / iters;
    return Status::Ok();
  }

 private:
  template <typename T>
  double reduce_squares(const raw_t<T>* x, int64_t n) {
    std::vector<double> part(size_t(chunks_of(n, kChunk)), 0.0);
    pool_.parallel_for(int64_t(part.size()), [&](int64_t c) {
      part[size_t(c)] = sum_squares<T>(x, c * kChunk, std::min(n, (c + 1) * kChunk));
    });
    double s = 0.0;
    for (double v : part) s += v;
    return s;
  }

  StepResult apply(StepWork& w, const void* grad) {
    ParamState& ps = *w.ps;
    const int32_t t = ps.step + 1;
    StepConsts c = make_consts(ps.spec.op, w.hyper, t);
    StepView view = make_view(ps);
    with_op(ps.spec.op, [&](auto op) {
      with_dtype(ps.spec.dtype, [&](auto tag) {
        using Op = decltype(op);
        using T = decltype(tag);
        const raw_t<T>* g = static_cast<const raw_t<T>*>(grad);
        raw_t<T>* p = ps.param.as<raw_t<T>>();
        if (ps.spec.percentile < 100) {
          const float sq = float(reduce_squares<T>(g, ps.spec.n));
          c.gnorm_scale = percentile_scale(ps.gnorm_hist, t, sq, ps.spec.percentile);
        }
        if constexpr (Op::kHasNormTerm) {
          if (ps.spec.trust) {
            const float pnorm = float(std::sqrt(reduce_squares<T>(p, ps.spec.n)));
            const float unorm = float(norm_pass<Op, T>(ps, c, g, view.v));
            ps.unorm = unorm;
            c.update_scale = trust_scale(unorm, pnorm, w.hyper.max_unorm, c.eps, !Op::kTrustAddsEps);
          }
        }
        update_pass<Op, T>(ps, c, p, g, view);
      });
    });
    ps.step = t;
    return StepResult{t, c.gnorm_scale, c.update_scale};
  }

  struct StepView {
    StateView v;
    const FastQuantizer* fq[3] = {};
  };

  static StepView make_view(ParamState& ps) {
    StepView sv;
    sv.v = state_view(ps, [](const Codebook* cb) { return cb; });
    for (int k = 0; k < ps.streams && ps.quantized(); ++k) sv.fq[k] = (k < ps.rows1 ? ps.fq1 : ps.fq2).get();
    return sv;
  }

  template <class Op, typename T>
  double norm_pass(ParamState& ps, const StepConsts& c, const raw_t<T>* g, const StateView& v) {
    const int64_t n = ps.spec.n;
    std::vector<double> part;
    if (ps.spec.mode == StateMode::BLOCKWISE8) {
      const int64_t per = std::max<int64_t>(1, kChunk / v.block);
      part.assign(size_t(chunks_of(v.blocks, per)), 0.0);
      pool_.parallel_for(int64_t(part.size()), [&](int64_t i) {
        part[size_t(i)] = blockwise8_norm<Op, T>(c, g, v, i * per, std::min(v.blocks, (i + 1) * per));
      });
    } else {
      part.assign(size_t(chunks_of(n, kChunk)), 0.0);
      pool_.parallel_for(int64_t(part.size()), [&](int64_t i) {
        const int64_t b = i * kChunk, e = std::min(n, b + kChunk);
        part[size_t(i)] = ps.spec.mode == StateMode::FP32 ? fp32_norm<Op, T>(c, g, v, b, e)
                                                          : static8_norm<Op, T>(c, g, v, b, e);
      });
    }
    double s = 0.0;
    for (double x : part) s += x;
    return s;
  }

  template <class Op, typename T>
  void update_pass(ParamState& ps, const StepConsts& c, raw_t<T>* p, const raw_t<T>* g, const StepView& sv) {
    const StateView& v = sv.v;
    const int64_t n = ps.spec.n;
    switch (ps.spec.mode) {
      case StateMode::FP32:
        pool_.parallel_for(chunks_of(n, kChunk), [&](int64_t i) {
          fp32_update<Op, T>(c, p, g, v, i * kChunk, std::min(n, (i + 1) * kChunk));
        });
        break;
      case StateMode::BLOCKWISE8: {
        const int64_t per = std::max<int64_t>(1, kChunk / v.block);
        pool_.parallel_for(chunks_of(v.blocks, per), [&](int64_t i) {
          // Per worker and kept: a fresh zeroed vector per task cost 256 allocations and 6 MB of memset per
          // 16M-element step. Every float is written before it is read.
          static thread_local std::vector<float> scratch;
          const size_t need = size_t(blockwise8_scratch(v.block));
          if (scratch.size() < need) scratch.resize(need);
          blockwise8_update<Op, T>(c, p, g, v, sv.fq, i * per, std::min(v.blocks, (i + 1) * per), scratch.data());
        });
        break;
      }
      case StateMode::STATIC8: {
        const int64_t tasks = chunks_of(n, kChunk);
        std::vector<std::array<float, 3>> part(size_t(tasks), {0.f, 0.f, 0.f});
        pool_.parallel_for(tasks, [&](int64_t i) {
          float mx[3] = {0.f, 0.f, 0.f};
          static8_max<Op, T>(c, p, g, v, sv.fq, i * kChunk, std::min(n, (i + 1) * kChunk), mx);
          part[size_t(i)] = {mx[0], mx[1], mx[2]};
        });
        float old_scale[3] = {0.f, 0.f, 0.f}, new_scale[3] = {0.f, 0.f, 0.f};
        for (int k = 0; k < Op::kStreams; ++k) {
          old_scale[k] = v.scales[k][0];
          for (auto& m : part) new_scale[k] = std::max(new_scale[k], m[size_t(k)]);
        }
        pool_.parallel_for(tasks, [&](int64_t i) {
          static8_update<Op, T>(c, p, g, v, sv.fq, old_scale, new_scale, i * kChunk, std::min(n, (i + 1) * kChunk));
        });
        for (int k = 0; k < Op::kStreams; ++k) v.scales[k][0] = new_scale[k];
        break;
      }
    }
  }

  // Keeps a parameter's paged state within the budget: write it back to its file, then drop its pages (docs/math.md §14,
  // D11: state may exceed RAM; the next step faults the pages back in from the file).
  void trim_paged(ParamState& ps) {
    if (paged_budget_ == 0) return;
    for (Storage* st : {&ps.state1, &ps.state2}) {
      if (st->loc != Location::HOST_MAPPED || resident_bytes(*st) <= paged_budget_) continue;
      msync(st->ptr, st->bytes, MS_SYNC);
      madvise(st->ptr, st->bytes, MADV_DONTNEED);
      posix_fadvise(st->fd, 0, off_t(st->bytes), POSIX_FADV_DONTNEED);
    }
  }

  ThreadPool pool_;
  const size_t paged_budget_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads, size_t paged_budget_bytes) {
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  return std::make_unique<CpuBackend>(threads, paged_budget_bytes);
}

}  // namespace qstep
