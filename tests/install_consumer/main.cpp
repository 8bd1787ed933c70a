#include <cstdio>
#include <llamaref/llamaref.hpp>

int main() {
    // Something that needs the headers and their dependencies: the FFN rule and a RoPE table.
    const int f = llamaref::ffn_hidden_dim(4096, 256);
    const auto theta = llamaref::rope_frequencies(128, 500000.0);
    std::printf("ffn %d, theta[1] %.6g\n", f, theta[1]);
    return f == 11008 ? 0 : 1;
}
