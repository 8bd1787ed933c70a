// llamaref/tokenizer/tiktoken.hpp — the Llama 3 / 3.1 / 3.2 / 3.3 tokenizer (byte-level BPE).
//
// Follows OpenAI's tiktoken (src/lib.rs: CoreBPE, byte_pair_merge) as Meta's tokenizer.py uses
// it (meta-llama/llama3 llama/tokenizer.py, llama-models), and the Hugging Face tokenizers BPE
// model for tokenizer.json files. Encoding:
//   1. Meta's long-input guard: the text is cut into 400,000-character chunks, and each chunk
//      wherever a run of only-whitespace or only-non-whitespace characters (Python str.isspace)
//      reaches 25,000 characters — so no regex match or BPE word is ever huge;
//   2. special tokens, if the caller allows them (SpecialText::parse, the HF behaviour): the
//      text is split at each occurrence of a special token's text, which becomes its id. Meta's
//      encoder (SpecialText::plain) treats such text as ordinary characters;
//   3. pre-tokenize with the pattern (regex.hpp, PCRE2, verbatim):
//      (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   4. each match (a "word", as UTF-8 bytes): if the whole word is a token, that token;
//      otherwise start from its single bytes and repeatedly merge the adjacent pair of lowest
//      rank (leftmost on ties) — the rank of a pair being the rank of its concatenated bytes
//      (tiktoken), or its position in the merges list (tokenizer.json).
// Token ids: rank r is id r (Llama 3: 0..127999), then the 256 special tokens (128000..128255).
// Input that is not valid UTF-8 is first repaired as Python's bytes.decode(errors="replace")
// would (core/utf8.hpp), since Meta's encoder only accepts a Python str.
#pragma once

#include <algorithm>
#include <climits>
#include <memory>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/utf8.hpp"
#include "bpe_step.hpp"
#include "read_guard.hpp"
#include "regex.hpp"

namespace llamaref {

// What to do with special-token text (e.g. "<|eot_id|>") inside the text to encode.
enum class SpecialText {
    plain,  // Meta's tokenizer.py (allowed_special=set()): ordinary characters — user text cannot forge a special token
    parse,  // Hugging Face tokenizers: the special token's id
};

// Meta's pre-tokenizer pattern for Llama 3 (tokenizer.py pat_str).
inline const std::string kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

class TiktokenTokenizer {
  public:
    int bos_id = -1;            // <|begin_of_text|>
    int eos_id = -1;            // <|end_of_text|>
    bool meta_chunking = true;  // step 1 (Meta); Hugging Face tokenizers do not chunk

    // tokens[r]: the bytes of the token of rank r (= its id). specials: (text, id) pairs.
    // merges, when given (tokenizer.json): pairs of ids in priority order; otherwise ranks decide.
    TiktokenTokenizer(std::vector<std::string> tokens, std::vector<std::pair<std::string, int>> specials,
                      const std::string& pattern, std::vector<std::pair<int, int>> merges = {})
        : regex_(pattern) {
        auto d = std::make_shared<Data>();
        d->tokens = std::move(tokens);
        // Ids are 0..n_ids-1 without gaps (checked below), so a special id is below n_ids: an id
        // from a file never sizes id_text beyond the number of entries.
        const std::size_t n_ids = d->tokens.size() + specials.size();
        if (n_ids > std::size_t(INT_MAX)) fail("tiktoken: ", n_ids, " tokens do not fit int ids");
        d->ranks.max_load_factor(0.5f);  // short chains: most pair lookups miss
        d->ranks.reserve(d->tokens.size());
        for (int r = 0; r < int(d->tokens.size()); ++r) {
            if (d->tokens[r].empty()) fail("tiktoken vocabulary: token ", r, " is empty");
            if (!d->ranks.emplace(d->tokens[r], r).second)
                fail("tiktoken vocabulary: tokens ", d->ranks.at(d->tokens[r]), " and ", r, " have the same bytes");
        }
        for (int b = 0; b < 256; ++b) {
            const char c = char(b);
            auto found = d->ranks.find(std::string_view(&c, 1));
            if (found == d->ranks.end()) fail("tiktoken vocabulary: no token for the single byte ", b);
            d->byte_rank[b] = found->second;
        }
        d->id_text.resize(d->tokens.size());
        for (auto& [text, id] : specials) {
            if (id < int(d->tokens.size()))
                fail("tiktoken: special token ", excerpt(text), " has id ", id, ", inside the ", d->tokens.size(),
                     " ranks");
            if (std::size_t(id) >= n_ids)
                fail("tiktoken: special token ", excerpt(text), " has id ", id, ", but ", d->tokens.size(),
                     " ranks and ", specials.size(), " special tokens have the ids 0..", n_ids - 1);
            if (text.empty()) fail("tiktoken: special token ", id, " has no text");
            if (d->id_text.size() <= std::size_t(id)) d->id_text.resize(std::size_t(id) + 1);
            d->id_text[id] = text;
            d->special.emplace(text, id);
            d->special_first[static_cast<unsigned char>(text[0])] = true;
        }
        for (std::size_t i = 0; i < d->id_text.size(); ++i)
            if (i >= d->tokens.size() && d->id_text[i].empty())
                fail("tiktoken: id ", i, " is neither a rank nor a special token");
        for (int i = 0; i < int(merges.size()); ++i) {
            const auto [a, b] = merges[i];
            if (a < 0 || b < 0 || a >= int(d->tokens.size()) || b >= int(d->tokens.size()))
                fail("tiktoken: merge ", i, " refers to an id outside the vocabulary");
            auto it = d->ranks.find(d->tokens[a] + d->tokens[b]);
            if (it == d->ranks.end()) fail("tiktoken: merge ", i, " makes a token that is not in the vocabulary");
            d->merges.emplace(pair_key(a, b), std::make_pair(i, it->second));  // the first listing wins
        }
        d->use_merges = !merges.empty();
        d_ = std::move(d);
        bos_id = special_id("<|begin_of_text|>");
        eos_id = special_id("<|end_of_text|>");
    }

