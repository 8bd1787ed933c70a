// examples/cli/commands.hpp — the subcommands of the llamaref CLI, one file each.
// Each takes the arguments after its name and returns the exit status; errors are thrown as
// llamaref::Error (main prints them and exits 1).
#pragma once

namespace llamaref::cli {

int cmd_generate(int argc, char** argv);
int cmd_chat(int argc, char** argv);
int cmd_logits(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_trace(int argc, char** argv);
int cmd_compare(int argc, char** argv);
int cmd_perplexity(int argc, char** argv);
int cmd_info(int argc, char** argv);
int cmd_convert(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_serve(int argc, char** argv);
int cmd_check(int argc, char** argv);

}  // namespace llamaref::cli
