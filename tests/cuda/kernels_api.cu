// tests/cuda/kernels_api.cu — see kernels_api.hpp. Upload, one kernel, download.
#include <llamaref/cuda/attention.cuh>
#include <llamaref/cuda/attention_plain.cuh>
#include <llamaref/cuda/decode.cuh>
#include <llamaref/cuda/embedding.cuh>
#include <llamaref/cuda/feed_forward.cuh>
#include <llamaref/cuda/matmul.cuh>
#include <llamaref/cuda/rmsnorm.cuh>
#include <llamaref/cuda/rope.cuh>
#include <llamaref/cuda/sampling.cuh>
#include <llamaref/cuda/softcap.cuh>
#include <llamaref/cuda/softmax.cuh>

#include "kernels_api.hpp"

namespace llamaref::cuda::test {

namespace {

template <class T>
Buffer<T> up(const std::vector<T>& v) {
    Buffer<T> b(std::max<std::size_t>(v.size(), 1));
    if (!v.empty()) b.upload(v.data(), v.size());
    return b;
}
template <class T>
std::vector<T> down(const Buffer<T>& b, std::size_t n) {
    check(cudaDeviceSynchronize(), "kernel");
    std::vector<T> v(n);
    b.download(v.data(), n);
    return v;
}

AttentionOptions options(const AttentionSwitches& s) { return {s.window, s.scale, float(s.softcap)}; }

}  // namespace

bool available(std::string* why) {
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        *why = e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device found";
        return false;
    }
    return true;
}

std::vector<float> embedding(DType dtype, const std::vector<std::byte>& table, int V, int D,
                             const std::vector<int>& tokens, float scale) {
    auto t = up(table);
    auto ids = up(tokens);
    Buffer<float> out(tokens.size() * D);
    cuda::embedding(dtype, t.get(), ids.get(), int(tokens.size()), D, out.get(), scale);
    return down(out, tokens.size() * D);
}

std::vector<float> rmsnorm_rows(const std::vector<float>& x, const std::vector<float>& w, int T, int n, double eps) {
    auto dx = up(x), dw = up(w);
    Buffer<float> y(x.size());
    cuda::rmsnorm_rows(dx.get(), dw.get(), y.get(), T, n, eps);
    return down(y, x.size());
}

std::vector<float> rmsnorm_rows_add(const std::vector<float>& x, const std::vector<float>& w,
                                    const std::vector<float>& y, int T, int n, double eps) {
    auto dx = up(x), dw = up(w), dy = up(y);
    cuda::rmsnorm_rows_add(dx.get(), dw.get(), dy.get(), T, n, eps);
    return down(dy, y.size());
}

std::vector<float> softcap(const std::vector<float>& x, double c) {
    auto dx = up(x);
    cuda::softcap(dx.get(), x.size(), c);
    return down(dx, x.size());
}

std::vector<float> rope_pairs(const std::vector<float>& x, int T, int n_heads, int head_dim, int start_pos,
                              const std::vector<double>& theta) {
    auto dx = up(x);
    auto dt = up(theta);
    cuda::rope_pairs(dx.get(), T, n_heads, head_dim, start_pos, dt.get());
    return down(dx, x.size());
}

std::vector<float> attention(const std::vector<float>& q, const std::vector<float>& k_cache,
                             const std::vector<float>& v_cache, int start_pos, int T, int n_heads, int n_kv_heads,
                             int head_dim, const AttentionSwitches& opt) {
    auto dq = up(q), dk = up(k_cache), dv = up(v_cache);
    Buffer<float> out(q.size());
    Buffer<float> scratch(attention_decode_scratch(n_heads, head_dim, start_pos + T));
    cuda::attention(dq.get(), dk.get(), dv.get(), start_pos, T, Heads{n_heads, n_kv_heads, head_dim}, options(opt),
                    out.get(), scratch.get());
    return down(out, q.size());
}

std::vector<float> attention_plain(const std::vector<float>& q, const std::vector<float>& k_cache,
                                   const std::vector<float>& v_cache, int start_pos, int T, int n_heads, int n_kv_heads,
                                   int head_dim, const AttentionSwitches& opt) {
    auto dq = up(q), dk = up(k_cache), dv = up(v_cache);
    Buffer<float> out(q.size());
    Buffer<float> score(attention_plain_scratch(start_pos, T, n_heads));
    cuda::attention_plain(dq.get(), dk.get(), dv.get(), start_pos, T, Heads{n_heads, n_kv_heads, head_dim},
                          options(opt), out.get(), score.get());
    return down(out, q.size());
}

std::vector<float> attention_decode_at(const std::vector<float>& q, const std::vector<float>& k_cache,
                                       const std::vector<float>& v_cache, int pos, int capacity, int n_heads,
                                       int n_kv_heads, int head_dim, const AttentionSwitches& opt) {
    auto dq = up(q), dk = up(k_cache), dv = up(v_cache);
    auto dpos = up(std::vector<int>{pos});
    Buffer<float> out(q.size());
    Buffer<float> scratch(attention_decode_scratch(n_heads, head_dim, capacity));
    cuda::attention_decode(dq.get(), dk.get(), dv.get(), capacity, dpos.get(), n_heads, n_kv_heads, head_dim,
                           options(opt), out.get(), scratch.get());
    return down(out, q.size());
}

