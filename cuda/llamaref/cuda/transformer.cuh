// llamaref/cuda/transformer.cuh — the Llama family's forward pass on the device, kernel by kernel.
//
// The same story as model/transformer.hpp, told with the same steps and names (read the two side
// by side: forward → embed, attention_block, feed_forward_block, output_head), for T tokens at
// positions start_pos .. start_pos+T−1:
//
//   x = tok_embeddings[tokens]  (Gemma: × √D)                   embedding.cuh      [T, D]
//   for each block l:
//       xn = rmsnorm(x) · attention_norm                        rmsnorm.cuh        [T, D]
//       q, k, v = wq·xn, wk·xn, wv·xn                           matmul.cuh         [T, H·Dh], [T, KV·Dh] ×2
//       q, k = RoPE(q), RoPE(k);  K/V cache[start_pos ..] = k, v     rope.cuh
//       x += wo · attention(q, K cache, V cache)                attention.cuh, matmul (accumulate)
//            (window W of layer l, score scale, soft-cap: attention.cuh's AttentionOptions;
//             Gemma 2: x += post_attention_norm(wo · attention(...)), rmsnorm_rows_add)
//       xn = rmsnorm(x) · ffn_norm
//       x += w2 · (SiLU(w1·xn) ⊙ (w3·xn))                       matmul, feed_forward.cuh
//            (Gemma: GELU_tanh instead of SiLU; Gemma 2: x += post_ffn_norm(w2 · ...))
//   logits = output · (rmsnorm(x) · norm)                                          [T, V]
//            (Gemma 2: logits = c·tanh(logits / c), softcap.cuh)
//
// Gemma's norms multiply by (1 + w): the 1 is added on the host before the upload, in float32,
// with the CPU path's own function (unit_offset_weights). A layer with a sliding window keeps
// every position on the device (the window is a mask in attention.cuh, not a rolling buffer).
//
// Memory: weights are uploaded once in their stored dtype. The rows of wq, wk and wv are stored
// one after the other (likewise w1 then w3) when their dtypes agree, so a decode step (T = 1)
// computes q, k and v with one matrix-vector product over the stacked rows — the same numbers,
// one pass over the weights. Activations and the KV cache are float32. Prefill GEMMs may use
// cuBLAS (RunnerOptions::fast_prefill, matmul.cuh).
//
// An optimisation beside the story, to read after it: a decode step (T = 1) runs decode_fused()
// by default — the same steps with the small ones folded into the big matrix-vector products
// (decode.cuh: 6 launches per block instead of 13), captured once as a CUDA graph and replayed
// for every token (RunnerOptions::fused_decode, cuda_graph; `--decode-path plain` runs the story
// kernel by kernel). Tests hold the fused step equal to the plain one.
//
// Model parallel (model_parallel.cuh): built with a RankLayout, the Transformer holds one rank's
// slices and runs the same kernels with the rank's head and unit counts; the embedding, the sums
// after wo and w2 and the logits pass through the layout's DeviceCollectives (kernel by kernel:
// no fused step, no graph).
#pragma once

#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include <llamaref/model/probe.hpp>
#include <llamaref/model/rmsnorm.hpp>
#include <llamaref/model/rope.hpp>

#include "attention.cuh"
#include "attention_plain.cuh"
#include "decode.cuh"
#include "embedding.cuh"
#include "feed_forward.cuh"
#include "matmul.cuh"
#include "model_parallel.cuh"
#include "rmsnorm.cuh"
#include "rope.cuh"
#include "runner.hpp"
#include "sampling.cuh"
#include "softcap.cuh"

namespace llamaref::cuda {

// A weight matrix in device memory (a view into a layer's buffer).
struct DeviceMatrix {
    DType dtype = DType::F32;
    int rows = 0, cols = 0;
    const unsigned char* data = nullptr;
    std::size_t bytes() const { return std::size_t(rows) * dtype_bytes(dtype, cols); }
};

// Uploads matrices into one buffer. When they share a dtype and a row length they are stacked
// row after row, and `stacked` views all their rows as one matrix.
struct MatrixGroup {
    Buffer<unsigned char> buffer;
    std::vector<DeviceMatrix> parts;
    DeviceMatrix stacked;  // rows = Σ rows; data == nullptr when the parts differ in dtype