    int vocab_size() const { return int(d_->id_text.size()); }
    int num_ranks() const { return int(d_->tokens.size()); }
    const std::string& pattern() const { return regex_.pattern(); }
    int special_id(std::string_view text) const {
        auto it = d_->special.find(std::string(text));
        return it == d_->special.end() ? -1 : it->second;
    }
    bool is_special(int id) const { return id >= num_ranks() && id < vocab_size(); }

    // The bytes of one token (a special token's text for special ids): decode(prev, id) for streaming.
    const std::string& token_bytes(int id) const {
        if (id < 0 || id >= vocab_size()) fail("tokenizer: id ", id, " is out of range [0, ", vocab_size(), ")");
        return id < num_ranks() ? d_->tokens[id] : d_->id_text[id];
    }
    std::string decode(int /*prev*/, int id) const { return token_bytes(id); }
    std::string decode_bytes(const std::vector<int>& ids) const {
        std::string out;
        for (int id : ids) out += token_bytes(id);
        return out;
    }
    // Meta's decode: the bytes as UTF-8, malformed parts replaced by U+FFFD (Python errors="replace").
    std::string decode(const std::vector<int>& ids) const { return utf8::replace_invalid(decode_bytes(ids)); }

    std::vector<int> encode(std::string_view input, bool bos, bool eos,
                            SpecialText special = SpecialText::plain) const {
        std::vector<int> ids;
        if (bos) ids.push_back(bos_id);
        std::string repaired;
        if (!utf8::is_valid(input)) input = repaired = utf8::replace_invalid(input);
        auto chunk = [&](std::string_view c) { encode_chunk(c, special, ids); };
        if (meta_chunking)
            split_meta(input, chunk);
        else
            chunk(input);
        if (eos) ids.push_back(eos_id);
        return ids;
    }

    // Steps 3-4 on text without special tokens (tiktoken's encode_ordinary); `steps`, when
    // given, receives every join of step 4, word after word (bpe_step.hpp).
    void encode_ordinary(std::string_view text, std::vector<int>& ids, std::vector<BpeStep>* steps = nullptr) const {
        regex_.for_each_match(text,
                              [&](std::size_t b, std::size_t e) { encode_word(text.substr(b, e - b), ids, steps); });
    }

    // Steps 3-4 recorded (special-token text plain, no chunking): a word that is a token as it
    // stands gives one step with an empty `right`; every other word one step per join.
    std::vector<BpeStep> merge_steps(std::string_view text) const {
        std::vector<int> ids;
        std::vector<BpeStep> steps;
        std::string repaired;
        if (!utf8::is_valid(text)) text = repaired = utf8::replace_invalid(text);
        encode_ordinary(text, ids, &steps);
        return steps;
    }

  private:
    struct Data {
        std::vector<std::string> tokens;                           // [ranks] bytes of each rank
        std::unordered_map<std::string_view, int> ranks;           // bytes -> rank (views into tokens)
        std::vector<std::string> id_text;                          // [vocab] special token text ("" for ranks)
        std::unordered_map<std::string, int> special;              // special text -> id
        std::unordered_map<uint64_t, std::pair<int, int>> merges;  // (a, b) -> (priority, merged id)
        bool use_merges = false;
        int byte_rank[256];
        bool special_first[256] = {};  // can a special token start with this byte?
    };

