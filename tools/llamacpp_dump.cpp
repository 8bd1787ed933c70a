// tools/llamacpp_dump.cpp — llama.cpp's intermediate tensors of one forward pass, written as a
// llamaref trace folder (.npy files + index.json) with a name map for `llamaref compare --map`.
//
// llama.cpp calls an "eval callback" for every node of its compute graph (llama_context_params::
// cb_eval; its own example is examples/eval-callback, which prints a few values of each). This
// program asks for every node, copies each float32 / float16 result as float32 in C order and
// names the file after the node (llama.cpp names them "attn_norm-0", "Qcur-0", ...; a name seen
// again, such as Qcur-0 after RoPE, gets "#2"). It runs the token ids as one batch with logits for
// every position, so the tensors are [T, ...] as in `llamaref trace`, and the KV cache in float32
// (llama.cpp's default is float16: --cache-type f16 to keep it).
//
// Not part of the build: it needs llama.cpp, built from source outside this repository
// (docs/verify.md, "3. llama.cpp tensor by tensor"):
//   g++ -std=c++17 -O2 tools/llamacpp_dump.cpp -I$LLAMA/include -I$LLAMA/ggml/include
//       -L$LLAMA/build/bin -lllama -lggml -lggml-base -Wl,-rpath,$LLAMA/build/bin -o llamacpp_dump   (one line)
//   ./llamacpp_dump -m model.gguf --tokens 1,450,4996 --out theirs
//   llamaref trace -m model.gguf --tokens 1,450,4996 --out ours [--llamacpp-rounding]
//   llamaref compare ours theirs --map theirs/map.json
//
// map.json maps llama.cpp's node names for the llama architecture (src/llama.cpp, build_llama) to
// llamaref's trace names.
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "ggml.h"
#include "llama.h"

namespace {

struct Dump {
    std::string dir;
    std::map<std::string, int> seen;        // node name → times seen
    std::vector<std::string> names, files;  // in graph order
    std::vector<std::vector<long>> shapes;
};

// One .npy file: float32, C order, the given shape.
void write_npy(const std::string& path, const std::vector<long>& shape, const std::vector<float>& data) {
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
    for (std::size_t i = 0; i < shape.size(); ++i)
        header += std::to_string(shape[i]) + (shape.size() == 1 ? ",)" : i + 1 < shape.size() ? ", " : ")");
    header += ", }";
    while ((10 + header.size() + 1) % 64) header += ' ';
    header += '\n';
    std::ofstream f(path, std::ios::binary);
    const unsigned short len = (unsigned short)header.size();
    f.write("\x93NUMPY\x01\x00", 8);
    f.write(reinterpret_cast<const char*>(&len), 2);
    f.write(header.data(), std::streamsize(header.size()));
    f.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size() * sizeof(float)));
    if (!f) {
        std::fprintf(stderr, "llamacpp_dump: cannot write %s\n", path.c_str());
        std::exit(1);
    }
}

// The eval callback: ask = "do you want this node?" (yes), then called again with its data.
bool on_node(ggml_tensor* t, bool ask, void* user) {
    if (ask) return true;
    auto& d = *static_cast<Dump*>(user);
    if (t->type != GGML_TYPE_F32 && t->type != GGML_TYPE_F16) return true;
    if (!ggml_backend_buffer_is_host(t->buffer)) {
        std::fprintf(stderr, "llamacpp_dump: %s is not in host memory (run on the CPU)\n", t->name);
        return true;
    }
    // Element (i0, i1, i2, i3) lies at i0·nb[0] + ... + i3·nb[3] bytes (views are strided).
    std::vector<float> data;
    data.reserve(std::size_t(ggml_nelements(t)));
    const char* base = static_cast<const char*>(t->data);
    for (long i3 = 0; i3 < t->ne[3]; ++i3)
        for (long i2 = 0; i2 < t->ne[2]; ++i2)
            for (long i1 = 0; i1 < t->ne[1]; ++i1)
                for (long i0 = 0; i0 < t->ne[0]; ++i0) {
                    const char* p = base + i0 * t->nb[0] + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3];
                    data.push_back(t->type == GGML_TYPE_F32
                                       ? *reinterpret_cast<const float*>(p)
                                       : ggml_fp16_to_fp32(*reinterpret_cast<const ggml_fp16_t*>(p)));
                }
    // Shape: [outermost dimension above 1 (the tokens, for activations), the rest]: llamaref's
    // [T, D] for [D, T] and for [head_dim, n_heads, T] alike.
    int top = 3;
    while (top > 0 && t->ne[top] == 1) --top;
    long inner = 1;
    for (int i = 0; i < top; ++i) inner *= t->ne[i];
    const std::vector<long> shape = top == 0 ? std::vector<long>{t->ne[0]} : std::vector<long>{t->ne[top], inner};
    std::string name = t->name;
    const int n = ++d.seen[name];
    if (n > 1) name += "#" + std::to_string(n);
    std::string file;
    for (char c : name)
        file += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '#') ? c : '_';
    file += ".npy";
    write_npy(d.dir + "/" + file, shape, data);
    d.names.push_back(name), d.files.push_back(file), d.shapes.push_back(shape);
    return true;
}

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) >= 0x20) out += c;
    }
    return out + "\"";
}