    explicit MatrixGroup(std::initializer_list<const TensorView*> tensors) {
        bool same = true;
        std::size_t total = 0;
        for (const TensorView* t : tensors) {
            if (t->shape.size() != 2) fail("CUDA upload: a weight matrix must have 2 dimensions");
            same = same && t->dtype == (*tensors.begin())->dtype && t->shape[1] == (*tensors.begin())->shape[1];
            total += round_up(dtype_bytes(t->dtype, t->shape[0] * t->shape[1]));
        }
        buffer.resize(total);
        std::size_t offset = 0;
        int rows = 0;
        for (const TensorView* t : tensors) {
            const std::size_t bytes = dtype_bytes(t->dtype, t->shape[0] * t->shape[1]);
            buffer.upload(reinterpret_cast<const unsigned char*>(t->data), bytes, offset);
            parts.push_back({t->dtype, int(t->shape[0]), int(t->shape[1]), buffer.get() + offset});
            offset += same ? bytes : round_up(bytes);  // stacked: no gaps between the parts
            rows += int(t->shape[0]);
        }
        if (same) stacked = {parts[0].dtype, rows, parts[0].cols, buffer.get()};
    }
    static std::size_t round_up(std::size_t n) { return (n + 255) / 256 * 256; }
};

// A norm weight as float32 on the device (the CPU path converts these too), 1 + w for Gemma
// (unit_offset: model/rmsnorm.hpp's unit_offset_weights, the CPU path's own arithmetic). An absent
// tensor (no data) gives an empty buffer.
inline Buffer<float> upload_norm(const TensorView& t, bool unit_offset) {
    if (!t.data) return {};
    std::size_t n = 1;
    for (auto d : t.shape) n *= d;
    std::vector<float> host(n);
    to_f32(t.dtype, t.data, host.data(), n);
    if (unit_offset) host = unit_offset_weights(std::move(host));
    Buffer<float> b(n);
    b.upload(host.data(), n);
    return b;
}

struct DeviceLayer {
    Buffer<float> attention_norm, ffn_norm;            // [D]
    Buffer<float> post_attention_norm, post_ffn_norm;  // [D]  Gemma 2 only (post_norms), else empty
    MatrixGroup qkv;                                   // wq [Q, D], wk [K, D], wv [K, D]
    MatrixGroup wo;                                    // [D, Q]
    MatrixGroup w13;                                   // w1 [F, D], w3 [F, D]
    MatrixGroup w2;                                    // [D, F]

    DeviceLayer(const LayerWeights& L, bool unit_offset)
        : attention_norm(upload_norm(L.attention_norm, unit_offset)),
          ffn_norm(upload_norm(L.ffn_norm, unit_offset)),
          post_attention_norm(upload_norm(L.post_attention_norm, unit_offset)),
          post_ffn_norm(upload_norm(L.post_ffn_norm, unit_offset)),
          qkv({&L.wq, &L.wk, &L.wv}),
          wo({&L.wo}),
          w13({&L.w1, &L.w3}),
          w2({&L.w2}) {}
};

static_assert(kMaxCudaHeadDim == kMaxHeadDim, "runner.hpp's limit is attention.cuh's");

class Transformer {
  public:
    Transformer(const Model& model, const RunnerOptions& options) : Transformer(model.config, model.weights, options) {}
    // One rank of a model-parallel job when `rank` is split: `m` holds the rank's slices of the
    // model `config` describes (model_parallel/rank_model.hpp), cut as rank.partition says.
    Transformer(const ModelConfig& config, const Weights& m, const RunnerOptions& options, RankLayout rank = {})
        : cfg_(rank.split() ? rank_config(*rank.partition) : config),
          options_(options),
          rank_(rank),
          embeddings_({&m.tok_embeddings}) {
        if (rank.split() && !rank.collectives) fail("CUDA model parallel: a rank needs its collectives");
        if (options.context_len < 0) fail("context length must not be negative, got ", options.context_len);
        if (options.context_len > 0) cfg_.max_seq_len = options.context_len;
        cfg_.validate();
        require_supported(cfg_);
        if (int(m.layers.size()) != cfg_.n_layers)
            fail("CUDA: ", m.layers.size(), " layers, the config says ", cfg_.n_layers);
        for (const LayerWeights& L : m.layers) {
            if (cfg_.post_norms != (L.post_attention_norm.data != nullptr) ||
                cfg_.post_norms != (L.post_ffn_norm.data != nullptr))
                fail("CUDA: the layers' post-norms do not match the config (post_norms ", cfg_.post_norms, ")");
            layers_.emplace_back(L, cfg_.norm_unit_offset);
        }
        final_norm_ = upload_norm(m.norm, cfg_.norm_unit_offset);
        for (int l = 0; l < cfg_.n_layers; ++l)  // the all-reduces' names, for a rank's messages
            for (const char* step : {".attention.wo", ".feed_forward.w2"})
                step_names_.push_back("layers." + std::to_string(l) + step);
        if (m.output.data != m.tok_embeddings.data) output_.emplace_back(MatrixGroup({&m.output}));
        const auto theta = rope_frequencies(cfg_.head_dim, cfg_.rope_theta, cfg_.rope_scaling);
        theta_.resize(theta.size());
        theta_.upload(theta.data(), theta.size());
        check(cublasCreate(&cublas_), "cublasCreate");
        // One stream for all work after the upload above (whose copies are complete once the
        // device is synchronised). Every later copy is ordered on this stream too, so nothing
        // depends on the legacy default stream (or on --default-stream per-thread).
        check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
        next_.resize(1), pos_.resize(1);
        fused_ = options.fused_decode && !options.plain_attention && !rank.split() && fused_decode_possible();
        matvec_blocks(1, 1);  // reads the multiprocessor count now, not during a graph capture
        check(cudaDeviceSynchronize(), "upload the weights");
    }
    ~Transformer() {
        if (cublas_) cublasDestroy(cublas_);  // it uses stream_
        if (graph_) cudaGraphExecDestroy(graph_);
        if (stream_) cudaStreamDestroy(stream_);
    }
    Transformer(const Transformer&) = delete;
    Transformer& operator=(const Transformer&) = delete;

