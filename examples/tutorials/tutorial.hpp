// examples/tutorials/tutorial.hpp — what the tutorials share: finding stories260K, showing pieces, traced tensors.
#pragma once

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

#include <xtensor/xadapt.hpp>
#include <xtensor/xtensor.hpp>

#include <llamaref/core/tensor_view.hpp>

// A piece as it should look in a table: control characters escaped, cut or padded to `width`
// characters (not bytes: "▁" is three bytes of UTF-8). width 0: no cutting or padding.
inline std::string show(const std::string& piece, std::size_t width = 0) {
    std::string out;
    std::size_t chars = 0;
    for (std::size_t i = 0; i < piece.size(); ++i) {
        const unsigned char c = piece[i];
        if (width && chars == width && (c & 0xC0) != 0x80) break;
        if (c == '\n')
            out += "\\n";
        else if (c < 0x20)
            out += '?';
        else
            out += char(c);
        if ((c & 0xC0) != 0x80) ++chars;
    }
    while (width && chars++ < width) out += ' ';
    return out;
}

// argv[1] if given, else $LLAMAREF_TEST_DATA/models/stories260K, else ../shared/models/stories260K.
// Exits with 77 ("skipped" for CTest) when the model is not there.
inline std::string stories_dir(int argc, char** argv) {
    namespace fs = std::filesystem;
    if (argc > 1) return argv[1];
    const char* env = std::getenv("LLAMAREF_TEST_DATA");
    const fs::path dir = fs::path(env && *env ? env : "../shared") / "models" / "stories260K";
    if (!fs::exists(dir / "stories260K.bin")) {
        std::printf("SKIPPED: %s not found; pass the folder of stories260K.bin and tok512.bin\n", dir.c_str());
        std::exit(77);
    }
    return dir.string();
}

// A file under the shared data folder ($LLAMAREF_TEST_DATA, else ../shared), or argv[1] if given.
// Exits with 77 ("skipped" for CTest) when it is not there.
inline std::string shared_file(int argc, char** argv, const std::string& rel) {
    namespace fs = std::filesystem;
    if (argc > 1) return argv[1];
    const char* env = std::getenv("LLAMAREF_TEST_DATA");
    const fs::path path = fs::path(env && *env ? env : "../shared") / rel;
    if (!fs::exists(path)) {
        std::printf("SKIPPED: %s not found; pass its path\n", path.c_str());
        std::exit(77);
    }
    return path.string();
}

// A traced tensor copied into an xtensor of the given shape (the probe's memory lives only during the
// observer's call), so that a tutorial indexes it as the equations do — q(t, h, d) — instead of
// computing offsets. `shape` must hold as many numbers as the probe: [T, H·Dh] can be read as
// {T, H, Dh}. (Probe: model/transformer.hpp's, a template here so that this header stays light.)
template <std::size_t N, class Probe>
xt::xtensor<float, N> probe_tensor(const Probe& p, const std::array<std::size_t, N>& shape) {
    std::size_t n = 1;
    for (std::size_t d : shape) n *= d;
    if (n != llamaref::shape_numel(p.shape)) throw std::runtime_error("probe_tensor: " + p.name + ": wrong shape");
    return xt::adapt(p.data, n, xt::no_ownership(), shape);
}
