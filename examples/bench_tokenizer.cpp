// bench_tokenizer — encode throughput of llamaref's tokenizers against the reference libraries,
// on the test corpus (tests/tokenizer/corpus.jsonl): a benchmark, not a test.
//
//   build/examples/bench_tokenizer [SHARED_DATA_DIR]
// Prints a Markdown table: MB/s of llamaref's SentencePiece path vs the SentencePiece library
// (linked here when found), and of llamaref's tiktoken path vs the npm tiktoken package (run with
// node from tests/tokenizer/oracle when installed). One thread; each string encoded separately;
// the best of 5 passes.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <llamaref/tokenizer/sentencepiece.hpp>
#include <llamaref/tokenizer/tiktoken_files.hpp>
#ifdef LLAMAREF_BENCH_SENTENCEPIECE
#include <sentencepiece_processor.h>
#endif

using clock_type = std::chrono::steady_clock;

template <class F>
double best_mb_per_s(const std::vector<std::string>& corpus, std::size_t bytes, F&& encode) {
    double best = 0;
    for (int pass = 0; pass < 5; ++pass) {
        const auto t0 = clock_type::now();
        std::size_t n = 0;
        for (const auto& s : corpus) n += encode(s);
        const double sec = std::chrono::duration<double>(clock_type::now() - t0).count();
        if (n == 0) std::abort();
        best = std::max(best, double(bytes) / sec / 1e6);
    }
    return best;
}

int main(int argc, char** argv) {
    const std::string data = argc > 1 ? argv[1] : std::string(LLAMAREF_SOURCE_DIR) + "/../shared";
    const std::string corpus_path = std::string(LLAMAREF_SOURCE_DIR) + "/tests/tokenizer/corpus.jsonl";
    std::vector<std::string> corpus;
    std::ifstream in(corpus_path);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) corpus.push_back(nlohmann::json::parse(line).get<std::string>());
    std::size_t bytes = 0;
    for (const auto& s : corpus) bytes += s.size();
    std::printf("corpus: %zu strings, %.2f MB (%s); 1 thread, best of 5 passes\n\n", corpus.size(), double(bytes) / 1e6,
                corpus_path.c_str());
    std::printf("| tokenizer | implementation | encode MB/s |\n|---|---|---|\n");

    const auto sp = llamaref::SentencePieceTokenizer::from_model_file(data + "/tokenizers/llama2/tokenizer.model");
    std::printf(
        "| Llama 2 (SentencePiece BPE) | llamaref | %.1f |\n",
        best_mb_per_s(corpus, bytes, [&](const std::string& s) { return sp.encode(s, false, false).size() + 1; }));
#ifdef LLAMAREF_BENCH_SENTENCEPIECE
    sentencepiece::SentencePieceProcessor lib;
    if (!lib.Load(data + "/tokenizers/llama2/tokenizer.model").ok()) return 1;
    std::printf("| Llama 2 (SentencePiece BPE) | SentencePiece library %s | %.1f |\n", "(libsentencepiece)",
                best_mb_per_s(corpus, bytes, [&](const std::string& s) {
                    std::vector<int> ids;
                    lib.Encode(s, &ids);
                    return ids.size() + 1;
                }));
#endif
    const auto tt = llamaref::read_tiktoken_model(data + "/tokenizers/llama3/tokenizer.model");
    std::printf(
        "| Llama 3 (tiktoken BPE) | llamaref (PCRE2 JIT) | %.1f |\n",
        best_mb_per_s(corpus, bytes, [&](const std::string& s) { return tt.encode(s, false, false).size() + 1; }));
    std::fflush(stdout);
    const std::string oracle = std::string(LLAMAREF_SOURCE_DIR) + "/tests/tokenizer/oracle";
    const std::string cmd =
        "node '" + oracle + "/bench.mjs' '" + data + "/tokenizers/llama3/tokenizer.model' '" + corpus_path + "'";
    if (std::system(("test -d '" + oracle + "/node_modules/tiktoken' && command -v node > /dev/null").c_str()) == 0)
        return std::system(cmd.c_str()) == 0 ? 0 : 1;
    std::printf("| Llama 3 (tiktoken BPE) | npm tiktoken | (not installed: npm ci in tests/tokenizer/oracle) |\n");
    return 0;
}