    const ModelConfig& config() const { return cfg_; }
    const DeviceMatrix& output() const { return output_.empty() ? embeddings_.parts[0] : output_[0].parts[0]; }

    // Runs the tokens; afterwards logits() holds [rows, V]: all T rows, or only the last one
    // when last_only (what generation needs). The story of model/transformer.hpp's forward_chunk,
    // step for step and with its names: embed, then per block attention_block and
    // feed_forward_block, then output_head. A decode step (T = 1) may instead take the fused path
    // (decode_fused, decode.cuh): an optimisation of the same steps, documented there.
    void forward(std::span<const int> tokens, int start_pos, bool last_only) {
        const int T = int(tokens.size());
        check_input(tokens, start_pos);
        reserve_cache(start_pos + T);
        reserve_activations(T);
        embed(tokens, start_pos);  // x: [T, D]
        probe("tok_embeddings", -1, x_.get(), T, cfg_.dim);
        if (T == 1 && fused_ && !observer_) return decode_fused();  // an observer sees the story's steps
        for (int l = 0; l < cfg_.n_layers; ++l) {
            attention_block(l, start_pos, T);  // x += wo · attention(attention_norm(x))
            feed_forward_block(l, T);          // x += w2 · FFN(ffn_norm(x))
        }
        output_head(T, last_only);  // logits: [rows, V]
    }

    // The same step for one token with the fused kernels of decode.cuh; x holds its embedding
    // and pos_ its position (forward uploads both). The step is replayed as a CUDA graph (captured
    // again whenever a buffer it uses has moved) unless RunnerOptions::cuda_graph is off.
    void decode_fused() {
        logits_rows_ = 1;
        if (!options_.cuda_graph) return decode_layers();
        if (!graph_ || graph_version_ != buffers_version_) capture_decode_graph();
        check(cudaGraphLaunch(graph_, stream_), "cudaGraphLaunch (decode step)");
    }

    const float* logits() const { return logits_.get(); }  // [rows, V] on the device
    // Logits rows [first, first + rows) copied to the host, after the work queued before.
    std::vector<float> download_logits(int first, int rows) const {
        std::vector<float> host(std::size_t(rows) * cfg_.vocab_size);
        // First the wait for the queued work, which a rank bounds (NcclCollectives::synchronize):
        // a copy into pageable memory would wait for it without a deadline.
        synchronize("the logits");
        check(cudaMemcpyAsync(host.data(), logits_.get() + std::size_t(first) * cfg_.vocab_size,
                              host.size() * sizeof(float), cudaMemcpyDeviceToHost, stream_),
              "copy logits to the host");
        check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
        return host;
    }
    // "graph", "fused" or "plain": how a decode step runs (fused needs rows of a multiple of 8).
    const char* decode_path() const { return !fused_ ? "plain" : options_.cuda_graph ? "graph" : "fused"; }
    int logits_rows() const { return logits_rows_; }

    // Samples from the last logits row on the device; copies one int back.
    int sample(const DeviceSampling& s, double coin) {
        if (!sampler_) sampler_ = std::make_unique<DeviceSampler>(cfg_.vocab_size);
        const float* last = logits_.get() + std::size_t(logits_rows_ - 1) * cfg_.vocab_size;
        last_next_ = -1;  // next_ is about to change
        sampler_->sample(last, s.temperature, s.top_k, s.top_p, s.min_p, coin, next_.get(), stream_);
        int id = -1;
        next_.download(&id, 1, stream_);  // the one copy back of a decode step
        if (id < 0) fail("sampling: the logits contain NaN or infinite values");
        last_next_ = id;  // the next decode step reads it from next_ on the device
        return id;
    }

