// llamaref/core/utf8.hpp — the UTF-8 rules the tokenizers need, and nothing else.
//
// UTF-8 (RFC 3629, Unicode §3.9 Table 3-7): a code point U+0000..U+10FFFF, surrogates excluded,
// in 1-4 bytes, shortest form only. Two tokenizers read malformed input differently, and
// llamaref follows each one exactly:
//   * SentencePiece (src/util.cc DecodeUTF8): a malformed sequence consumes ONE byte and becomes
//     U+FFFD (one replacement character per bad byte).
//   * Python's bytes.decode("utf-8", errors="replace"), used by Meta's tiktoken tokenizer, and
//     the WHATWG TextDecoder: each *maximal subpart* of an ill-formed sequence becomes one U+FFFD
//     (Unicode §3.9 "U+FFFD Substitution of Maximal Subparts"), e.g. E2 82 41 -> U+FFFD 'A'.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace llamaref::utf8 {

inline constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
inline constexpr char32_t kInvalid = 0xFFFFFFFF;

inline void append(std::string& out, char32_t c) {
    if (c < 0x80) {
        out += char(c);
    } else if (c < 0x800) {
        out += char(0xC0 | (c >> 6));
        out += char(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out += char(0xE0 | (c >> 12));
        out += char(0x80 | ((c >> 6) & 0x3F));
        out += char(0x80 | (c & 0x3F));
    } else {
        out += char(0xF0 | (c >> 18));
        out += char(0x80 | ((c >> 12) & 0x3F));
        out += char(0x80 | ((c >> 6) & 0x3F));
        out += char(0x80 | (c & 0x3F));
    }
}

// The length of a character from its first byte alone (SentencePiece's OneCharLen): 1 for ASCII
// and stray continuation bytes, 2 for C0..DF, 3 for E0..EF, 4 for F0..FF. Used only on text that
// has already been made valid.
inline std::size_t lead_length(unsigned char c) { return c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }

// One well-formed character at s[i..]: returns its code point and sets `len`; on a malformed
// sequence returns kInvalid with `len` = the length of its maximal subpart (at least 1).
inline char32_t decode(std::string_view s, std::size_t i, std::size_t& len) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const unsigned char c = b(0);
    len = 1;
    if (c < 0x80) return c;
    int n;                               // continuation bytes
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte (Table 3-7)
    char32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 1, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 2, cp = c & 0x0F;
        if (c == 0xE0) lo = 0xA0;  // no overlong forms
        if (c == 0xED) hi = 0x9F;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 3, cp = c & 0x07;
        if (c == 0xF0) lo = 0x90;  // no overlong forms
        if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
    } else {
        return kInvalid;  // 80..C1, F5..FF never start a character
    }
    for (int k = 1; k <= n; ++k) {
        if (i + k >= s.size()) return kInvalid;
        const unsigned char t = b(k);
        if (k == 1 ? (t < lo || t > hi) : (t < 0x80 || t > 0xBF)) return kInvalid;
        cp = (cp << 6) | (t & 0x3F);
        len = std::size_t(k) + 1;  // a maximal subpart grows with each valid continuation
    }
    return cp;
}

inline bool is_valid(std::string_view s) {
    for (std::size_t i = 0, len; i < s.size(); i += len)
        if (decode(s, i, len) == kInvalid) return false;
    return true;
}

// Python's errors="replace": every maximal subpart of an ill-formed sequence -> U+FFFD.
inline std::string replace_invalid(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0, len; i < s.size(); i += len) {
        if (decode(s, i, len) == kInvalid)
            out += kReplacement;
        else
            out.append(s.substr(i, len));
    }
    return out;
}

// SentencePiece's rule (util.cc IsValidDecodeUTF8): the length of a valid character at s[i..],
// or 0 when the byte there starts no valid character (then exactly one byte is consumed).
// It accepts the same characters as decode(); only the amount consumed on error differs.
inline std::size_t sp_char_length(std::string_view s, std::size_t i) {
    std::size_t len;
    return decode(s, i, len) == kInvalid ? 0 : len;
}

// Python's str.isspace() for one code point: bidirectional class WS, B or S, or category Zs.
inline bool is_python_space(char32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Python's str.strip() (and Jinja's trim): removes leading and trailing is_python_space characters.
inline std::string_view python_strip(std::string_view s) {
    std::size_t b = 0, e = s.size(), len;
    while (b < e) {
        const char32_t c = decode(s, b, len);
        if (c == kInvalid || !is_python_space(c)) break;
        b += len;
    }
    while (e > b) {  // step back to the start of the last character
        std::size_t k = e - 1;
        while (k > b && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
        const char32_t c = decode(s, k, len);
        if (c == kInvalid || k + len != e || !is_python_space(c)) break;
        e = k;
    }
    return s.substr(b, e - b);
}

}  // namespace llamaref::utf8
