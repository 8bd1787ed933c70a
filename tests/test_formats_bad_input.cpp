// Hostile and broken checkpoints of every format: each is a clear llamaref::Error — never a crash,
// a read outside the file or code execution. This program is also built with AddressSanitizer and
// UndefinedBehaviorSanitizer (test_formats_bad_input_asan) so an out-of-bounds read fails the test.
#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <llamaref/formats/load.hpp>

#include "test_data.hpp"
#include "test_formats_pth.hpp"

using namespace llamaref;
using namespace llamaref::test;
namespace fs = std::filesystem;

namespace {

std::string gstr(const std::string& s) { return u64(s.size()) + s; }

// A GGUF file from raw pieces: header, key-values, tensor infos, padding, data.
std::string gguf(uint64_t n_tensors, uint64_t n_kv, const std::string& kvs, const std::string& infos = "",
                 const std::string& data = "", uint32_t version = 3) {
    std::string s = "GGUF" + le32(version) + u64(n_tensors) + u64(n_kv) + kvs + infos;
    s.append((32 - s.size() % 32) % 32, '\0');
    return s + data;
}
std::string kv_u32(const std::string& key, uint32_t v) { return gstr(key) + le32(4) + le32(v); }
std::string tensor_info(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    std::string s = gstr(name) + le32(uint32_t(ne.size()));
    for (auto d : ne) s += u64(d);
    return s + le32(type) + u64(offset);
}

// Peak resident memory of this process so far, in MB (Linux: ru_maxrss is in KB).
double peak_rss_mb() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_maxrss) / 1024.0;
}

// Sanitizer builds keep freed memory in quarantine and map shadow memory: looser memory bounds.
#if defined(__SANITIZE_ADDRESS__)
constexpr double kRssFactor = 4;
#else
constexpr double kRssFactor = 1;
#endif

void check_cuts(const std::string& bytes, const fs::path& file, const std::vector<std::size_t>& cuts,
                const std::function<void()>& load) {
    for (std::size_t cut : cuts) {
        if (cut >= bytes.size()) continue;
        INFO("file cut at " << cut << " of " << bytes.size() << " bytes");
        write_file(file, bytes.substr(0, cut));
        CHECK_THROWS_AS(load(), Error);
    }
}

}  // namespace

TEST_CASE("GGUF: truncated at many cuts", "[bad-input][gguf]") {
    LLAMAREF_REQUIRE_DATA("oracle/llama2-gqa/gguf/model-q8_0.gguf");
    const std::string bytes = slurp(data("oracle/llama2-gqa/gguf/model-q8_0.gguf"));
    const auto file = scratch("bad-gguf-cut") / "m.gguf";
    check_cuts(bytes, file, {0, 3, 4, 7, 8, 15, 23, 24, 30, 100, 1000, 5000, 8000, bytes.size() / 2, bytes.size() - 1},
               [&] { load_model(file.string()); });
    write_file(file, bytes.substr(0, bytes.size() - 1));
    CHECK_THROWS_WITH(load_model(file.string()), Catch::Contains("past the end"));
}