    std::size_t weight_bytes() const {
        std::size_t n = embeddings_.buffer.bytes() + final_norm_.bytes();
        for (const auto& o : output_) n += o.buffer.bytes();
        for (const auto& L : layers_)
            n += L.attention_norm.bytes() + L.ffn_norm.bytes() + L.post_attention_norm.bytes() +
                 L.post_ffn_norm.bytes() + L.qkv.buffer.bytes() + L.wo.buffer.bytes() + L.w13.buffer.bytes() +
                 L.w2.buffer.bytes();
        return n;
    }
    // What a decode step reads: all weights except the embedding table unless it is the output
    // head too (only one of its rows is read as an embedding).
    std::size_t decode_weight_bytes() const {
        return weight_bytes() - (output_.empty() ? 0 : embeddings_.buffer.bytes());
    }
    std::size_t kv_bytes_per_position() const { return 2 * std::size_t(cfg_.n_layers) * cfg_.kv_dim() * sizeof(float); }

    // Called with every intermediate tensor of the story by Meta's module name, copied to the host
    // (model/probe.hpp); a run with an observer takes the plain path (no fused decode step) and
    // adds each sub-layer's output to x in a kernel of its own. Not recorded on the device:
    // attention probabilities (the flash kernels never hold them) and Gemma 2's post-norm outputs
    // (normalised and added in one kernel). Null: no observer.
    void set_observer(Observer fn) { observer_ = std::move(fn); }

    // Waits for the work queued on the stream (a rank: through its collectives, which may bound the wait).
    void synchronize(const char* what) const {
        if (rank_.split())
            rank_.collectives->synchronize(stream_, what);
        else
            check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    }

  private:
    // --- the forward pass, step by step (model/transformer.hpp's names) ---

    // Token embeddings: x [T, D] = rows of the table (Gemma: × √D); a rank assembles its part
    // with the other ranks'.
    void embed(std::span<const int> tokens, int start_pos) {
        const int T = int(tokens.size());
        if (rank_.split()) return embed_rank(tokens, x_.get());  // every rank's part of the table: [T, D]
        // The token: the id the device sampler just chose stays on the device.
        const int* d_tokens = tokens_.get();
        if (T == 1 && tokens[0] == last_next_)
            d_tokens = next_.get();
        else
            tokens_.upload(tokens.data(), T, stream_);
        if (T == 1 && fused_) pos_.upload(&start_pos, 1, stream_);  // read by the fused step's kernels
        const DeviceMatrix& E = embeddings_.parts[0];
        embedding(E.dtype, E.data, d_tokens, T, cfg_.dim, x_.get(), embed_scale(), stream_);
    }

    // Block l's attention sub-layer: x [T, D] += wo · Attention(RoPE(wq·xn), RoPE(wk·xn), wv·xn),
    // xn = attention_norm(x); this call's keys and values go to the cache first. (Gemma 2: x +=
    // post_attention_norm(wo · ...); a rank: wo's partial products summed over the ranks.)
    void attention_block(int l, int start_pos, int T) {
        const int D = cfg_.dim, Q = cfg_.q_dim(), K = cfg_.kv_dim(), H = cfg_.n_heads, KV = cfg_.n_kv_heads,
                  Dh = cfg_.head_dim;
        const DeviceLayer& L = layers_[l];
        float *x = x_.get(), *xn = xn_.get(), *att = att_.get();
        float *q = qkv_.get(), *k = q + std::size_t(T) * Q, *v = k + std::size_t(T) * K;  // [T, Q], [T, K] ×2
        float* k_cache = layer_cache(k_cache_, l);
        float* v_cache = layer_cache(v_cache_, l);
        rmsnorm_rows(x, L.attention_norm.get(), xn, T, D, cfg_.norm_eps, stream_);  // xn: [T, D]
        probe(".attention_norm", l, xn, T, D);
        if (T == 1 && L.qkv.stacked.data) {
            linear(L.qkv.stacked, xn, q, 1);  // q, k, v in one pass: [Q + K + K]
        } else {
            linear(L.qkv.parts[0], xn, q, T);  // q: [T, H, Dh]
            linear(L.qkv.parts[1], xn, k, T);  // k: [T, KV, Dh]
            linear(L.qkv.parts[2], xn, v, T);  // v: [T, KV, Dh]
        }
        probe(".attention.wq", l, q, T, Q);
        probe(".attention.wk", l, k, T, K);
        probe(".attention.wv", l, v, T, K);
        rope_pairs(q, T, H, Dh, start_pos, theta_.get(), stream_);
        rope_pairs(k, T, KV, Dh, start_pos, theta_.get(), stream_);
        probe(".attention.q_rope", l, q, T, Q);
        probe(".attention.k_rope", l, k, T, K);
        const std::size_t kv_bytes = std::size_t(T) * K * sizeof(float);
        check(cudaMemcpyAsync(k_cache + std::size_t(start_pos) * K, k, kv_bytes, cudaMemcpyDeviceToDevice, stream_),
              "store K");
        check(cudaMemcpyAsync(v_cache + std::size_t(start_pos) * K, v, kv_bytes, cudaMemcpyDeviceToDevice, stream_),
              "store V");
        if (options_.plain_attention) {  // version 1: one thread per (token, head), attention_plain.cuh
            attention_plain(q, k_cache, v_cache, start_pos, T, cfg_.heads(), attention_options(l), att,
                            plain_scores(start_pos, T), stream_);
        } else {  // blocks of keys with an online softmax, attention.cuh
            attention(q, k_cache, v_cache, start_pos, T, cfg_.heads(), attention_options(l), att,
                      attention_scratch_.get(), stream_);
        }
        probe(".attention.heads", l, att, T, Q);
        add_to_residual(L.wo.parts[0], att, L.post_attention_norm.get(), T, l, 0);  // x += wo · att
    }

