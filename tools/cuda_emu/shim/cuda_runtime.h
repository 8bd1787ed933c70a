// tools/cuda_emu/shim/cuda_runtime.h — the part of the CUDA runtime llamaref uses, on the CPU.
//
// A kernel launch runs its blocks one after another. A block's threads are fibers on the calling
// thread, each with a stack of its own: one runs until it waits at a barrier or returns, then the
// next, so the kernel code runs as written: __syncthreads is a barrier of the block, a warp
// shuffle an exchange through a 32-slot buffer between two barriers of the warp, __shared__
// variables are statics (one block at a time), dynamic shared memory a buffer filled with
// garbage, device memory is host memory filled with garbage, streams are synchronous, and a graph
// capture records the launches to replay them. Threads that return leave the barriers, as on a
// GPU. Blocks alternate the order their threads run in (first to last, last to first), so a
// thread reading another's write with no barrier between reads the old value in one of the two
// orders. Threads waiting at barriers that can never fill (a __syncthreads some threads of the
// block skip) are reported as a deadlock, where a GPU would hang. (Fibers, not std::threads:
// creating 1024 threads per block and waking them at each barrier took 2/3 of the test's time.)
//
// What it cannot show: misaligned vector loads (x86 does not fault), the GPU memory model and
// its races, real cuBLAS and CUB (cublas_v2.h and cub/cub.cuh here are plain loops), and speed.
// A pass here is a check of the kernels' logic, not a GPU result.
#pragma once
#include <sys/mman.h>
#include <ucontext.h>
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct float4 {
    float x, y, z, w;
};
struct uint4 {
    unsigned x, y, z, w;
};

enum cudaError_t { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorNotReady = 600 };
using cudaError = cudaError_t;
inline const char* cudaGetErrorString(cudaError_t) { return "emulated error"; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
struct CUstream_st {};
using cudaStream_t = CUstream_st*;
struct CUevent_st {};
using cudaEvent_t = CUevent_st*;
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize };
enum cudaStreamCaptureMode { cudaStreamCaptureModeThreadLocal };
constexpr unsigned cudaStreamNonBlocking = 1;
struct cudaDeviceProp {
    char name[256] = "emulated";
    int multiProcessorCount = 4;
    std::size_t totalGlobalMem = 1 << 30;
    int major = 9, minor = 0;
};