TEST_CASE("GGUF: absurd counts and lengths, unknown types, offsets past the end", "[bad-input][gguf]") {
    const auto dir = scratch("bad-gguf");
    const std::string f = (dir / "m.gguf").string();
    auto fails_with = [&](const std::string& bytes, const std::string& text) {
        write_file(f, bytes);
        CHECK_THROWS_WITH(GgufFile(f), Catch::Contains(text));
    };
    fails_with("GGUX" + std::string(20, '\0'), "not a GGUF file");
    fails_with(gguf(0, 0, "", "", "", 1), "version 1");
    fails_with(gguf(0, 0, "", "", "", 0x03000000), "big-endian");
    fails_with(gguf(0, 0, "", "", "", 7), "version 7");
    fails_with(gguf(0, uint64_t(1) << 62, ""), "metadata count");
    fails_with(gguf(uint64_t(1) << 60, 0, ""), "tensor count");
    fails_with(gguf(0, 1, u64(~0ull) + "key"), "claims");                                   // key length 2^64 - 1
    fails_with(gguf(0, 1, gstr("k") + le32(8) + u64(1ull << 40)), "claims");                // string value
    fails_with(gguf(0, 1, gstr("k") + le32(9) + le32(4) + u64(1ull << 61)), "cannot fit");  // array length
    fails_with(gguf(0, 1, gstr("k") + le32(9) + le32(8) + u64(1ull << 59)), "cannot fit");  // array of strings
    fails_with(gguf(0, 1, gstr("k") + le32(13) + le32(0)), "unknown value type 13");
    fails_with(gguf(0, 1, gstr("k") + le32(7) + std::string(1, '\x05')), "neither 0 nor 1");
    fails_with(gguf(0, 2, kv_u32("k", 1) + kv_u32("k", 2)), "appears twice");
    fails_with(gguf(0, 1, kv_u32("general.alignment", 48)), "power of two");
    // Nested arrays deeper than the spec's use.
    std::string nested = gstr("k") + le32(9);
    for (int d = 0; d < 5; ++d) nested += le32(9) + u64(1);
    fails_with(gguf(0, 1, nested + le32(4) + u64(1) + le32(0)), "nested too deeply");

    const std::string one = kv_u32("x", 1);
    fails_with(gguf(1, 1, one, tensor_info("t", {32}, 99, 0), std::string(128, '\0')), "unknown ggml type 99");
    fails_with(gguf(1, 1, one, tensor_info("t", {32}, 0, 1ull << 40), std::string(128, '\0')), "past the end");
    fails_with(gguf(1, 1, one, tensor_info("t", {64}, 0, 0), std::string(128, '\0')),
               "past the end");  // 256 bytes > 128
    fails_with(gguf(1, 1, one, tensor_info("t", {32}, 0, 8), std::string(256, '\0')),
               "not a multiple of the alignment");
    fails_with(gguf(1, 1, one, tensor_info("t", {1ull << 40, 1ull << 40}, 0, 0), std::string(128, '\0')),
               "absurd dimension");
    fails_with(gguf(1, 1, one, tensor_info("t", {32, 1, 1, 1, 1}, 0, 0), std::string(128, '\0')), "dimensions");
    fails_with(gguf(1, 1, one, tensor_info("t", {33}, 8, 0), std::string(128, '\0')), "not a multiple of its block");
    fails_with(gguf(2, 1, one, tensor_info("a", {16}, 0, 0) + tensor_info("b", {16}, 0, 32), std::string(128, '\0')),
               "overlap");
    // Known but not computable: IQ2_XXS (256 values in 66 bytes) is listed, then refused when a
    // weight is read.
    write_file(f, gguf(1, 1, one, tensor_info("t", {256}, 16, 0), std::string(96, '\0')));
    CHECK_THROWS_WITH(GgufFile(f).get("t"), Catch::Contains("IQ2_XXS"));
}

TEST_CASE("GGUF: llama metadata that does not describe a Llama", "[bad-input][gguf]") {
    const auto dir = scratch("bad-gguf-llama");
    const std::string f = (dir / "m.gguf").string();
    write_file(f, gguf(0, 1, gstr("general.architecture") + le32(8) + gstr("gpt2")));
    CHECK_THROWS_WITH(load_model(f), Catch::Contains("\"gpt2\""));
    write_file(f, gguf(0, 1, gstr("general.architecture") + le32(8) + gstr("llama")));
    CHECK_THROWS_WITH(load_model(f), Catch::Contains("missing GGUF metadata key \"llama.embedding_length\""));
}

TEST_CASE("zip: entries outside the archive, bad records, truncation", "[bad-input][pth]") {
    const auto dir = scratch("bad-zip");
    const std::string f = (dir / "consolidated.00.pth").string();
    auto fails_with = [&](const std::string& bytes, const std::string& text) {
        write_file(f, bytes);
        CHECK_THROWS_WITH(TorchCheckpoint(f), Catch::Contains(text));
    };
    fails_with("PK", "too short");
    fails_with(std::string(100, 'x'), "no end of central directory");
    const std::string good =
        stored_zip({{"archive/data.pkl", "\x80\x02}."}, {"archive/data/0", std::string(16, '\0')}});
    const std::size_t eocd = good.size() - 22, cd_off_field = eocd + 16;
    // Central directory offset beyond the file.
    std::string bad = good;
    bad.replace(cd_off_field, 4, le32(1u << 30));
    fails_with(bad, "outside the archive");
    // An entry whose local header lies past the start of the central directory.
    bad = good;
    uint32_t cd32;  // the central directory: entry 0 (data.pkl, 16-byte name), then entry 1
    std::memcpy(&cd32, good.data() + cd_off_field, 4);
    const std::size_t cd = cd32;
    bad.replace(cd + 46 + 16 + 42, 4, le32(uint32_t(cd + 10)));
    fails_with(bad, "outside the archive");
    // An entry whose size runs into the central directory.
    bad = good;
    bad.replace(cd + 20, 4, le32(1000));
    bad.replace(cd + 24, 4, le32(1000));
    fails_with(bad, "extends past the entries");
    // Entry count larger than the central directory can hold.
    bad = good;
    bad.replace(eocd + 10, 2, le16(5000));
    fails_with(bad, "cannot fit");
    // A corrupted pickle fails its CRC.
    bad = good;
    bad[30 + 16 + 2] = '{';
    fails_with(bad, "CRC-32");
    // Compressed entries are refused.
    bad = good;
    bad.replace(cd + 10, 2, le16(8));
    fails_with(bad, "compressed");
    // The real fixture, truncated.
    LLAMAREF_REQUIRE_DATA("oracle/llama2-gqa/meta/consolidated.00.pth");
    const std::string pth = slurp(data("oracle/llama2-gqa/meta/consolidated.00.pth"));
    check_cuts(pth, f, {0, 10, 100, 2000, pth.size() / 2, pth.size() - 23, pth.size() - 1},
               [&] { TorchCheckpoint t(f); });
}