    // Block l's feed-forward sub-layer: x [T, D] += w2 · (act(w1·hn) ⊙ w3·hn), hn = ffn_norm(x),
    // act = SiLU or GELU_tanh. (Gemma 2: x += post_ffn_norm(w2 · ...); a rank: w2's partial products
    // summed over the ranks.)
    void feed_forward_block(int l, int T) {
        const int D = cfg_.dim, F = cfg_.hidden_dim;
        const DeviceLayer& L = layers_[l];
        float *x = x_.get(), *hn = xn_.get(), *hidden = hidden_.get();
        float *gate = gate_up_.get(), *up = gate + std::size_t(T) * F;        // [T, F] each
        rmsnorm_rows(x, L.ffn_norm.get(), hn, T, D, cfg_.norm_eps, stream_);  // hn: [T, D]
        probe(".ffn_norm", l, hn, T, D);
        if (T == 1 && L.w13.stacked.data) {
            linear(L.w13.stacked, hn, gate, 1);  // gate and up in one pass: [F + F]
        } else {
            linear(L.w13.parts[0], hn, gate, T);
            linear(L.w13.parts[1], hn, up, T);
        }
        if (geglu_ffn())
            geglu_hidden(gate, up, hidden, std::size_t(T) * F, stream_);
        else
            swiglu_hidden(gate, up, hidden, std::size_t(T) * F, stream_);
        probe(".feed_forward.w1", l, gate, T, F);
        probe(".feed_forward.w3", l, up, T, F);
        probe(".feed_forward.hidden", l, hidden, T, F);
        add_to_residual(L.w2.parts[0], hidden, L.post_ffn_norm.get(), T, l, 1);  // x += w2 · hidden
    }

    // Final norm and output head, for every row or only the last one: logits [rows, V] (a rank:
    // its [rows, V/N], gathered).
    void output_head(int T, bool last_only) {
        const int D = cfg_.dim, rows = last_only ? 1 : T;
        const float* last = x_.get() + std::size_t(T - rows) * D;
        rmsnorm_rows(last, final_norm_.get(), xn_.get(), rows, D, cfg_.norm_eps, stream_);
        probe("norm", -1, xn_.get(), rows, D);
        linear(output(), xn_.get(), logits_.get(), rows);  // [rows, V] (model parallel: [rows, V/N], gathered next)
        if (rank_.split()) gather_logits(rows);
        softcap(logits_.get(), std::size_t(rows) * cfg_.vocab_size, cfg_.final_softcap, stream_);  // Gemma 2
        probe("output", -1, logits_.get(), rows, cfg_.vocab_size);
        logits_rows_ = rows;
    }

    // --- model parallel (model_parallel.cuh): the steps where a rank meets the others ---

    // x [T, D] ← the embeddings of `tokens`, assembled from every rank's part of the table.
    void embed_rank(std::span<const int> tokens, float* x) {
        const Partition& p = *rank_.partition;
        const int T = int(tokens.size()), D = cfg_.dim, N = p.ranks();
        const DeviceMatrix& E = embeddings_.parts[0];
        if (p.embedding() == EmbeddingSplit::vocab) {  // E [V/N, D]: this rank's rows, 0 for other ranks' tokens
            const Range v = p.vocab();
            local_ids_.assign(tokens.begin(), tokens.end());
            for (int& id : local_ids_)
                id = std::size_t(id) >= v.begin && std::size_t(id) < v.end ? id - int(v.begin) : -1;
            tokens_.upload(local_ids_.data(), T, stream_);
            embedding(E.dtype, E.data, tokens_.get(), T, D, x, embed_scale(), stream_);
            rank_.collectives->all_reduce_sum(x, std::size_t(T) * D, stream_, "tok_embeddings");
        } else {  // E [V, D/N]: this rank's columns of every token's row
            const int d = int(p.dim().size());
            tokens_.upload(tokens.data(), T, stream_);
            embedding(E.dtype, E.data, tokens_.get(), T, d, x, embed_scale(), stream_);  // x as [T, D/N]
            rank_.collectives->all_gather(x, std::size_t(T) * d, gather_.get(), stream_, "tok_embeddings");
            interleave(gather_.get(), N, T, d, x, stream_);  // [N, T, D/N] → [T, D]
        }
    }