[[noreturn]] void usage() {
    std::fprintf(stderr,
                 "usage: llamacpp_dump -m MODEL.gguf --tokens 1,2,3 --out DIR [-t THREADS] [--cache-type f32|f16]\n");
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    std::string model_path, out, tokens_arg, cache = "f32";
    int threads = 1;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (i + 1 >= argc) usage();
        if (a == "-m")
            model_path = argv[++i];
        else if (a == "--tokens")
            tokens_arg = argv[++i];
        else if (a == "--out")
            out = argv[++i];
        else if (a == "-t")
            threads = std::atoi(argv[++i]);
        else if (a == "--cache-type")
            cache = argv[++i];
        else
            usage();
    }
    if (model_path.empty() || out.empty() || tokens_arg.empty() || (cache != "f32" && cache != "f16") || threads < 1)
        usage();
    std::vector<llama_token> tokens;
    std::stringstream ss(tokens_arg);
    for (std::string id; std::getline(ss, id, ',');) tokens.push_back(llama_token(std::atol(id.c_str())));

    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    llama_model* model = llama_model_load_from_file(model_path.c_str(), mp);
    if (!model) {
        std::fprintf(stderr, "llamacpp_dump: cannot load %s\n", model_path.c_str());
        return 1;
    }
    Dump dump{out, {}, {}, {}, {}};
    std::filesystem::create_directories(out);
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = cp.n_batch = cp.n_ubatch = uint32_t(tokens.size() < 32 ? 32 : tokens.size());
    cp.n_threads = cp.n_threads_batch = threads;
    cp.type_k = cp.type_v = cache == "f32" ? GGML_TYPE_F32 : GGML_TYPE_F16;
    cp.cb_eval = on_node;
    cp.cb_eval_user_data = &dump;
    llama_context* ctx = llama_init_from_model(model, cp);
    if (!ctx) {
        std::fprintf(stderr, "llamacpp_dump: cannot create a context\n");
        return 1;
    }
    llama_batch batch = llama_batch_init(int32_t(tokens.size()), 0, 1);
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        batch.token[i] = tokens[i];
        batch.pos[i] = llama_pos(i);
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = 0;
        batch.logits[i] = true;  // every position: the last layer keeps all rows
    }
    batch.n_tokens = int32_t(tokens.size());
    if (llama_decode(ctx, batch) != 0) {
        std::fprintf(stderr, "llamacpp_dump: llama_decode failed\n");
        return 1;
    }

    std::ofstream index(out + "/index.json");
    index << "{\"format\": \"llamaref-trace-1\", \"engine\": \"llama.cpp\", \"tensors\": [\n";
    for (std::size_t i = 0; i < dump.names.size(); ++i) {
        index << " {\"name\": " << json_string(dump.names[i]) << ", \"file\": " << json_string(dump.files[i])
              << ", \"shape\": [";
        for (std::size_t k = 0; k < dump.shapes[i].size(); ++k) index << (k ? ", " : "") << dump.shapes[i][k];
        index << "]}" << (i + 1 < dump.names.size() ? ",\n" : "\n");
    }
    index << "]}\n";

    // llama.cpp's names (build_llama) → llamaref's. A node renamed later keeps its last name:
    // the FFN's down projection is ffn_out-N, the block's output l_out-N.
    std::ofstream map(out + "/map.json");
    map << "{\n \"inp_embd\": \"tok_embeddings\"";
    for (int l = 0; l < llama_model_n_layer(model); ++l) {
        const std::string n = "-" + std::to_string(l), p = "layers." + std::to_string(l);
        const std::pair<std::string, std::string> rows[] = {{"attn_norm", ".attention_norm"},
                                                            {"Qcur", ".attention.wq"},
                                                            {"Kcur", ".attention.wk"},
                                                            {"Vcur", ".attention.wv"},
                                                            {"Qcur#2", ".attention.q_rope"},
                                                            {"Kcur#2", ".attention.k_rope"},
                                                            {"kqv_merged_cont", ".attention.heads"},
                                                            {"kqv_out", ".attention.wo"},
                                                            {"ffn_inp", ".h"},
                                                            {"ffn_norm", ".ffn_norm"},
                                                            {"ffn_gate", ".feed_forward.w1"},
                                                            {"ffn_up", ".feed_forward.w3"},
                                                            {"ffn_gate_par", ".feed_forward.hidden"},
                                                            {"ffn_out", ".feed_forward.w2"},
                                                            {"l_out", ""}};
        for (const auto& [theirs, ours] : rows) {
            std::string key = theirs;  // "Qcur#2" → "Qcur-0#2"
            const auto hash = key.find('#');
            key = hash == std::string::npos ? key + n : key.substr(0, hash) + n + key.substr(hash);
            map << ",\n " << json_string(key) << ": " << json_string(p + ours);
        }
    }
    map << ",\n \"result_norm\": \"norm\",\n \"result_output\": \"output\"\n}\n";
    std::printf("wrote %zu tensors for %zu tokens to %s/ (and map.json)\n", dump.names.size(), tokens.size(),
                out.c_str());
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