namespace shim {
inline dim3 tl_thread, tl_block;  // the running fiber's thread and block (no longer thread_local:
                                  // one OS thread runs all the fibers)
inline dim3 g_grid, g_blockdim;
inline std::vector<unsigned char> g_smem;
inline bool g_capturing = false;
inline std::vector<std::function<void()>>* g_capture = nullptr;
template <class T>
T* dynamic_smem() {
    return reinterpret_cast<T*>(g_smem.data());
}

// A fiber's saved registers, a switch between two fibers, and a new fiber that starts in entry().
// On x86-64 a switch is seven pushes and pops (glibc's swapcontext also saves the signal mask, a
// system call each time: the kernel tests took 240 s with it, 25 s without); elsewhere ucontext.
#if defined(__x86_64__)
extern "C" void llamaref_emu_switch(void** save_sp, void* load_sp);
asm(".text\n.weak llamaref_emu_switch\n.type llamaref_emu_switch,@function\nllamaref_emu_switch:\n"
    "pushq %rbp\npushq %rbx\npushq %r12\npushq %r13\npushq %r14\npushq %r15\n"
    "movq %rsp, (%rdi)\nmovq %rsi, %rsp\n"
    "popq %r15\npopq %r14\npopq %r13\npopq %r12\npopq %rbx\npopq %rbp\nret\n");
struct Context {
    void* sp = nullptr;
};
inline void switch_context(Context& from, Context& to) { llamaref_emu_switch(&from.sp, to.sp); }
inline void make_context(Context& c, char* stack, std::size_t size, void (*entry)()) {
    auto top = reinterpret_cast<void**>((reinterpret_cast<std::uintptr_t>(stack) + size) & ~std::uintptr_t(15));
    *--top = nullptr;                              // entry's return address: it never returns
    *--top = reinterpret_cast<void*>(entry);       // where the first switch's `ret` goes
    for (int i = 0; i < 6; ++i) *--top = nullptr;  // rbp, rbx, r12-r15
    c.sp = top;
}
#else
struct Context {
    ucontext_t uc;
};
inline void switch_context(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
inline void make_context(Context& c, char* stack, std::size_t size, void (*entry)()) {
    getcontext(&c.uc);
    c.uc.uc_stack.ss_sp = stack, c.uc.uc_stack.ss_size = size, c.uc.uc_link = nullptr;
    makecontext(&c.uc, entry, 0);
}
#endif

// The fibers of the block being run, and the scheduler's context they switch back to.
struct Fiber {
    Context ctx;
    char* stack = nullptr;
    bool done = true;
};
constexpr std::size_t kStack = 128 * 1024, kGuard = 4096;  // a fault below the stack, not corruption
inline std::vector<Fiber> g_fibers;
inline Context g_scheduler;
inline unsigned g_current = 0;
inline unsigned long g_progress = 0;  // arrivals, barrier openings and returns: what a deadlock lacks
inline std::function<void()> g_body;
inline void yield() { switch_context(g_fibers[g_current].ctx, g_scheduler); }

// A barrier of `expected` threads; the last to arrive opens it for the others.
struct Barrier {
    unsigned expected, arrived = 0;
    unsigned long phase = 0;
    explicit Barrier(unsigned n) : expected(n) {}
    void open() { arrived = 0, ++phase; }
    void arrive_and_wait() {
        ++g_progress;
        const unsigned long ph = phase;
        if (++arrived == expected) return open();
        while (phase == ph) yield();
    }
    void arrive_and_drop() {  // a thread that returned: the others no longer wait for it
        ++g_progress;
        if (--expected > 0 && arrived == expected) open();
    }
};
inline Barrier* g_block_bar = nullptr;
struct Warp {
    explicit Warp(unsigned n) : bar(n) {}
    Barrier bar;
    alignas(8) unsigned char slot[32][8];
};
inline std::vector<std::unique_ptr<Warp>> g_warps;

[[noreturn]] inline void fiber_main() {
    g_body();
    g_warps[g_current / 32]->bar.arrive_and_drop();
    g_block_bar->arrive_and_drop();
    g_fibers[g_current].done = true;
    yield();  // never resumed
    std::abort();
}

struct Cfg {
    dim3 grid, block;
    std::size_t smem;
};
inline Cfg cfg(dim3 g, dim3 b, std::size_t smem = 0, cudaStream_t = nullptr) { return {g, b, smem}; }

inline void run_block(unsigned n, bool reverse) {
    while (g_fibers.size() < n) {
        Fiber f;
        void* m =
            mmap(nullptr, kStack + kGuard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED || mprotect(m, kGuard, PROT_NONE) != 0) {
            std::fprintf(stderr, "EMU: no fiber stack\n");
            std::abort();
        }
        f.stack = static_cast<char*>(m) + kGuard;
        g_fibers.push_back(f);
    }
    for (unsigned t = 0; t < n; ++t)
        make_context(g_fibers[t].ctx, g_fibers[t].stack, kStack, fiber_main), g_fibers[t].done = false;
    for (unsigned left = n; left > 0;) {
        const unsigned long before = g_progress;
        for (unsigned k = 0; k < n; ++k) {
            const unsigned t = reverse ? n - 1 - k : k;
            if (g_fibers[t].done) continue;
            g_current = t, tl_thread = dim3(t);
            switch_context(g_scheduler, g_fibers[t].ctx);
            if (g_fibers[t].done) --left;
        }
        if (left > 0 && g_progress == before) {
            std::fprintf(stderr, "EMU: deadlock: %u threads wait at barriers that cannot fill\n", left);
            std::abort();
        }
    }
}

template <class K, class... A>
void run(Cfg c, K kernel, A... args) {
    const unsigned n = c.block.x;
    if (n == 0 || n > 1024 || (n % 32 && n > 32) || c.grid.x == 0 || c.grid.y == 0) {
        std::fprintf(stderr, "EMU: bad launch %u x %u, %u threads\n", c.grid.x, c.grid.y, n);
        std::abort();
    }
    g_grid = c.grid, g_blockdim = c.block;
    g_smem.assign(std::max<std::size_t>(c.smem, 16), 0xCD);  // garbage, as on a GPU
    g_body = [&] { kernel(args...); };
    for (unsigned by = 0; by < c.grid.y; ++by)
        for (unsigned bx = 0; bx < c.grid.x; ++bx) {
            Barrier bar(n);
            g_block_bar = &bar;
            g_warps.clear();
            for (unsigned w = 0; w < (n + 31) / 32; ++w)
                g_warps.push_back(std::make_unique<Warp>(std::min(32u, n - 32 * w)));
            tl_block = dim3(bx, by);
            run_block(n, (bx + by) % 2 == 1);
        }
}
template <class K, class... A>
void launch(Cfg c, K kernel, A... args) {
    if (g_capturing) {
        g_capture->push_back([=] { run(c, kernel, args...); });
        return;
    }
    run(c, kernel, args...);
}
}  // namespace shim

#define threadIdx (shim::tl_thread)
#define blockIdx (shim::tl_block)
#define gridDim (shim::g_grid)
#define blockDim (shim::g_blockdim)
inline void __syncthreads() { shim::g_block_bar->arrive_and_wait(); }
template <class T>
T __shfl_sync(unsigned, T v, int src) {
    auto& w = *shim::g_warps[threadIdx.x / 32];
    const int lane = threadIdx.x % 32;
    static_assert(sizeof(T) <= 8);
    std::memcpy(w.slot[lane], &v, sizeof(T));
    w.bar.arrive_and_wait();
    T r;
    std::memcpy(&r, w.slot[src], sizeof(T));
    w.bar.arrive_and_wait();
    return r;
}
template <class T>
T __shfl_xor_sync(unsigned m, T v, int o) {
    auto& w = *shim::g_warps[threadIdx.x / 32];
    const int lane = threadIdx.x % 32;
    std::memcpy(w.slot[lane], &v, sizeof(T));
    w.bar.arrive_and_wait();
    T r;
    std::memcpy(&r, w.slot[lane ^ o], sizeof(T));
    w.bar.arrive_and_wait();
    return r;
}
inline float __uint_as_float(unsigned u) { return std::bit_cast<float>(u); }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
using std::isfinite;

inline cudaError_t cudaMalloc(void* p, std::size_t n) {
    *static_cast<void**>(p) = std::aligned_alloc(256, (n + 255) / 256 * 256);
    return cudaSuccess;
}
template <class T>
cudaError_t cudaMalloc(T** p, std::size_t n) {
    *p = static_cast<T*>(std::aligned_alloc(256, (n + 255) / 256 * 256));
    std::memset(*p, 0xAB, (n + 255) / 256 * 256);
    return cudaSuccess;
}
inline cudaError_t cudaFree(void* p) {
    std::free(p);
    return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* d, const void* s, std::size_t n, cudaMemcpyKind) {
    std::memmove(d, s, n);
    return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, std::size_t n, cudaMemcpyKind, cudaStream_t = nullptr) {
    if (shim::g_capturing) {
        std::fprintf(stderr, "EMU: memcpy during capture\n");
        std::abort();
    }
    std::memmove(d, s, n);
    return cudaSuccess;
}
inline cudaError_t cudaMemset(void* d, int v, std::size_t n) {
    std::memset(d, v, n);
    return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* d, int v, std::size_t n, cudaStream_t = nullptr) {
    std::memset(d, v, n);
    return cudaSuccess;
}
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
namespace shim {
// Test hook: every stream reports work still running, as a GPU's does while a collective waits for
// a rank that died (tests/cuda/test_cuda_model_parallel.cpp: the bounded wait of nccl.cuh).
inline bool g_streams_never_ready = false;
}  // namespace shim
// Streams are synchronous: their work is done when a call returns (unless the hook above says not).
inline cudaError_t cudaStreamQuery(cudaStream_t) {
    return shim::g_streams_never_ready ? cudaErrorNotReady : cudaSuccess;
}
// One device, or LLAMAREF_EMU_DEVICES of them (model-parallel tests: a device per rank; all are
// the same host memory).
inline cudaError_t cudaGetDeviceCount(int* n) {
    const char* env = std::getenv("LLAMAREF_EMU_DEVICES");
    *n = env && std::atoi(env) > 0 ? std::atoi(env) : 1;
    return cudaSuccess;
}
inline cudaError_t cudaGetDevice(int* d) {
    *d = 0;
    return cudaSuccess;
}
inline cudaError_t cudaSetDevice(int) { return cudaSuccess; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
    *p = {};
    return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr, int) {
    *v = 2;
    return cudaSuccess;
}
template <class F>
cudaError_t cudaFuncSetAttribute(F, cudaFuncAttribute, int) {
    return cudaSuccess;
}
inline cudaError_t cudaStreamCreate(cudaStream_t* s) {
    *s = new CUstream_st;
    return cudaSuccess;
}
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
    *s = new CUstream_st;
    return cudaSuccess;
}
inline cudaError_t cudaStreamDestroy(cudaStream_t s) {
    delete s;
    return cudaSuccess;
}
inline cudaError_t cudaEventCreate(cudaEvent_t* e) {
    *e = new CUevent_st;
    return cudaSuccess;
}
inline cudaError_t cudaEventDestroy(cudaEvent_t e) {
    delete e;
    return cudaSuccess;
}
inline cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t = nullptr) { return cudaSuccess; }
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
inline cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t, cudaEvent_t) {
    *ms = 1;
    return cudaSuccess;
}
struct CUgraph_st {
    std::vector<std::function<void()>> ops;
};
using cudaGraph_t = CUgraph_st*;
struct CUgraphExec_st {
    std::vector<std::function<void()>> ops;
};
using cudaGraphExec_t = CUgraphExec_st*;
inline cudaError_t cudaStreamBeginCapture(cudaStream_t, cudaStreamCaptureMode) {
    shim::g_capturing = true;
    shim::g_capture = new std::vector<std::function<void()>>;
    return cudaSuccess;
}
inline cudaError_t cudaStreamEndCapture(cudaStream_t, cudaGraph_t* g) {
    *g = new CUgraph_st{std::move(*shim::g_capture)};
    delete shim::g_capture;
    shim::g_capture = nullptr;
    shim::g_capturing = false;
    return cudaSuccess;
}
inline cudaError_t cudaGraphInstantiate(cudaGraphExec_t* e, cudaGraph_t g, unsigned long long) {
    *e = new CUgraphExec_st{g->ops};
    return cudaSuccess;
}
inline cudaError_t cudaGraphDestroy(cudaGraph_t g) {
    delete g;
    return cudaSuccess;
}
inline cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) {
    delete e;
    return cudaSuccess;
}
inline cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t) {
    for (auto& f : e->ops) f();
    return cudaSuccess;
}