    // Sub-layer `sub` (0: attention's wo, 1: the FFN's w2) of block l adds its output to the
    // residual stream x [T, D]: x += W · in (in: [T, W.cols]). Gemma 2 adds post_norm(W · in)
    // instead; a rank (model parallel) first sums its partial product with the other ranks'. Either
    // goes through xn, free again at that point, and so does an observed run (which sees the
    // product, then x); otherwise the product accumulates into x directly.
    void add_to_residual(const DeviceMatrix& W, const float* in, const float* post_norm, int T, int l, int sub) {
        float *x = x_.get(), *y = xn_.get();
        const std::size_t n = std::size_t(T) * cfg_.dim;
        if (!cfg_.post_norms && !rank_.split() && !observer_) return linear(W, in, x, T, /*accumulate=*/true);
        linear(W, in, y, T);  // [T, D] (model parallel: this rank's heads' or units' share)
        const std::string& step = step_names_[std::size_t(2 * l + sub)];                    // "layers.3.attention.wo"
        if (rank_.split()) rank_.collectives->all_reduce_sum(y, n, stream_, step.c_str());  // every rank's share summed
        probe(sub == 0 ? ".attention.wo" : ".feed_forward.w2", l, y, T, cfg_.dim);
        if (cfg_.post_norms)
            rmsnorm_rows_add(y, post_norm, x, T, cfg_.dim, cfg_.norm_eps, stream_);
        else
            add_into(y, x, n, stream_);
        probe(sub == 0 ? ".h" : "", l, x, T, cfg_.dim);  // the residual stream after the add (block output)
    }

    // The observer's view of a device tensor [rows, cols]: copied to the host once the work queued
    // before it is done, under "layers.l" + name inside block l (model/probe.hpp). Nothing when no
    // observer is set.
    void probe(const char* name, int layer, const float* device, int rows, int cols) {
        if (!observer_) return;
        const std::size_t n = std::size_t(rows) * std::size_t(cols);
        probe_host_.resize(n);
        check(cudaMemcpyAsync(probe_host_.data(), device, n * sizeof(float), cudaMemcpyDeviceToHost, stream_),
              "copy a probed tensor to the host");
        check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize (probe)");
        const std::string full = layer < 0 ? std::string(name) : "layers." + std::to_string(layer) + name;
        observer_(Probe{full, layer, probe_host_.data(), {std::size_t(rows), std::size_t(cols)}});
    }

    // logits_ [rows, V/N] (this rank's vocabulary) → [rows, V] (every rank's, in order).
    void gather_logits(int rows) {
        const Partition& p = *rank_.partition;
        const int n = int(p.vocab().size());
        rank_.collectives->all_gather(logits_.get(), std::size_t(rows) * n, gather_.get(), stream_, "output");
        interleave(gather_.get(), p.ranks(), rows, n, logits_.get(), stream_);  // [N, rows, V/N] → [rows, V]
    }

    // Gemma: the embeddings times √D, rounded to float32 first (model/transformer.hpp); else 1.
    float embed_scale() const { return cfg_.embed_scale ? float(std::sqrt(double(cfg_.dim))) : 1.0f; }
    bool geglu_ffn() const { return cfg_.activation == Activation::gelu_tanh; }
    // Layer l's window, the score scale and the soft-cap, as the CPU's AttentionOptions.
    AttentionOptions attention_options(int l) const {
        return {cfg_.window(l), cfg_.attention_scale(), float(cfg_.attn_softcap)};
    }

