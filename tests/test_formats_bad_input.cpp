// Hostile and broken checkpoints of every format: each is a clear llamaref::Error — never a crash,
// a read outside the file or code execution. This program is also built with AddressSanitizer and
// UndefinedBehaviorSanitizer (test_formats_bad_input_asan) so an out-of-bounds read fails the test.
#include <catch2/catch.hpp>

#include <chrono>
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
    fails_with(gguf(0, 1, u64(~0ull) + "key"), "claims");  // key length 2^64 - 1
    fails_with(gguf(0, 1, gstr("k") + le32(8) + u64(1ull << 40)), "claims");  // string value
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
    fails_with(gguf(1, 1, one, tensor_info("t", {64}, 0, 0), std::string(128, '\0')), "past the end");  // 256 bytes > 128
    fails_with(gguf(1, 1, one, tensor_info("t", {32}, 0, 8), std::string(256, '\0')), "not a multiple of the alignment");
    fails_with(gguf(1, 1, one, tensor_info("t", {1ull << 40, 1ull << 40}, 0, 0), std::string(128, '\0')), "absurd dimension");
    fails_with(gguf(1, 1, one, tensor_info("t", {32, 1, 1, 1, 1}, 0, 0), std::string(128, '\0')), "dimensions");
    fails_with(gguf(1, 1, one, tensor_info("t", {33}, 8, 0), std::string(128, '\0')), "not a multiple of its block");
    fails_with(gguf(2, 1, one, tensor_info("a", {16}, 0, 0) + tensor_info("b", {16}, 0, 32), std::string(128, '\0')), "overlap");
    // Known but not computable: Q4_0 is listed, then refused when a weight is read.
    write_file(f, gguf(1, 1, one, tensor_info("t", {32}, 2, 0), std::string(32, '\0')));
    CHECK_THROWS_WITH(GgufFile(f).get("t"), Catch::Contains("Q4_0"));
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
    const std::string good = stored_zip({{"archive/data.pkl", "\x80\x02}."}, {"archive/data/0", std::string(16, '\0')}});
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
    check_cuts(pth, f, {0, 10, 100, 2000, pth.size() / 2, pth.size() - 23, pth.size() - 1}, [&] { TorchCheckpoint t(f); });
}

TEST_CASE("pickle: only a state dict's globals; nothing is ever called", "[bad-input][pth]") {
    const auto dir = scratch("bad-pickle");
    const std::string f = (dir / "consolidated.00.pth").string();
    const PthTensor t{"w", "FloatStorage", {4}, std::string(16, '\0')};
    auto with_pickle = [&](const std::string& pickle, const std::string& text) {
        write_file(f, pth_archive({t}, pickle));
        CHECK_THROWS_WITH(TorchCheckpoint(f), Catch::Contains(text));
    };
    // The classic: os.system("...") through GLOBAL + REDUCE.
    with_pickle("\x80\x02" + pk_global("os", "system") + "(" + pk_str("touch /tmp/llamaref-pwned") + "tR.", "'os.system'");
    CHECK_FALSE(fs::exists("/tmp/llamaref-pwned"));
    with_pickle("\x80\x02" + pk_global("builtins", "eval") + ".", "'builtins.eval'");
    with_pickle("\x80\x02" + pk_str("posix") + pk_str("system") + "\x93.", "'posix.system'");  // STACK_GLOBAL
    with_pickle("\x80\x02" + pk_global("torch", "load") + ".", "not need");
    // Structure errors.
    with_pickle("\x80\x02}", "truncated");                 // no STOP
    with_pickle("\x80\x02}h\x07.", "memo entry 7");         // BINGET of nothing
    with_pickle("\x80\x02t.", "no MARK");                   // TUPLE without MARK
    with_pickle("\x80\x02}}.", "2 values");                 // two values left
    with_pickle("\x80\x02\xff.", "opcode 0xff");
    with_pickle("\x80\x02" + std::string("X") + le32(1u << 30) + ".", "longer than the rest");
    with_pickle("\x80\x02" + std::string(100, ']') + std::string(99, 'a') + ".", "nested");
    with_pickle("\x80\x02" + pk_global("collections", "OrderedDict") + "(" + pk_int(1) + "tR.", "OrderedDict called with arguments");
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
TEST_CASE("pickle: linear in time and memory; no value contains itself", "[bad-input][pth]") {
    using clock = std::chrono::steady_clock;
    auto seconds_since = [](clock::time_point t0) { return std::chrono::duration<double>(clock::now() - t0).count(); };
    auto read = [](const std::string& p) {
        return PickleReader(reinterpret_cast<const std::byte*>(p.data()), p.size(), "test.pkl").load();
    };
    // 200,000 APPENDs, each followed by MEMOIZE: 800 KB.
    std::string p = "\x80\x02]\x94";
    for (int k = 0; k < 200000; ++k) p += "K\x01" "a\x94";
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
    CHECK_THROWS_WITH(read(std::string("\x80\x02]q\0]h\0a0h\0K\x01" "a.", 15)), Catch::Contains("changed after"));
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
    CHECK_THROWS_WITH(load_model(dir.string()), Catch::Contains("feed_forward.w1") && Catch::Contains("config implies"));
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
