// tests/tokenizer/corpus.hpp — the tokenizer test corpus (tests/tokenizer/corpus.jsonl, one JSON
// string per line, written by tests/tokenizer/make_corpus.py) and a seeded generator of random
// strings, valid or deliberately malformed UTF-8.
#pragma once

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <llamaref/core/utf8.hpp>

namespace llamaref::test {

inline std::vector<std::string> tokenizer_corpus() {
    std::ifstream in(std::string(LLAMAREF_SOURCE_DIR) + "/tests/tokenizer/corpus.jsonl");
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(nlohmann::json::parse(line).get<std::string>());
    return out;
}

// `n` random strings from a pool of characters of every size class (ASCII with controls and NUL,
// Latin, CJK, emoji and other 4-byte characters, whitespace of all kinds); with `malformed`,
// about one string in three also gets raw bytes that are not valid UTF-8.
inline std::vector<std::string> random_strings(std::size_t n, unsigned seed, bool malformed) {
    static const char32_t pool[] = {
        'a',     'b',     'e',      't',    'h',    'o',    'n',    's',    'T',    'H',     'Z',     '0',     '1',
        '7',     '9',     ' ',      ' ',    ' ',    '\t',   '\n',   '\r',   '\'',   '"',     '.',     ',',     '!',
        '?',     '-',     '_',      '<',    '>',    '|',    '/',    '\\',   '(',    ')',     0,       1,       0x1F,
        0x7F,    0xA0,    0xE9,     0xDF,   0xF1,   0x101,  0x3B1,  0x43F,  0x5D0,  0x627,   0x915,   0xE01,   0x2581,
        0x2028,  0x3000,  0x200B,   0xFEFF, 0xFFFD, 0x4E2D, 0x6587, 0x3042, 0xAC00, 0x1F600, 0x1F44D, 0x1F3FD, 0x200D,
        0x1D400, 0x20000, 0x10FFFF, 0xE000, 0x85,   0x1680, 0x2029, 0x17F,  0x212A, 0x130,   0x1C,    0xB,     0xC};
    static const unsigned char bad[] = {0x80, 0xBF, 0xC0, 0xC1, 0xC3, 0xE2, 0xED, 0xF0, 0xF4, 0xF5, 0xFF, 0xFE};
    std::mt19937 rng(seed);
    std::vector<std::string> out;
    for (std::size_t k = 0; k < n; ++k) {
        std::string s;
        const int len = int(rng() % 24);
        const bool bytes = malformed && rng() % 3 == 0;
        for (int i = 0; i < len; ++i) {
            if (bytes && rng() % 5 == 0)
                s += char(bad[rng() % sizeof bad]);
            else
                utf8::append(s, pool[rng() % (sizeof pool / sizeof pool[0])]);
        }
        out.push_back(s);
    }
    return out;
}

}  // namespace llamaref::test