    // The kernels of one decode step after the embedding, reading the position from pos_.
    void decode_layers() {
        const int D = cfg_.dim, F = cfg_.hidden_dim, H = cfg_.n_heads, KV = cfg_.n_kv_heads, Dh = cfg_.head_dim;
        float *x = x_.get(), *xn = xn_.get(), *qkv = qkv_.get(), *att = att_.get(), *gate = gate_up_.get(),
              *up = gate + F;
        for (int l = 0; l < cfg_.n_layers; ++l) {
            const DeviceLayer& L = layers_[l];
            float* k_cache = layer_cache(k_cache_, l);
            float* v_cache = layer_cache(v_cache_, l);
            const DeviceMatrix &Wqkv = L.qkv.stacked, &Wo = L.wo.parts[0], &W13 = L.w13.stacked, &W2 = L.w2.parts[0];
            matvec(Wqkv.dtype, Wqkv.data, Wqkv.rows, D, NormInput{x, L.attention_norm.get(), D, cfg_.norm_eps}, qkv,
                   false, stream_);
            rope_store(qkv, H, KV, Dh, pos_.get(), theta_.get(), k_cache, v_cache, stream_);
            attention_decode(qkv, k_cache, v_cache, cache_capacity_, pos_.get(), H, KV, Dh, attention_options(l), att,
                             attention_scratch_.get(), stream_);
            if (cfg_.post_norms) {  // Gemma 2: the product into xn, then x += post_attention_norm(xn)
                matvec(Wo.dtype, Wo.data, D, Wo.cols, PlainInput{att}, xn, false, stream_);
                rmsnorm_rows_add(xn, L.post_attention_norm.get(), x, 1, D, cfg_.norm_eps, stream_);
            } else {
                matvec(Wo.dtype, Wo.data, D, Wo.cols, PlainInput{att}, x, /*accumulate=*/true, stream_);
            }
            matvec(W13.dtype, W13.data, W13.rows, D, NormInput{x, L.ffn_norm.get(), D, cfg_.norm_eps}, gate, false,
                   stream_);
            float* ffn_out = cfg_.post_norms ? xn : x;  // Gemma 2: x += post_ffn_norm(xn) below
            if (geglu_ffn())
                matvec(W2.dtype, W2.data, D, F, GeGLUInput{gate, up}, ffn_out, !cfg_.post_norms, stream_);
            else
                matvec(W2.dtype, W2.data, D, F, SwiGLUInput{gate, up}, ffn_out, !cfg_.post_norms, stream_);
            if (cfg_.post_norms) rmsnorm_rows_add(xn, L.post_ffn_norm.get(), x, 1, D, cfg_.norm_eps, stream_);
        }
        const DeviceMatrix& out = output();
        matvec(out.dtype, out.data, out.rows, D, NormInput{x, final_norm_.get(), D, cfg_.norm_eps}, logits_.get(),
               false, stream_);
        softcap(logits_.get(), cfg_.vocab_size, cfg_.final_softcap, stream_);  // Gemma 2
    }