TEST_CASE("pickle: only a state dict's globals, nothing is ever called", "[bad-input][pth]") {
    const auto dir = scratch("bad-pickle");
    const std::string f = (dir / "consolidated.00.pth").string();
    const PthTensor t{"w", "FloatStorage", {4}, std::string(16, '\0')};
    auto with_pickle = [&](const std::string& pickle, const std::string& text) {
        write_file(f, pth_archive({t}, pickle));
        CHECK_THROWS_WITH(TorchCheckpoint(f), Catch::Contains(text));
    };
    // The classic: os.system("...") through GLOBAL + REDUCE.
    with_pickle("\x80\x02" + pk_global("os", "system") + "(" + pk_str("touch /tmp/llamaref-pwned") + "tR.",
                "'os.system'");
    CHECK_FALSE(fs::exists("/tmp/llamaref-pwned"));
    with_pickle("\x80\x02" + pk_global("builtins", "eval") + ".", "'builtins.eval'");
    with_pickle("\x80\x02" + pk_str("posix") + pk_str("system") + "\x93.", "'posix.system'");  // STACK_GLOBAL
    with_pickle("\x80\x02" + pk_global("torch", "load") + ".", "not need");
    // Structure errors.
    with_pickle("\x80\x02}", "truncated");           // no STOP
    with_pickle("\x80\x02}h\x07.", "memo entry 7");  // BINGET of nothing
    with_pickle("\x80\x02t.", "no MARK");            // TUPLE without MARK
    with_pickle("\x80\x02}}.", "2 values");          // two values left
    with_pickle("\x80\x02\xff.", "opcode 0xff");
    with_pickle("\x80\x02" + std::string("X") + le32(1u << 30) + ".", "longer than the rest");
    with_pickle("\x80\x02" + std::string(100, ']') + std::string(99, 'a') + ".", "nested");
    with_pickle("\x80\x02" + pk_global("collections", "OrderedDict") + "(" + pk_int(1) + "tR.",
                "OrderedDict called with arguments");
    // A tensor reaching past its storage, or naming a storage that is not there.
    PthTensor big = t;
    big.shape = {8};
    write_file(f, pth_archive({t}, state_dict_pickle({big})));
    CHECK_THROWS_WITH(TorchCheckpoint(f), Catch::Contains("should hold 8"));
    write_file(f, stored_zip({{"archive/data.pkl", state_dict_pickle({t})}}));
    CHECK_THROWS_WITH(TorchCheckpoint(f), Catch::Contains("not in the archive"));
    // A well-formed archive loads (the check above is not vacuous).
    write_file(f, pth_archive({t}, state_dict_pickle({t})));
    CHECK(TorchCheckpoint(f).get("w").shape == Shape{4});
}

// The pickle reader shares lists and dicts as Python does; a reader that copied the container on
// each APPEND / SETITEM and kept each copy in the memo took 18 s for 150 KB and >4 GB for 280 KB.
TEST_CASE("pickle: linear in time and memory, no value contains itself", "[bad-input][pth]") {
    using clock = std::chrono::steady_clock;
    auto seconds_since = [](clock::time_point t0) { return std::chrono::duration<double>(clock::now() - t0).count(); };
    auto read = [](const std::string& p) {
        return PickleReader(reinterpret_cast<const std::byte*>(p.data()), p.size(), "test.pkl").load();
    };
    // 200,000 APPENDs, each followed by MEMOIZE: 800 KB.
    std::string p = "\x80\x02]\x94";
    for (int k = 0; k < 200000; ++k)
        p += "K\x01"
             "a\x94";
    auto t0 = clock::now();
    const PyRef list = read(p + ".");
    CHECK(list->items.size() == 200000);
    CHECK(seconds_since(t0) < 20);  // generous: milliseconds in a release build, well under a second with ASan
    // 200,000 SETITEMs, each followed by BINPUT, in a .pth: a state dict of ints and no tensors.
    const auto dir = scratch("slow-pickle");
    const std::string f = (dir / "consolidated.00.pth").string();
    p = "\x80\x02}q";
    p += '\0';
    for (int k = 0; k < 200000; ++k) p += "M" + le16(uint16_t(k)) + "K\x02sq\x01";
    write_file(f, pth_archive({}, p + "."));
    t0 = clock::now();
    CHECK_THROWS_WITH(TorchCheckpoint(f), Catch::Contains(f) && Catch::Contains("holds no tensors"));
    CHECK(seconds_since(t0) < 20);
    // More values than any state dict (1M): 1.1M empty lists appended to one list.
    p = "\x80\x02]";
    for (int k = 0; k < 1100000; ++k) p += "]a";
    CHECK_THROWS_WITH(read(p + "."), Catch::Contains("test.pkl") && Catch::Contains("values: not a state dict"));
    // A list inside itself, a list changed after it was put in another, MARKs misused.
    CHECK_THROWS_WITH(read(std::string("\x80\x02]q\0h\0a.", 9)), Catch::Contains("would contain itself"));
    CHECK_THROWS_WITH(read(std::string("\x80\x02]q\0]h\0a0h\0K\x01"
                                       "a.",
                                       15)),
                      Catch::Contains("changed after"));
    CHECK_THROWS_WITH(read("\x80\x02}(0."), Catch::Contains("pop below a MARK"));
    CHECK_THROWS_WITH(read("\x80\x02}(."), Catch::Contains("MARK(s) still open"));
    CHECK_THROWS_WITH(read("\x80\x02(2."), Catch::Contains("no value on the stack"));  // DUP of a MARK
    // Sharing still works: a memoized dict filled after it was stored, then fetched.
    const PyRef d = read(std::string("\x80\x02}q\0(K\x01K\x02u0h\0.", 16));
    REQUIRE(d->kind == PyObject::Dict);
    CHECK(d->dict.size() == 1);
}

