// examples/cli/main.cpp — `llamaref COMMAND [flags]`: thin glue over the library.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "args.hpp"
#include "commands.hpp"
#include "ranks.hpp"

namespace {

struct Command {
    const char* name;
    int (*run)(int, char**);
    const char* summary;
};

const Command kCommands[] = {
    {"generate", llamaref::cli::cmd_generate, "generate text from a prompt (default model: stories260K)"},
    {"chat", llamaref::cli::cmd_chat, "interactive multi-turn chat with the model's template"},
    {"logits", llamaref::cli::cmd_logits, "write the logits [T, V] of given token ids to a .npy file"},
    {"tokenize", llamaref::cli::cmd_tokenize, "print the token ids (and pieces) of a text"},
    {"trace", llamaref::cli::cmd_trace, "write every intermediate tensor of a forward pass (.npy + index.json)"},
    {"compare", llamaref::cli::cmd_compare, "compare two traces and name the first divergence"},
    {"perplexity", llamaref::cli::cmd_perplexity, "perplexity on a text file (llama.cpp's definition)"},
    {"info", llamaref::cli::cmd_info, "print a checkpoint's format, configuration, dtypes and size"},
    {"convert", llamaref::cli::cmd_convert, "write a checkpoint as .gguf, .safetensors or llama2.c .bin"},
    {"bench", llamaref::cli::cmd_bench,
     "prefill and decode tok/s and decode GB/s on cpu or cuda (--random: no download)"},
    {"serve", llamaref::cli::cmd_serve, "an OpenAI-compatible HTTP server with exact logprobs (docs/serve.md)"},
    {"check", llamaref::cli::cmd_check, "grade a running engine's API against the reference (KL divergence, top-1)"},
};

void usage(std::FILE* out) {
    std::fprintf(out, "usage: llamaref COMMAND [flags]   (llamaref COMMAND --help for its flags)\n\ncommands:\n");
    for (const auto& c : kCommands) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
    std::fprintf(out,
                 "\nMODEL (-m) is a .gguf file, a llama2.c .bin file, a Hugging Face folder (config.json + "
                 "safetensors)\nor a Meta folder (params.json + consolidated.NN.pth).\n");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    const std::string name = argv[1];
    if (name == "-h" || name == "--help" || name == "help") {
        usage(stdout);
        return 0;
    }
    for (const auto& c : kCommands) {
        if (name != c.name) continue;
        try {
            // --ranks N: the same command line under `mpirun -np N` (ranks.hpp); inside the MPI job,
            // each process becomes one rank.
            const bool model_parallel = name == "generate" || name == "logits" || name == "trace";
            if (const int ranks = llamaref::cli::ranks_flag(argc, argv);
                model_parallel && ranks > 0 && llamaref::cli::mpi_job_size() == 0)
                return llamaref::cli::run_under_mpirun(ranks, argc, argv);
            llamaref::cli::start_rank();
            return c.run(argc - 2, argv + 2);
        } catch (const std::exception& e) {  // llamaref::Error, UsageError, and e.g. bad_alloc
            std::fflush(stdout);
            llamaref::cli::rank_error(e.what());  // "error: ..." (with the rank in an MPI job, which it ends)
            return 1;
        }
    }
    std::fprintf(stderr, "llamaref: unknown command '%s'\n\n", name.c_str());
    usage(stderr);
    return 1;
}
