// llamaref/tokenizer/regex.hpp — a PCRE2 pattern in UTF mode, for tiktoken's pre-tokenizer.
//
// Llama 3's pre-tokenizer is a regular expression with Unicode classes (\p{L}, \p{N}), a
// case-insensitive group and a negative lookahead. std::regex can express none of it faithfully,
// so the pattern is compiled verbatim with PCRE2 (pcre2.org; Debian libpcre2-dev, library
// pcre2-8) with PCRE2_UTF (code points, not bytes) and PCRE2_UCP (\s, \d, \w and case folding
// by Unicode properties, as in the Rust regex engine tiktoken uses), JIT-compiled when possible.
//
// Only this header needs PCRE2: link `pcre2-8` when you include it (the CMake target does).
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <memory>
#include <string>
#include <string_view>

#include "../core/error.hpp"

namespace llamaref {

class Regex {
  public:
    explicit Regex(const std::string& pattern) : pattern_(pattern) {
        int err = 0;
        PCRE2_SIZE at = 0;
        pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                         PCRE2_UTF | PCRE2_UCP, &err, &at, nullptr);
        if (!code) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            fail("pre-tokenizer pattern does not compile at offset ", at, ": ", reinterpret_cast<const char*>(msg),
                 " (pattern: ", pattern, ")");
        }
        code_.reset(code, pcre2_code_free);
        pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // when JIT is unavailable, matching is interpreted
    }

    const std::string& pattern() const { return pattern_; }

    // Calls on_match(begin, end) for each successive non-overlapping match in `text`, which must
    // be valid UTF-8 (the caller checks; PCRE2's own check is skipped for speed). Text between
    // matches is skipped, as tiktoken's find_iter does.
    template <class F>
    void for_each_match(std::string_view text, F&& on_match) const {
        std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
            pcre2_match_data_create_from_pattern(code_.get(), nullptr), pcre2_match_data_free);
        const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
        std::size_t pos = 0;
        while (pos < text.size()) {
            const int rc = pcre2_match(code_.get(), subject, text.size(), pos, PCRE2_NO_UTF_CHECK, md.get(), nullptr);
            if (rc == PCRE2_ERROR_NOMATCH) return;
            if (rc < 0) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(rc, msg, sizeof msg);
                fail("pre-tokenizer: PCRE2 matching failed: ", reinterpret_cast<const char*>(msg));
            }
            const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
            std::size_t begin = ov[0], end = ov[1];
            if (end == begin) {  // an empty match: step over one character (tiktoken's patterns never match empty)
                end = begin + 1;
                while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
                pos = end;
                continue;
            }
            on_match(begin, end);
            pos = end;
        }
    }

  private:
    std::string pattern_;
    std::shared_ptr<pcre2_code> code_;
};

}  // namespace llamaref