TEST_CASE("Meta folder: params.json disagreeing with the weights, missing shards", "[bad-input][meta]") {
    LLAMAREF_REQUIRE_DATA("oracle/llama2-gqa/meta/consolidated.00.pth");
    const auto dir = scratch("bad-meta");
    fs::copy_file(data("oracle/llama2-gqa/meta/consolidated.00.pth"), dir / "consolidated.00.pth");
    auto params = read_json_file(data("oracle/llama2-gqa/meta/params.json"));
    params["multiple_of"] = 256;  // a different FFN size than the stored w1
    write_file(dir / "params.json", params.dump());
    CHECK_THROWS_WITH(load_model(dir.string()),
                      Catch::Contains("feed_forward.w1") && Catch::Contains("config implies"));
    write_file(dir / "params.json", R"({"dim": 128})");
    CHECK_THROWS_WITH(load_model(dir.string()), Catch::Contains("missing field \"n_layers\""));
    write_file(dir / "params.json", slurp(data("oracle/llama2-gqa/meta/params.json")));
    fs::rename(dir / "consolidated.00.pth", dir / "consolidated.01.pth");
    CHECK_THROWS_WITH(load_model(dir.string()), Catch::Contains("consolidated.00.pth is missing"));
    fs::remove(dir / "consolidated.01.pth");
    CHECK_THROWS_WITH(load_model(dir.string()), Catch::Contains("no consolidated.NN.pth"));
}

TEST_CASE("llama2.c version 2: truncated, bad group size", "[bad-input][llama2c]") {
    const auto dir = scratch("bad-llama2c-v2");
    // dim 64, hidden 128, 1 layer, 4 heads, 4 kv, vocab 32, seq 16; group size 0 or 48.
    auto header = [](int32_t gs) {
        const int32_t h[9] = {0x616b3432, 2, 64, 128, 1, 4, 4, 32, 16};
        std::string s(reinterpret_cast<const char*>(h), sizeof h);
        s += '\1';
        s += le32(uint32_t(gs));
        s.resize(256, '\0');
        return s;
    };
    write_file(dir / "m.bin", header(0) + std::string(1 << 16, '\0'));
    CHECK_THROWS_WITH(load_model((dir / "m.bin").string()), Catch::Contains("group size must be positive"));
    write_file(dir / "m.bin", header(48) + std::string(1 << 16, '\0'));
    CHECK_THROWS_WITH(load_model((dir / "m.bin").string()), Catch::Contains("not a multiple of the group size 48"));
    write_file(dir / "m.bin", header(32) + std::string(1000, '\0'));
    CHECK_THROWS_WITH(load_model((dir / "m.bin").string()), Catch::Contains("truncated"));
}

TEST_CASE("safetensors: a shape whose size overflows", "[bad-input][hf]") {
    const auto dir = scratch("bad-safetensors-overflow");
    const std::string h = R"({"x":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,16]}})";
    write_file(dir / "m.safetensors", u64(h.size()) + h + std::string(16, '\0'));
    CHECK_THROWS_WITH(SafetensorsFile((dir / "m.safetensors").string()), Catch::Contains("overflows"));
    const std::string h2 = R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[18446744073709551615,16]}})";
    write_file(dir / "m.safetensors", u64(h2.size()) + h2 + std::string(16, '\0'));
    CHECK_THROWS_WITH(SafetensorsFile((dir / "m.safetensors").string()), Catch::Contains("outside the data section"));
}

// ---------------------------------------------------------------------------------------------
// Hostile sizes and values (issue 11): every one is a llamaref::Error naming the file and the
// problem — no stack overflow, no signed overflow, no foreign exception, no huge allocation.