    static uint64_t pair_key(int a, int b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

    // Step 1 (tokenizer.py encode + _split_whitespaces_or_nonwhitespaces), counting code points.
    template <class F>
    static void split_meta(std::string_view s, F&& emit) {
        constexpr std::size_t kMaxChars = 400'000, kMaxRun = 25'000;
        std::size_t i = 0;
        while (i < s.size()) {
            std::size_t end = i;  // the next 400,000 characters
            for (std::size_t n = 0; n < kMaxChars && end < s.size(); ++n)
                end += utf8::lead_length(static_cast<unsigned char>(s[end]));
            const std::string_view c = s.substr(i, end - i);
            std::size_t start = 0, run = 0, len;
            bool run_space = false;
            for (std::size_t k = 0; k < c.size(); k += len) {
                const bool space = utf8::is_python_space(utf8::decode(c, k, len));
                if (k == 0) run_space = space;
                if (space != run_space) {
                    run = 1;
                    run_space = space;
                } else if (++run > kMaxRun) {
                    emit(c.substr(start, k - start));
                    start = k;
                    run = 1;
                }
            }
            emit(c.substr(start));
            i = end;
        }
    }

    void encode_chunk(std::string_view text, SpecialText special, std::vector<int>& ids) const {
        if (special == SpecialText::plain || d_->special.empty()) return encode_ordinary(text, ids);
        std::size_t done = 0;
        for (std::size_t i = 0; i < text.size(); ++i) {  // leftmost special text, the longest at one position
            if (!d_->special_first[static_cast<unsigned char>(text[i])]) continue;
            int best = -1;
            std::size_t best_len = 0;
            for (const auto& [t, id] : d_->special)
                if (t.size() > best_len && text.substr(i).starts_with(t)) best = id, best_len = t.size();
            if (best < 0) continue;
            encode_ordinary(text.substr(done, i - done), ids);
            ids.push_back(best);
            done = i + best_len;
            i = done - 1;
        }
        encode_ordinary(text.substr(done), ids);
    }

    // Step 4 for one word.
    void encode_word(std::string_view word, std::vector<int>& ids, std::vector<BpeStep>* steps) const {
        const Data& d = *d_;
        if (auto it = d.ranks.find(word); it != d.ranks.end()) {
            ids.push_back(it->second);
            if (steps)
                steps->push_back({std::string(word), std::string(word), "", double(it->second), {std::string(word)}});
            return;
        }
        // Parts of the word in a linked list; a min-heap of candidate merges, stale entries skipped.
        struct Part {
            uint32_t begin, size;
            int id, prev, next;
        };
        struct Merge {
            int priority, left;
            uint32_t size;
            bool operator<(const Merge& o) const {  // top: lowest priority, then leftmost
                return priority != o.priority ? priority > o.priority : left > o.left;
            }
        };
        std::vector<Part> parts(word.size());
        for (int i = 0; i < int(word.size()); ++i)
            parts[i] = {uint32_t(i), 1, d.byte_rank[static_cast<unsigned char>(word[i])], i - 1,
                        i + 1 < int(word.size()) ? i + 1 : -1};
        std::priority_queue<Merge> heap;
        auto consider = [&](int l) {
            if (l < 0 || parts[l].next < 0) return;
            const Part &a = parts[l], &b = parts[a.next];
            if (d.use_merges) {
                auto it = d.merges.find(pair_key(a.id, b.id));
                if (it != d.merges.end()) heap.push({it->second.first, l, a.size + b.size});
            } else {
                auto it = d.ranks.find(word.substr(a.begin, a.size + b.size));
                if (it != d.ranks.end()) heap.push({it->second, l, a.size + b.size});
            }
        };
        for (int i = 0; i + 1 < int(word.size()); ++i) consider(i);
        while (!heap.empty()) {
            const Merge c = heap.top();
            heap.pop();
            Part& a = parts[c.left];
            if (a.size == 0 || a.next < 0 || a.size + parts[a.next].size != c.size) continue;  // stale
            Part& b = parts[a.next];
            if (steps)
                steps->push_back({std::string(word),
                                  std::string(word.substr(a.begin, a.size)),
                                  std::string(word.substr(b.begin, b.size)),
                                  double(c.priority),
                                  {}});
            a.id = d.use_merges ? d.merges.at(pair_key(a.id, b.id)).second : c.priority;
            a.size += b.size;
            b.size = 0;
            a.next = b.next;
            if (a.next >= 0) parts[a.next].prev = c.left;
            consider(a.prev);
            consider(c.left);
            if (steps)
                for (int i = 0; i >= 0; i = parts[i].next)
                    steps->back().parts.emplace_back(word.substr(parts[i].begin, parts[i].size));
        }
        for (int i = 0; i >= 0; i = parts[i].next) ids.push_back(parts[i].id);
    }

    Regex regex_;
    std::shared_ptr<const Data> d_;
};

}  // namespace llamaref
