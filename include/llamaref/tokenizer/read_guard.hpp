// llamaref/tokenizer/read_guard.hpp — what may leave a tokenizer reader: only llamaref::Error,
// and one that names the file.
//
// The readers check what they read and throw Errors, but some checks live where no file name is
// known (the SentencePieceTokenizer and TiktokenTokenizer constructors: "piece 0 is empty"), and a
// library call may still throw its own exception on input nobody foresaw (std::bad_alloc,
// std::length_error, nlohmann::json's type_error). read_guard(path, f) runs one reader:
//   - an Error that does not name the file gets "path: " in front, and one longer than
//     kMaxMessage is cut (a JSON parser's message quotes the whole token it failed in);
//   - any other exception becomes an Error "path: ..." with at most a short prefix of its message
//     (a parser's message may quote a whole, possibly huge, token).
// It is a safety net, not the error handling: each reader still says what is wrong where it is.
#pragma once

#include <exception>
#include <new>
#include <string>
#include <string_view>

#include "../core/error.hpp"

namespace llamaref {

// The first `max` bytes of `s`, cut at a character boundary, "..." marking a cut: for quoting a
// piece, key or message of unknown length from a file in an error.
inline std::string excerpt(std::string_view s, std::size_t max = 60) {
    if (s.size() <= max) return std::string(s);
    std::size_t n = max;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // not inside a UTF-8 character
    return std::string(s.substr(0, n)) + "...";
}

template <class F>
auto read_guard(const std::string& path, F&& read) -> decltype(read()) {
    constexpr std::size_t kMaxMessage = 600;
    try {
        return read();
    } catch (const Error& e) {
        const std::string_view m = e.what();
        const bool named = m.find(path) != std::string_view::npos;
        if (named && m.size() <= kMaxMessage) throw;
        fail(named ? "" : path + ": ", excerpt(m, kMaxMessage));
    } catch (const std::bad_alloc&) {
        fail(path, ": out of memory while reading the tokenizer (a size or id in the file is implausible?)");
    } catch (const std::exception& e) { fail(path, ": unexpected content: ", excerpt(e.what(), 300)); }
}

}  // namespace llamaref