namespace {
std::string nested_json(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// The number of seconds `f` takes.
template <class F>
double seconds(F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

TEST_CASE("config.json and params.json: deep nesting, wrong types, absurd numbers", "[bad-input][hf][meta]") {
    const auto hf = scratch("hostile-config"), meta = scratch("hostile-params");
    const std::string config = (hf / "config.json").string(), params = (meta / "params.json").string();
    const std::string hf_ok = R"("hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "intermediate_size": 128, "vocab_size": 32)";
    const std::string meta_ok = R"("dim": 64, "n_layers": 2, "n_heads": 4)";
    auto hf_fails = [&](const std::string& fields, const std::string& text) {
        INFO("config.json: " << fields.substr(0, 200));
        write_file(config, "{" + fields + "}");
        CHECK_THROWS_WITH(load_model(hf.string()), Catch::Contains(config) && Catch::Contains(text));
        try {
            load_model(hf.string());
        } catch (const Error& e) {
            CHECK(std::strlen(e.what()) < 400 + config.size());  // a short excerpt of any value, never a dump
        }
    };
    auto meta_fails = [&](const std::string& fields, const std::string& text) {
        INFO("params.json: " << fields.substr(0, 200));
        write_file(params, "{" + fields + "}");
        CHECK_THROWS_WITH(load_model(meta.string()), Catch::Contains(params) && Catch::Contains(text));
    };
    // 100,000 levels: refused by the depth scan before nlohmann builds (and later copies) the value.
    hf_fails(R"("hidden_size": )" + nested_json(100000), "nested more than 512 levels");
    hf_fails(hf_ok + R"(, "rope_scaling": {"rope_type": "llama3", "factor": )" + nested_json(100000) + "}",
             "nested more than 512 levels");
    meta_fails(R"("dim": )" + nested_json(100000), "nested more than 512 levels");
    meta_fails(meta_ok + R"(, "x": [{"a": )" + nested_json(100000) + "}]", "nested more than 512 levels");
    // Brackets inside strings do not count.
    write_file(config, "{" + hf_ok + R"(, "note": ")" + std::string(1000, '[') + "\"}");
    CHECK_THROWS_WITH(load_model(hf.string()), Catch::Contains("model.safetensors"));  // config was fine
    // Deep but allowed, in the wrong place: the message shows a short prefix only.
    hf_fails(R"("hidden_size": )" + nested_json(500), "must be a number, found [[[[");
    hf_fails(R"("hidden_size": ")" + std::string(1 << 20, 'x') + "\"", "must be a number, found \"xxxx");
    // Wrong JSON types: an Error naming the key, never nlohmann's type_error.
    hf_fails(hf_ok + R"(, "rope_scaling": {"rope_type": 5})", "\"rope_type\" must be a string, found 5");
    hf_fails(hf_ok + R"(, "rope_scaling": {"type": ["llama3"]})", "\"type\" must be a string");
    hf_fails(hf_ok + R"(, "rope_scaling": {"rope_type": "llama3", "factor": "8"})", "\"factor\" must be a number");
    hf_fails(hf_ok + R"(, "rope_scaling": [1])", "\"rope_scaling\" must be an object");
    hf_fails(hf_ok + R"(, "rms_norm_eps": "1e-5")", "\"rms_norm_eps\" must be a number, found \"1e-5\"");
    hf_fails(hf_ok + R"(, "tie_word_embeddings": 1)", "\"tie_word_embeddings\" must be true or false");
    hf_fails(R"("hidden_size": "4096")", "\"hidden_size\" must be a number");
    write_file(config, "[1, 2]");
    CHECK_THROWS_WITH(load_model(hf.string()), Catch::Contains(config) && Catch::Contains("expected a JSON object"));
    // Numbers out of range: 1e20 is not an int, 2^64-1 is out of range, and limits hold.
    hf_fails(R"("hidden_size": 1e20)", "\"hidden_size\" must be an integer, found 1e+20");
    hf_fails(R"("hidden_size": 18446744073709551615)", "\"hidden_size\" out of range");
    hf_fails(R"("hidden_size": -64)", "\"hidden_size\" out of range");
    hf_fails(R"("hidden_size": 1e400)", "not valid JSON");
    hf_fails(R"("hidden_size": NaN)", "not valid JSON");
    hf_fails(R"("hidden_size": 64, "num_hidden_layers": 2147483647, "num_attention_heads": 4,
        "intermediate_size": 128, "vocab_size": 32)",
             "n_layers 2147483647 is beyond llamaref's limit");
    hf_fails(R"("hidden_size": 65536, "num_hidden_layers": 2, "num_attention_heads": 1,
        "intermediate_size": 128, "vocab_size": 32)",
             "head_dim 65536 is beyond");
    hf_fails(R"("hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "head_dim": 1000000,
        "intermediate_size": 128, "vocab_size": 32)",
             "head_dim 1000000 is beyond");
    hf_fails(hf_ok + R"(, "max_position_embeddings": 2147483647)", "max_seq_len 2147483647 is beyond");
    hf_fails(R"("hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "intermediate_size": 128, "vocab_size": 1000000000)",
             "vocab_size 1000000000 is beyond");
    // params.json: Meta's FFN rule with hostile multipliers, never a cast of a huge double.
    meta_fails(meta_ok + R"(, "ffn_dim_multiplier": 1e300)", "ffn_dim_multiplier 1e+300 gives a hidden size");
    meta_fails(meta_ok + R"(, "ffn_dim_multiplier": -1.5)", "ffn_dim_multiplier must be a positive number");
    meta_fails(meta_ok + R"(, "ffn_dim_multiplier": 0)", "ffn_dim_multiplier must be a positive number");
    meta_fails(meta_ok + R"(, "ffn_dim_multiplier": "1.3")", "\"ffn_dim_multiplier\" must be a number");
    meta_fails(meta_ok + R"(, "multiple_of": 0)", "\"multiple_of\" out of range");
    meta_fails(meta_ok + R"(, "multiple_of": 2147483647)", "multiple_of 2147483647 is beyond");
    meta_fails(R"("dim": 2147483647, "n_layers": 2, "n_heads": 1)", "dim 2147483647 is beyond");
    meta_fails(meta_ok + R"(, "vocab_size": 1e20)", "\"vocab_size\" must be an integer");
    meta_fails(meta_ok + R"(, "use_scaled_rope": "yes")", "\"use_scaled_rope\" must be true or false");
    meta_fails(meta_ok + R"(, "norm_eps": null, "rope_theta": [1])", "\"rope_theta\" must be a number");
    meta_fails(R"("dim": 64, "n_layers": 2147483647, "n_heads": 4)", "n_layers 2147483647 is beyond llamaref's limit");
}