    void capture_decode_graph() {
        if (graph_) check(cudaGraphExecDestroy(graph_), "cudaGraphExecDestroy");
        graph_ = nullptr;
        cudaGraph_t g = nullptr;
        check(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
        try {
            decode_layers();
        } catch (...) {
            cudaStreamEndCapture(stream_, &g);
            if (g) cudaGraphDestroy(g);
            throw;
        }
        check(cudaStreamEndCapture(stream_, &g), "cudaStreamEndCapture (decode step)");
        const cudaError_t e = cudaGraphInstantiate(&graph_, g, 0);
        cudaGraphDestroy(g);
        check(e, "cudaGraphInstantiate (decode step; RunnerOptions::cuda_graph = false avoids graphs)");
        graph_version_ = buffers_version_;
    }

    // The fused decode step needs stacked qkv and w1/w3 and rows the vector loads can take.
    bool fused_decode_possible() const {
        if (cfg_.dim % 8 != 0 || cfg_.hidden_dim % 8 != 0) return false;
        for (const DeviceLayer& L : layers_) {
            if (!L.qkv.stacked.data || !L.w13.stacked.data) return false;
            for (const DeviceMatrix* m : {&L.qkv.stacked, &L.wo.parts[0], &L.w13.stacked, &L.w2.parts[0]})
                if (!matvec_supported(m->dtype, m->data, m->cols)) return false;
        }
        return matvec_supported(output().dtype, output().data, output().cols);
    }

    // Y (+)= X · Wᵀ with the kernel that suits the dtype and the number of tokens.
    void linear(const DeviceMatrix& W, const float* X, float* Y, int T, bool accumulate = false) {
        const bool gemm = T > 1 && (W.dtype == DType::F32 || (options_.fast_prefill && W.dtype != DType::Q8_0));
        if (gemm)
            matmul_cublas(cublas_, W.dtype, W.data, W.rows, W.cols, X, Y, T, accumulate, x16_.get(), stream_);
        else
            matmul(W.dtype, W.data, W.rows, W.cols, X, Y, T, accumulate, stream_);
    }

    void check_input(std::span<const int> tokens, int start_pos) const {
        if (tokens.empty()) fail("forward: no tokens given");
        if (start_pos < 0) fail("forward: negative start position ", start_pos);
        if (start_pos + int(tokens.size()) > cfg_.max_seq_len)
            fail("forward: positions up to ", start_pos + tokens.size(), " requested, the context holds ",
                 cfg_.max_seq_len);
        for (int t : tokens)
            if (t < 0 || t >= cfg_.vocab_size)
                fail("forward: token id ", t, " is outside the vocabulary [0, ", cfg_.vocab_size, ")");
    }

    float* layer_cache(Buffer<float>& cache, int l) {
        return cache.get() + std::size_t(l) * cache_capacity_ * cfg_.kv_dim();
    }

    // attention_plain's score scratch for T tokens after start_pos, grown when too small.
    float* plain_scores(int start_pos, int T) {
        const std::size_t n = attention_plain_scratch(start_pos, T, cfg_.n_heads);
        if (plain_scores_.size() < n) {
            check(cudaStreamSynchronize(stream_),
                  "attention_plain: before growing its scratch");  // the old one may be in use
            plain_scores_ = Buffer<float>(n);
        }
        return plain_scores_.get();
    }

    // The KV cache grows (doubling, up to the context) and keeps what it holds.
    void reserve_cache(int n) {
        if (n <= cache_capacity_) return;
        const int cap = std::min(cfg_.max_seq_len, std::max(n, 2 * cache_capacity_));
        const std::size_t K = cfg_.kv_dim();
        auto grown = [&](const Buffer<float>& cache) {
            Buffer<float> bigger(std::size_t(cfg_.n_layers) * cap * K);
            for (int l = 0; l < cfg_.n_layers && cache_capacity_ > 0; ++l)
                check(cudaMemcpyAsync(bigger.get() + l * cap * K, cache.get() + l * cache_capacity_ * K,
                                      cache_capacity_ * K * sizeof(float), cudaMemcpyDeviceToDevice, stream_),
                      "grow the KV cache");
            return bigger;
        };
        // Everything is allocated before anything changes: running out of memory leaves the
        // old cache intact.
        Buffer<float> k = grown(k_cache_), v = grown(v_cache_);
        Buffer<float> scratch(attention_decode_scratch(cfg_.n_heads, cfg_.head_dim, cap));
        k_cache_ = std::move(k), v_cache_ = std::move(v), attention_scratch_ = std::move(scratch);
        cache_capacity_ = cap;
        ++buffers_version_;  // a captured decode graph points at the old buffers
    }

    void reserve_activations(int T) {
        if (T <= activation_rows_) return;
        const std::size_t D = cfg_.dim, Q = cfg_.q_dim(), K = cfg_.kv_dim(), F = cfg_.hidden_dim;
        x_.resize(T * D), xn_.resize(T * D), qkv_.resize(T * (Q + 2 * K)), att_.resize(T * Q);
        gate_up_.resize(T * 2 * F), hidden_.resize(T * F), logits_.resize(T * std::size_t(cfg_.vocab_size));
        tokens_.resize(T), x16_.resize(T * std::max({D, Q, F}));
        if (rank_.split()) gather_.resize(T * std::max(D, std::size_t(cfg_.vocab_size)));  // all-gathers' output
        activation_rows_ = T;
        ++buffers_version_;
    }

    ModelConfig cfg_;  // a rank's: H/N, KV/N heads and F/N units (rank_config)
    RunnerOptions options_;
    RankLayout rank_;
    MatrixGroup embeddings_;
    std::vector<MatrixGroup> output_;  // empty when tied to the embeddings
    std::vector<DeviceLayer> layers_;
    Buffer<float> final_norm_;
    Buffer<double> theta_;  // [Dh/2]
    cublasHandle_t cublas_ = nullptr;
    cudaStream_t stream_ = nullptr;

    int cache_capacity_ = 0;
    Buffer<float> k_cache_, v_cache_;  // [L, capacity, KV·Dh]
    Buffer<float> attention_scratch_;
    Buffer<float> plain_scores_;  // attention_plain's [T·H, S] scores (RunnerOptions::plain_attention)

    int activation_rows_ = 0, logits_rows_ = 0;
    Buffer<float> x_, xn_, qkv_, att_, gate_up_, hidden_, logits_;
    Buffer<float> gather_;                 // model parallel: an all-gather's [N, T, D/N] or [N, rows, V/N]
    std::vector<int> local_ids_;           // model parallel: tokens as rows of this rank's vocabulary, −1 elsewhere
    std::vector<std::string> step_names_;  // [2L]: "layers.l.attention.wo", "layers.l.feed_forward.w2"
    Buffer<uint16_t> x16_;
    Buffer<int> tokens_, next_, pos_;  // pos_: the decode step's position, read by its kernels
    int last_next_ = -1;
    bool fused_ = false;
    cudaGraphExec_t graph_ = nullptr;  // the fused decode step, captured
    int buffers_version_ = 0, graph_version_ = -1;
    std::unique_ptr<DeviceSampler> sampler_;
    Observer observer_;              // set_observer: sees each step's tensor, copied to the host
    std::vector<float> probe_host_;  // the probed tensor on the host
};

}  // namespace llamaref::cuda
