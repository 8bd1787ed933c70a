// llamaref trace / compare / perplexity — the verification toolkit (include/llamaref/verify/).
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <llamaref/model_parallel/transformer.hpp>
#include <llamaref/verify/compare.hpp>
#include <llamaref/verify/kl_divergence.hpp>
#include <llamaref/verify/perplexity.hpp>
#include <llamaref/verify/trace.hpp>

#include "commands.hpp"
#include "common.hpp"
#include "device.hpp"
#include "ranks.hpp"

namespace llamaref::cli {

int cmd_trace(int argc, char** argv) {
    ArgParser args(
        "trace", "-m MODEL (--tokens 1,2,3 | -p TEXT) --out DIR [--layers 0,5,-1]",
        "Write every intermediate tensor of one forward pass as float32 .npy files plus DIR/index.json\n"
        "(names, shapes, what each is, Meta and Hugging Face names). -p adds BOS; --tokens is used as is.\n"
        "--ranks N: each rank writes DIR/rankR with its slices marked; compare takes a rank folder against a\n"
        "whole trace (it cuts the same slice). --device cuda traces the GPU's forward pass (cuda::Runner) under\n"
        "the same names, without the attention probabilities and Gemma 2's post-norm outputs.");
    args.option("-m,--model", "MODEL", model_help())
        .option("-z,--tokenizer", "FILE", "tokenizer for -p (default: beside MODEL)")
        .option("--tokens", "IDS", "comma-separated token ids")
        .option("-p,--prompt", "TEXT", "text to tokenize (with BOS)")
        .option("--out", "DIR", "output folder")
        .option("--layers", "LIST", "blocks to keep, negative from the end (default: all)");
    add_cpu_options(args);
    add_device_option(args);
    add_ranks_option(args);
    args.parse(argc, argv);
    check_ranks(args, "trace");
    const Device device = device_from(args, "trace");
    if (device == Device::cuda && args.given("--ranks"))
        throw UsageError("llamaref trace: --ranks traces on the CPU; leave out --device cuda");
    if (args.given("--tokens") == args.given("-p"))
        throw UsageError("llamaref trace: give exactly one of --tokens and -p");
    const CpuOptions cpu = cpu_options_from(args, "trace");
    if (device == Device::cuda) cpu.require_cuda_compatible("trace");
    EngineOptions eo = engine_options_from(args, "trace", cpu);
    const std::string out = args.str("--out");
    const std::string path = model_path(args);
    const CliModel model = load_cli_model(path);  // the whole model, or this rank's slice (--ranks)
    std::vector<int> tokens;
    if (args.given("--tokens")) {
        tokens = args.int_list("--tokens");
    } else {
        tokens = load_tokenizer(args, path, model.config().vocab_size).encode(args.str("-p"), true, false);
    }
    const std::vector<int> layers = args.given("--layers") ? args.int_list("--layers") : std::vector<int>{};
#ifdef LLAMAREF_WITH_CUDA
    if (device == Device::cuda) {  // the GPU's forward pass, each tensor copied back as it is computed
        eo.context = int(tokens.size());
        cuda::Runner gpu(*model.whole, runner_options(eo));
        const Trace t = Trace::record(gpu, tokens, layers);
        t.save(out);
        std::fprintf(stderr, "wrote %zu tensors of the GPU's forward pass for %zu tokens to %s/\n", t.tensors.size(),
                     tokens.size(), out.c_str());
        return 0;
    }
#endif
    if (model.whole) {
        Transformer tf(model.whole, int(tokens.size()));
        cpu.apply(tf);
        const Trace t = Trace::record(tf, tokens, layers);
        t.save(out);
        std::fprintf(stderr, "wrote %zu tensors for %zu tokens to %s/\n", t.tensors.size(), tokens.size(), out.c_str());
        return 0;
    }
    // Model parallel: each rank writes OUT/rankR, its slices marked for `compare` (trace.hpp "shard").
    ModelParallelTransformer tf(model.slice, *world(), int(tokens.size()));
    tf.set_backend(cpu.backend);
    const Trace t = Trace::record(tf, tokens, layers);
    const std::string dir = out + "/rank" + std::to_string(world()->rank());
    t.save(dir);
    if (is_rank0())
        std::fprintf(stderr, "wrote %zu tensors per rank for %zu tokens to %s/rank0 .. rank%d/\n", t.tensors.size(),
                     tokens.size(), out.c_str(), world()->size() - 1);
    return 0;
}

int cmd_compare(int argc, char** argv) {
    ArgParser args("compare", "DIR_A DIR_B [--atol A] [--rtol R] [--map FILE]",
                   "Compare two trace folders tensor by tensor in forward order (B is the reference: an element\n"
                   "is within tolerance when |a - b| <= atol + rtol*|b|). The last line names the first divergence.\n"
                   "Exit status: 0 all within tolerance, 1 a divergence, 2 bad input.");
    args.option("--a", "DIR_A", "first trace (or the first positional argument)")
        .option("--b", "DIR_B", "reference trace (or the second positional argument)")
        .option("--atol", "A", "absolute tolerance", "1e-4")
        .option("--rtol", "R", "relative tolerance", "1e-4")
        .option("--map", "FILE", "JSON object mapping B's tensor names to llamaref's");
    // Positional DIR_A DIR_B: rewrite them as --a / --b for the parser.
    std::vector<std::string> rest;
    int positional = 0;
    for (int i = 0; i < argc; ++i) {
        const std::string a = argv[i];
        if (!a.empty() && a[0] != '-' &&
            (i == 0 || std::string(argv[i - 1]).rfind("--", 0) != 0 || std::string(argv[i - 1]) == "--help")) {
            if (positional == 2) throw UsageError("llamaref compare: more than two folders given");
            rest.push_back(positional++ == 0 ? "--a" : "--b");
        }
        rest.push_back(a);
    }
    std::vector<char*> ptrs;
    for (auto& s : rest) ptrs.push_back(s.data());
    try {
        args.parse(int(ptrs.size()), ptrs.data());
        Tolerance tol{args.real("--atol", 0, 1e30), args.real("--rtol", 0, 1e30)};
        std::map<std::string, std::string> name_map;
        if (args.given("--map")) {
            std::ifstream f(args.str("--map"));
            if (!f) fail(args.str("--map"), ": cannot open");
            nlohmann::json j;
            try {
                j = nlohmann::json::parse(f);
            } catch (const nlohmann::json::exception& e) { fail(args.str("--map"), ": not valid JSON: ", e.what()); }
            if (!j.is_object()) fail(args.str("--map"), ": expected a JSON object {\"their name\": \"llamaref name\"}");
            for (auto& [k, v] : j.items()) {
                if (!v.is_string()) fail(args.str("--map"), ": value for ", k, " is not a string");
                name_map[k] = v.get<std::string>();
            }
        }
        const Trace a = Trace::load(args.str("--a")), b = Trace::load(args.str("--b"));
        const CompareReport r = compare_traces(a, b, tol, name_map);
        if (r.rows.empty()) fail("no tensor names in common between ", args.str("--a"), " and ", args.str("--b"));
        std::printf("%-36s %-16s %10s %10s %10s %8s  %s\n", "tensor", "shape", "max_abs", "max_rel", "cosine", "argmax",
                    "");
        for (const auto& c : r.rows) {
            char argmax_col[16] = "";
            if (c.argmax_agreement) std::snprintf(argmax_col, sizeof argmax_col, "%.3f", *c.argmax_agreement);
            const char* mark = !c.within && r.first_divergence && *r.first_divergence == c.name ? "<-- first divergence"
                               : c.within                                                       ? ""
                                                                                                : "x";
            std::printf("%-36s %-16s %10.3e %10.3e %10.7f %8s  %s%s%s\n", c.name.c_str(), shape_str(c.shape).c_str(),
                        c.max_abs, c.max_rel, c.cosine, argmax_col, mark, c.note.empty() ? "" : "  ", c.note.c_str());
        }
        if (!r.missing_in_b.empty())
            std::printf("(%zu tensors of A are not in B, e.g. %s)\n", r.missing_in_b.size(), r.missing_in_b[0].c_str());
        if (r.first_divergence) {
            std::printf("first divergence: %s\n", r.first_divergence->c_str());
            return 1;
        }
        std::printf("all within tolerance\n");
        return 0;
    } catch (const std::exception& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    }
}

// perplexity --kld-base: both models on the same windows, the statistics of kl_divergence.hpp.
int kld_report(Transformer& tf, const std::string& base_path, const CpuOptions& cpu, const std::vector<int>& tokens,
               int ctx, int stride, int bos, double max_kld) {
    auto base_model = std::shared_ptr<const Model>(load_model(base_path));
    Transformer base(base_model, ctx);
    cpu.apply(base);
    const BaseComparison r = compare_to_base(tf, base, tokens, ctx, stride, bos, [](int done, int total) {
        if (done == total || 10 * done / total != 10 * (done - 1) / total)
            std::fprintf(stderr, "%d/%d windows\n", done, total);
    });
    const KlSummary s = summarize(r.positions);
    const char* names[] = {"Maximum", "99.9%  ", "99.0%  ", "95.0%  ", "90.0%  ", "Median ",
                           "10.0%  ", " 5.0%  ", " 1.0%  ", " 0.1%  ", "Minimum"};
    std::printf("PPL(MODEL) = %.4f +/- %.5f\nPPL(BASE)  = %.4f +/- %.5f\n", r.model.ppl, r.model.standard_error,
                r.base.ppl, r.base.standard_error);
    std::printf("\n====== KL divergence statistics (%zu positions; nats) ======\n", s.n);
    std::printf("Mean    KLD: %10.6f +/- %10.6f\n", s.kld_mean, s.kld_stderr);
    for (std::size_t i = 0; i < s.kld_pct.size(); ++i) std::printf("%s KLD: %10.6f\n", names[i], s.kld_pct[i]);
    std::printf("\n====== Token probability statistics ======\n");
    std::printf("Mean    Δp: %8.3f +/- %.3f %%\n", 100 * s.dp_mean, 100 * s.dp_stderr);
    for (std::size_t i = 0; i < s.dp_pct.size(); ++i) std::printf("%s Δp: %8.3f %%\n", names[i], 100 * s.dp_pct[i]);
    std::printf("RMS Δp    : %8.3f %%\n", 100 * s.dp_rms);
    std::printf("Same top p: %7.3f +/- %.3f %%\n", 100 * s.same_top, 100 * s.same_top_stderr);
    if (max_kld >= 0 && s.kld_mean > max_kld) {
        std::printf("FAIL: mean KL divergence %.6f exceeds --max-kld %g\n", s.kld_mean, max_kld);
        return 1;
    }
    if (max_kld >= 0) std::printf("PASS: mean KL divergence %.6f within --max-kld %g\n", s.kld_mean, max_kld);
    return 0;
}

int cmd_perplexity(int argc, char** argv) {
    ArgParser args(
        "perplexity", "-m MODEL -f TEXT [--ctx N] [--stride S] [--kld-base BASE [--max-kld X]]",
        "Perplexity of MODEL on the text in FILE (tokenized with BOS).\n"
        "Default (no --stride): llama.cpp's llama-perplexity definition: independent chunks of N tokens,\n"
        "BOS first, the second half of each chunk scored. --stride S: a sliding window moved by S tokens,\n"
        "every token scored once (Hugging Face's guide). See include/llamaref/verify/perplexity.hpp.\n"
        "--kld-base BASE also runs BASE (e.g. the float model MODEL was quantized from) on the same windows\n"
        "and reports how far MODEL's next-token distributions lie from BASE's: KL divergence, top-1\n"
        "agreement and the change of the next token's probability (llama.cpp's statistics, defined in\n"
        "include/llamaref/verify/kl_divergence.hpp); exit 1 when the mean KL divergence exceeds --max-kld.");
    args.option("-m,--model", "MODEL", model_help())
        .option("-z,--tokenizer", "FILE", "tokenizer (default: beside MODEL)")
        .option("-f,--file", "FILE", "text file")
        .option("--ctx", "N", "window length in tokens", "512")
        .option("--stride", "S", "sliding-window stride (0: llama.cpp chunks)", "0")
        .option("--kld-base", "BASE", "the base model to compare MODEL's distributions with (same vocabulary)")
        .option("--max-kld", "X", "with --kld-base: exit 1 when the mean KL divergence exceeds X (nats)");
    add_cpu_options(args);
    args.parse(argc, argv);
    const CpuOptions cpu = cpu_options_from(args, "perplexity");
    if (args.given("--max-kld") && !args.given("--kld-base"))
        throw UsageError("llamaref perplexity: --max-kld needs --kld-base");
    double max_kld = -1;
    if (args.given("--max-kld")) {
        const std::string v = args.str("--max-kld");
        char* end = nullptr;
        max_kld = std::strtod(v.c_str(), &end);
        if (v.empty() || *end != '\0' || !std::isfinite(max_kld) || max_kld < 0)
            throw UsageError("llamaref perplexity: --max-kld must be a number >= 0, got '" + v + "'");
    }
    const int ctx = int(args.integer("--ctx", 2, 1 << 24));
    const int stride = int(args.integer("--stride", 0, ctx));
    std::ifstream f(args.str("-f"), std::ios::binary);
    if (!f) fail(args.str("-f"), ": cannot open");
    std::stringstream text;
    text << f.rdbuf();
    const std::string path = model_path(args);
    auto model = std::shared_ptr<const Model>(load_model(path));
    const auto tok = load_tokenizer(args, path, model->config.vocab_size);
    const std::vector<int> tokens = tok.encode(text.str(), true, false);
    Transformer tf(model, ctx);
    cpu.apply(tf);
    std::fprintf(stderr, "%zu tokens, window %d, %s\n", tokens.size(), ctx,
                 stride ? ("stride " + std::to_string(stride)).c_str() : "llama.cpp chunks");
    // On a terminal a bar redrawn in place; into a file or a pipe one line per tenth of the windows.
    const bool terminal = isatty(STDERR_FILENO);
    if (args.given("--kld-base"))
        return kld_report(tf, args.str("--kld-base"), cpu, tokens, ctx, stride, tok.bos_id(), max_kld);
    const auto r = perplexity(tf, tokens, ctx, stride, tok.bos_id(), [&](int done, int total, double ppl) {
        const int width = 30, filled = width * done / total;
        if (terminal)
            std::fprintf(stderr, "\r[%s%s] %d/%d  PPL %.4f", std::string(filled, '#').c_str(),
                         std::string(width - filled, '.').c_str(), done, total, ppl);
        else if (done == total || 10 * done / total != 10 * (done - 1) / total)
            std::fprintf(stderr, "%d/%d windows  PPL %.4f\n", done, total, ppl);
    });
    if (terminal) std::fprintf(stderr, "\n");
    std::printf("Final estimate: PPL = %.4f +/- %.5f (%zu tokens scored)\n", r.ppl, r.standard_error, r.nll.size());
    return 0;
}

}  // namespace llamaref::cli