TEST_CASE("JSON excerpts of huge or deep values stay short, without recursion", "[bad-input]") {
    nlohmann::json deep = nlohmann::json::array();  // built by moves: nothing here recurses
    for (int d = 0; d < 100000; ++d) {
        nlohmann::json outer = nlohmann::json::array();
        outer.push_back(std::move(deep));
        deep = std::move(outer);
    }
    CHECK(json_excerpt(deep) == std::string(40, '[') + "...");
    CHECK(json_excerpt(nlohmann::json(std::string(1 << 20, 'y'))).size() == 43);
    CHECK(json_excerpt(nlohmann::json{{"a", 1}, {"b", {true, nullptr}}}) == R"({"a":1,"b":[true,null]})");
    CHECK(json_excerpt(nlohmann::json("\xc3\xa9\xc3\xa9"), 2) == "\"...");  // never half a UTF-8 character
}

TEST_CASE("layer counts beyond the file are refused before any per-layer storage", "[bad-input][hf][meta][gguf]") {
    // Within the limits but larger than the file: the last layer's tensors are looked up first.
    LLAMAREF_REQUIRE_DATA("oracle/llama2-gqa/hf/model.safetensors");
    const auto hf = scratch("hostile-layers-hf");
    fs::copy_file(data("oracle/llama2-gqa/hf/model.safetensors"), hf / "model.safetensors");
    auto config = read_json_file(data("oracle/llama2-gqa/hf/config.json"));
    config["num_hidden_layers"] = 1000;
    write_file(hf / "config.json", config.dump());
    double t = seconds([&] {
        CHECK_THROWS_WITH(load_model(hf.string()), Catch::Contains("1000 layers") &&
                                                       Catch::Contains("no tensor model.layers.999.input_layernorm"));
    });
    CHECK(t < 5);
    config["num_hidden_layers"] = 2147483647;
    write_file(hf / "config.json", config.dump());
    CHECK_THROWS_WITH(load_model(hf.string()),
                      Catch::Contains("config.json") && Catch::Contains("n_layers 2147483647"));

    LLAMAREF_REQUIRE_DATA("oracle/llama2-gqa/meta/consolidated.00.pth");
    const auto meta = scratch("hostile-layers-meta");
    fs::copy_file(data("oracle/llama2-gqa/meta/consolidated.00.pth"), meta / "consolidated.00.pth");
    auto params = read_json_file(data("oracle/llama2-gqa/meta/params.json"));
    params["n_layers"] = 1000;
    write_file(meta / "params.json", params.dump());
    CHECK_THROWS_WITH(load_model(meta.string()), Catch::Contains("no tensor layers.999.attention_norm"));
    params["n_layers"] = 2147483647;
    write_file(meta / "params.json", params.dump());
    CHECK_THROWS_WITH(load_model(meta.string()),
                      Catch::Contains("params.json") && Catch::Contains("n_layers 2147483647"));

    LLAMAREF_REQUIRE_DATA("oracle/llama2-gqa/gguf/model-f32.gguf");
    std::string bytes = slurp(data("oracle/llama2-gqa/gguf/model-f32.gguf"));
    const std::string key = gstr("llama.block_count") + le32(4);  // then the uint32 value
    const std::size_t at = bytes.find(key);
    REQUIRE(at != std::string::npos);
    const auto f = (scratch("hostile-layers-gguf") / "m.gguf").string();
    bytes.replace(at + key.size(), 4, le32(1000));
    write_file(f, bytes);
    CHECK_THROWS_WITH(load_model(f), Catch::Contains("1000 blocks") && Catch::Contains("no tensor blk.999.attn_norm"));
    bytes.replace(at + key.size(), 4, le32(0x7fffffff));
    write_file(f, bytes);
    CHECK_THROWS_WITH(load_model(f), Catch::Contains(f) && Catch::Contains("n_layers 2147483647 is beyond"));
}

