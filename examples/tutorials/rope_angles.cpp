// Tutorial: RoPE frequencies, the angles they give, and Llama 3.1's scaling of them.
//
// Each pair i of a head's coordinates rotates by pos · θ_i with θ_i = base^(−2i/Dh): the first
// pairs spin fast (short wavelengths, local position), the last pairs slowly (long range).
// Llama 3.1 divides the slow frequencies by 8 (Llama 3.2 1B/3B: 32) so that 8192 training
// positions stretch to 131072, keeps the fast ones, and blends in between.
#include <cstdio>
#include <numbers>

#include <llamaref/model/rope.hpp>

int main() {
    using namespace llamaref;
    const int head_dim = 128;
    const RopeScaling llama31{true, 8.0, 1.0, 4.0, 8192};
    const auto plain = rope_frequencies(head_dim, 500000.0);
    const auto scaled = rope_frequencies(head_dim, 500000.0, llama31);
    std::printf("Llama 3 head_dim %d, base 500000: %zu rotating pairs\n\n", head_dim, plain.size());
    std::printf("%4s %14s %16s %14s  %s\n", "pair", "theta_i", "wavelength", "3.1 scaled", "effect");
    for (std::size_t i = 0; i < plain.size(); i += 4) {
        const double wavelength = 2 * std::numbers::pi / plain[i];
        const char* effect = scaled[i] == plain[i] ? "kept" : scaled[i] == plain[i] / 8 ? "divided by 8" : "blended";
        std::printf("%4zu %14.6e %13.0f tok %14.6e  %s\n", i, plain[i], wavelength, scaled[i], effect);
    }
    std::printf("\nThe angle of pair 0 and of the last pair at a few positions (radians):\n");
    for (double pos : {1.0, 100.0, 8192.0, 100000.0})
        std::printf("  pos %8.0f: pair 0 %12.1f   last pair %.6f (scaled %.6f)\n", pos, pos * plain[0],
                    pos * plain.back(), pos * scaled.back());
}