std::vector<float> swiglu_hidden(const std::vector<float>& gate, const std::vector<float>& up_) {
    auto g = up(gate), u = up(up_);
    Buffer<float> h(gate.size());
    cuda::swiglu_hidden(g.get(), u.get(), h.get(), gate.size());
    return down(h, gate.size());
}

std::vector<float> geglu_hidden(const std::vector<float>& gate, const std::vector<float>& up_) {
    auto g = up(gate), u = up(up_);
    Buffer<float> h(gate.size());
    cuda::geglu_hidden(g.get(), u.get(), h.get(), gate.size());
    return down(h, gate.size());
}

std::vector<float> matmul(DType dtype, const std::vector<std::byte>& W, int out, int in, const std::vector<float>& X,
                          int T, const std::vector<float>& y0) {
    auto dw = up(W);
    auto dx = up(X);
    Buffer<float> y(std::size_t(T) * out);
    if (!y0.empty()) y.upload(y0.data(), y0.size());
    cuda::matmul(dtype, dw.get(), out, in, dx.get(), y.get(), T, !y0.empty());
    return down(y, std::size_t(T) * out);
}

std::vector<float> matmul_cublas(DType dtype, const std::vector<std::byte>& W, int out, int in,
                                 const std::vector<float>& X, int T, const std::vector<float>& y0) {
    auto dw = up(W);
    auto dx = up(X);
    Buffer<float> y(std::size_t(T) * out);
    Buffer<uint16_t> x16(X.size());
    if (!y0.empty()) y.upload(y0.data(), y0.size());
    cublasHandle_t handle;
    check(cublasCreate(&handle), "cublasCreate");
    cuda::matmul_cublas(handle, dtype, dw.get(), out, in, dx.get(), y.get(), T, !y0.empty(), x16.get());
    auto result = down(y, std::size_t(T) * out);
    cublasDestroy(handle);
    return result;
}

std::vector<float> matvec_norm(DType dtype, const std::vector<std::byte>& W, int out, int in,
                               const std::vector<float>& x, const std::vector<float>& norm_w, double eps,
                               const std::vector<float>& y0) {
    auto dw = up(W);
    auto dx = up(x), dn = up(norm_w);
    Buffer<float> y(out);
    if (!y0.empty()) y.upload(y0.data(), y0.size());
    cuda::matvec(dtype, dw.get(), out, in, NormInput{dx.get(), dn.get(), in, eps}, y.get(), !y0.empty());
    return down(y, out);
}

// y (+)= W · gated(gate, up), the gate's activation chosen by Input (SwiGLUInput, GeGLUInput).
template <class Input>
std::vector<float> matvec_gated(DType dtype, const std::vector<std::byte>& W, int out, int in,
                                const std::vector<float>& gate, const std::vector<float>& up_,
                                const std::vector<float>& y0) {
    auto dw = up(W);
    auto dg = up(gate), du = up(up_);
    Buffer<float> y(out);
    if (!y0.empty()) y.upload(y0.data(), y0.size());
    cuda::matvec(dtype, dw.get(), out, in, Input{dg.get(), du.get()}, y.get(), !y0.empty());
    return down(y, out);
}

std::vector<float> matvec_swiglu(DType dtype, const std::vector<std::byte>& W, int out, int in,
                                 const std::vector<float>& gate, const std::vector<float>& up_,
                                 const std::vector<float>& y0) {
    return matvec_gated<SwiGLUInput>(dtype, W, out, in, gate, up_, y0);
}

std::vector<float> matvec_geglu(DType dtype, const std::vector<std::byte>& W, int out, int in,
                                const std::vector<float>& gate, const std::vector<float>& up_,
                                const std::vector<float>& y0) {
    return matvec_gated<GeGLUInput>(dtype, W, out, in, gate, up_, y0);
}

RopeStoreResult rope_store(const std::vector<float>& qkv, int n_heads, int n_kv_heads, int head_dim, int pos,
                           const std::vector<double>& theta, int capacity) {
    const std::size_t cache = std::size_t(capacity) * n_kv_heads * head_dim;
    auto dq = up(qkv);
    auto dt = up(theta);
    auto dk = up(std::vector<float>(cache, 0.0f)), dv = up(std::vector<float>(cache, 0.0f));
    auto dpos = up(std::vector<int>{pos});
    cuda::rope_store(dq.get(), n_heads, n_kv_heads, head_dim, dpos.get(), dt.get(), dk.get(), dv.get());
    return {down(dq, qkv.size()), down(dk, cache), down(dv, cache)};
}

std::vector<float> softmax(const std::vector<float>& x, int rows, int n) {
    auto dx = up(x);
    cuda::softmax(dx.get(), rows, n);
    return down(dx, x.size());
}

int argmax(const std::vector<float>& x) {
    auto dx = up(x);
    Buffer<int> r(1);
    cuda::argmax(dx.get(), int(x.size()), r.get());
    return down(r, 1)[0];
}

int sample(const std::vector<float>& logits, double temperature, int top_k, double top_p, double min_p, double coin) {
    auto dx = up(logits);
    Buffer<int> r(1);
    DeviceSampler sampler(int(logits.size()));
    sampler.sample(dx.get(), temperature, top_k, top_p, min_p, coin, r.get());
    return down(r, 1)[0];
}

}  // namespace llamaref::cuda::test