TEST_CASE("llama2.c header: vocab_size INT_MIN and other extremes", "[bad-input][llama2c]") {
    const auto f = (scratch("hostile-llama2c") / "m.bin").string();
    auto header = [&](std::vector<int32_t> h) {
        write_file(f, std::string(reinterpret_cast<const char*>(h.data()), h.size() * 4) + std::string(4096, '\0'));
    };
    header({64, 128, 2, 8, 4, INT_MIN, 512});
    CHECK_THROWS_WITH(load_model(f), Catch::Contains(f) && Catch::Contains("vocab_size -2147483648 is out of range"));
    header({64, 128, 2, 8, 4, -INT_MAX, 512});
    CHECK_THROWS_WITH(load_model(f), Catch::Contains(f) && Catch::Contains("vocab_size 2147483647 is beyond"));
    header({64, 128, INT_MAX, 8, 4, 32, 512});
    CHECK_THROWS_WITH(load_model(f), Catch::Contains(f) && Catch::Contains("n_layers 2147483647 is beyond"));
    header({65536, 128, 2, 2048, 2048, 32, 512});
    CHECK_THROWS_WITH(load_model(f), Catch::Contains("n_heads 2048 is beyond"));
    header({1 << 30, 128, 2, 1 << 20, 1 << 20, 32, 512});
    CHECK_THROWS_WITH(load_model(f), Catch::Contains("dim 1073741824 is beyond"));
    header({64, 128, 2, 8, 4, 32, INT_MAX});
    CHECK_THROWS_WITH(load_model(f), Catch::Contains("max_seq_len 2147483647 is beyond"));
}

TEST_CASE("GGUF: a 5M-element metadata array costs about its size in memory", "[bad-input][gguf]") {
    const auto dir = scratch("hostile-gguf-array");
    const std::string f = (dir / "m.gguf").string();
    const uint64_t n = 5'000'000;
    {  // written in pieces, so that making the file does not raise the peak the test measures
        std::ofstream out(f, std::ios::binary);
        const std::string head =
            "GGUF" + le32(3) + u64(0) + u64(1) + gstr("tokenizer.ggml.token_type") + le32(9) + le32(0) + u64(n);
        out.write(head.data(), std::streamsize(head.size()));
        const std::string chunk(1000, '\1');
        for (uint64_t k = 0; k < n / chunk.size(); ++k) out.write(chunk.data(), std::streamsize(chunk.size()));
    }
    // ru_maxrss is the process's high-water mark: growth is only seen beyond earlier peaks, which
    // is exact when CTest runs this case in a process of its own.
    const double before = peak_rss_mb();
    const double t = seconds([&] {
        CHECK_THROWS_WITH(load_model(f), Catch::Contains(f) && Catch::Contains("general.architecture"));
        const GgufFile g(f);
        CHECK(g.array_size("tokenizer.ggml.token_type") == n);
    });
    const double growth = peak_rss_mb() - before;
    WARN("5 MB GGUF with a 5M-element uint8 array: peak RSS grew " << growth << " MB, loaded twice in " << t << " s");
    CHECK(growth < 64 * kRssFactor);
    CHECK(t < 10);
    CHECK(GgufFile(f).int_array("tokenizer.ggml.token_type").size() == n);  // decoded on request

    // 600,000 strings (8 bytes each in the file) and arrays of arrays: stored as their bytes too.
    write_file(f, gguf(
                      0, 2,
                      gstr("a") + le32(9) + le32(8) + u64(600000) + std::string(600000 * 8, '\0') + gstr("b") +
                          le32(9) + le32(9) + u64(1000) + [] {
                              std::string s;
                              for (int k = 0; k < 1000; ++k) s += le32(6) + u64(2) + std::string(8, '\0');
                              return s;
                          }()));
    const GgufFile g(f);
    CHECK(g.string_array("a").size() == 600000);
    CHECK(g.array_size("b") == 1000);
    CHECK_THROWS_WITH(g.int_array("b"), Catch::Contains("expected integers"));
    CHECK_THROWS_WITH(g.float_array("a"), Catch::Contains("not an array of floats"));
}

TEST_CASE("GGUF: array counts and string lengths larger than the file", "[bad-input][gguf]") {
    const std::string f = (scratch("hostile-gguf-counts") / "m.gguf").string();
    auto fails_with = [&](const std::string& bytes, const std::string& text) {
        write_file(f, bytes);
        CHECK_THROWS_WITH(GgufFile(f), Catch::Contains(f) && Catch::Contains(text));
    };
    // uint32 elements: count < remaining bytes but count × 4 > remaining.
    fails_with(gguf(0, 1, gstr("k") + le32(9) + le32(4) + u64(100) + std::string(200, '\0')), "cannot fit");
    fails_with(gguf(0, 1, gstr("k") + le32(9) + le32(12) + u64(~0ull) + std::string(64, '\0')), "cannot fit");
    // A string inside an array that claims more than the file.
    fails_with(gguf(0, 1, gstr("k") + le32(9) + le32(8) + u64(2) + u64(0) + u64(1ull << 40) + "abc"), "claims");
    // Nested arrays whose inner count is impossible.
    fails_with(gguf(0, 1, gstr("k") + le32(9) + le32(9) + u64(1) + le32(4) + u64(1ull << 62) + std::string(64, '\0')),
               "cannot fit");
    fails_with(gguf(0, 1, gstr("k") + le32(9) + le32(7) + u64(3) + std::string("\1\0\2", 3)), "neither 0 nor 1");
    fails_with(gguf(0, 1, gstr("k") + le32(9) + le32(77) + u64(0)), "unknown value type 77");
    fails_with(gguf(0, 70000, ""), "metadata count");
    fails_with(gguf(0, 70000, std::string(70000 * 13, '\0')), "beyond llamaref's limit");
}

TEST_CASE("safetensors header: deep nesting and wrong types", "[bad-input][hf]") {
    const auto st = (scratch("hostile-safetensors") / "m.safetensors").string();
    auto fails_with = [&](const std::string& header, const std::string& text) {
        write_file(st, u64(header.size()) + header + std::string(16, '\0'));
        CHECK_THROWS_WITH(SafetensorsFile(st), Catch::Contains(st) && Catch::Contains(text));
    };
    fails_with(R"({"x": )" + nested_json(100000) + "}", "nested more than 512 levels");
    fails_with(R"({"x":{"dtype":5,"shape":[4],"data_offsets":[0,16]}})", "dtype is not a string");
    fails_with(R"({"x":{"dtype":"F32","shape":[1e20],"data_offsets":[0,16]}})", "not a non-negative integer");
    fails_with(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,1e20]}})", "two non-negative integers");
    fails_with(R"({"x":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1,4],"data_offsets":[0,16]}})", "10 dimensions");
}

// A tensor may start at any byte of a .pth or safetensors file: the model loader copies an
// unaligned one (core/mmap.hpp's aligned_or_copied), the public views read it in place. 16-bit
// values at an odd address are read and written through memcpy (UBSan here catches a uint16_t load).
TEST_CASE("F16 and BF16 tensors at an odd address are read in place, without an unaligned load", "[bad-input][hf]") {
    // Values exact in both formats; their bits in F16 and BF16.
    const std::vector<float> want = {1.0f, -2.5f, 0.375f, 1024.0f, -0.0078125f, 3.0f, 0.5f, -1.0f};
    const uint16_t f16[] = {0x3C00, 0xC100, 0x3600, 0x6400, 0xA000, 0x4200, 0x3800, 0xBC00};
    const uint16_t bf16[] = {0x3F80, 0xC020, 0x3EC0, 0x4480, 0xBC00, 0x4040, 0x3F00, 0xBF80};
    std::string f16_bytes, bf16_bytes;
    for (int i = 0; i < 8; ++i) f16_bytes += le16(f16[i]), bf16_bytes += le16(bf16[i]);

    SECTION("a view one byte into a buffer: both rows, the whole tensor, and a store there") {
        for (const auto& [dt, bytes] : {std::pair{DType::F16, f16_bytes}, std::pair{DType::BF16, bf16_bytes}}) {
            INFO(dtype_name(dt));
            std::vector<std::byte> buf(bytes.size() + 1);
            std::memcpy(buf.data() + 1, bytes.data(), bytes.size());
            const TensorView v{dt, {2, 4}, buf.data() + 1};  // [2, 4]: both rows start at odd addresses
            CHECK(v.to_f32_vector() == want);
            std::vector<float> row(4);
            v.row_to_f32(1, row.data());
            CHECK(row == std::vector<float>(want.begin() + 4, want.end()));
            std::vector<std::byte> out(bytes.size() + 1);
            from_f32(dt, want.data(), out.data() + 1, want.size());
            CHECK(std::memcmp(out.data() + 1, bytes.data(), bytes.size()) == 0);
        }
    }
    SECTION("a safetensors file whose data section starts at an odd offset") {
        const auto st = (scratch("odd-offset-safetensors") / "m.safetensors").string();
        std::string h = R"({"a":{"dtype":"F16","shape":[2,4],"data_offsets":[0,16]},)"
                        R"("b":{"dtype":"BF16","shape":[8],"data_offsets":[16,32]}})";
        if (h.size() % 2 == 0) h += ' ';  // an odd header length: the data begin at an odd byte
        write_file(st, u64(h.size()) + h + f16_bytes + bf16_bytes);
        const SafetensorsFile f(st);
        REQUIRE(reinterpret_cast<std::uintptr_t>(f.get("a").data) % 2 == 1);
        CHECK(f.get("a").to_f32_vector() == want);
        CHECK(f.get("b").to_f32_vector() == want);
    }
}
