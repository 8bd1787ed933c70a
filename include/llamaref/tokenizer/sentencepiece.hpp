// llamaref/tokenizer/sentencepiece.hpp — the LLaMA 1 / Llama 2 tokenizer (SentencePiece BPE).
//
// Kudo & Richardson 2018, "SentencePiece"; LLaMA paper §2.1 "Tokenizer": BPE over Unicode
// characters with byte fallback. Behaviour follows google/sentencepiece exactly (normalizer.cc,
// bpe_model.cc, sentencepiece_processor.cc), and the tests check ids against that library.
//
// Encoding, encode(text):
//   1. normalize: the identity normalizer; a malformed UTF-8 byte becomes U+FFFD (one per byte);
//      with remove_extra_whitespaces, leading, trailing and repeated spaces go (Llama: off);
//      the dummy prefix: one "▁" (U+2581) before the text (Llama: on; nothing for empty text);
//      each ' ' (0x20 only — tabs and newlines stay) becomes "▁".
//   2. split into symbols: one per character, except that a user-defined piece is one symbol
//      that never merges;
//   3. merge: repeatedly join the adjacent pair whose concatenation is a normal, user-defined or
//      unused piece with the highest score, the leftmost pair on ties;
//   4. a symbol that ended as an *unused* piece is split back into the two halves it was made of;
//   5. ids: a symbol's piece id; a symbol not in the vocabulary is <unk> — with byte_fallback
//      (Llama: on) it becomes the <0xNN> pieces of its UTF-8 bytes instead; without it, a run
//      of unknown symbols is one <unk>.
// Decoding, decode(ids): control pieces (<s>, </s>) are invisible; <unk> is " ⁇ "; "▁" is a
// space, and the first visible piece of a text loses its leading "▁" (the dummy prefix);
// consecutive byte pieces are reassembled into UTF-8 and each byte of a malformed sequence
// becomes U+FFFD. decode(prev, id) gives one token's raw bytes, for streaming.
//
// Vocabularies: SentencePiece's tokenizer.model (sentencepiece_model.hpp), llama2.c's
// tokenizer.bin (below), or any SentencePieceVocab (e.g. from GGUF tokenizer.ggml.* metadata).
#pragma once

#include <algorithm>
#include <cstdio>
#include <memory>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "../core/error.hpp"
#include "../core/mmap.hpp"
#include "../core/utf8.hpp"
#include "bpe_step.hpp"
#include "read_guard.hpp"
#include "sentencepiece_model.hpp"

namespace llamaref {

class SentencePieceTokenizer {
  public:
    int bos_id = 1;
    int eos_id = 2;

    static constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581 "▁", SentencePiece's space

    explicit SentencePieceTokenizer(SentencePieceVocab vocab) {
        auto data = std::make_shared<Data>();
        Data& d = *data;
        d.v = std::move(vocab);
        const auto V = d.v.pieces.size();
        d.normal.max_load_factor(0.5f);  // short chains: most lookups are of pairs that are not pieces
        d.normal.reserve(V);
        if (d.v.scores.size() != V || d.v.types.size() != V)
            fail("SentencePiece vocabulary: ", V, " pieces but ", d.v.scores.size(), " scores and ", d.v.types.size(),
                 " types");
        for (int i = 0; i < int(V); ++i) {
            const std::string_view p = d.v.pieces[i];
            const PieceType t = d.v.types[i];
            if (p.empty()) fail("SentencePiece vocabulary: piece ", i, " is empty");
            const bool normal = t == PieceType::normal || t == PieceType::user_defined || t == PieceType::unused;
            (normal ? d.normal : d.reserved).emplace(p, i);  // the first id of a duplicate wins
            if (t == PieceType::user_defined) d.user_defined.push_back(p);
            if (t == PieceType::unused) d.has_unused = true;
        }
        for (int b = 0; b < 256; ++b) {
            char name[8];
            std::snprintf(name, sizeof name, "<0x%02X>", b);
            const int id = find(d.reserved, name);
            d.byte_ids[b] = id >= 0 && d.v.types[id] == PieceType::byte ? id : -1;
            if (d.v.byte_fallback && d.byte_ids[b] < 0)
                fail("SentencePiece vocabulary: byte_fallback is on but there is no byte piece ", name);
        }
        if (d.v.unk_id < 0 || d.v.unk_id >= int(V) || d.v.types[d.v.unk_id] != PieceType::unknown)
            fail("SentencePiece vocabulary: unk_id ", d.v.unk_id, " is not a piece of type unknown");
        for (const auto& [name, id] : {std::pair{"bos_id", d.v.bos_id}, {"eos_id", d.v.eos_id}, {"pad_id", d.v.pad_id}})
            if (id < -1 || id >= int(V))
                fail("SentencePiece vocabulary: ", name, " ", id, " is neither -1 (none) nor a piece id below ", V);
        bos_id = d.v.bos_id;
        eos_id = d.v.eos_id;
        d_ = std::move(data);
    }

    // llama2.c's convention: pieces with plain spaces where SentencePiece writes "▁", scores,
    // and no types — <unk> (id 0) is unknown, <s> / </s> (ids 1, 2) are control, <0xNN> are bytes.
    SentencePieceTokenizer(std::vector<std::string> pieces, std::vector<float> scores)
        : SentencePieceTokenizer(vocab_from_llama2c(std::move(pieces), std::move(scores))) {}

    // SentencePiece's tokenizer.model (protobuf).
    static SentencePieceTokenizer from_model_file(const std::string& path) {
        return read_guard(path, [&] { return SentencePieceTokenizer(read_sentencepiece_model(path)); });
    }

    // llama2.c tokenizer.bin; vocab_size must match the model's.
    //   int32 max_token_length, then per id: float32 score, int32 length, `length` bytes of text.
    static SentencePieceTokenizer from_llama2c(const std::string& path, int vocab_size) {
        return read_guard(path, [&] {
            MappedFile file(path);
            ByteReader in(file);
            const int32_t max_len = in.read<int32_t>("max_token_length");
            if (max_len <= 0)
                fail(path, ": max_token_length ", max_len, " is not positive (not a llama2.c tokenizer?)");
            if (vocab_size < 3) fail(path, ": ", vocab_size, " tokens is too few for <unk>, <s>, </s>");
            if (std::size_t(vocab_size) > in.remaining() / 8)  // each token takes at least 8 bytes (score, length)
                fail(path, ": the model has ", vocab_size, " tokens but the file's ", in.remaining(),
                     " bytes hold at most ", in.remaining() / 8);
            std::vector<std::string> pieces(vocab_size);
            std::vector<float> scores(vocab_size);
            for (int i = 0; i < vocab_size; ++i) {
                scores[i] = in.read<float>("token score");
                const int32_t len = in.read<int32_t>("token length");
                if (len < 0 || len > max_len)
                    fail(path, ": token ", i, " has length ", len, " (max_token_length is ", max_len, ")");
                pieces[i] = in.read_string(len, "token text");
            }
            if (in.remaining() != 0)
                fail(path, ": ", in.remaining(), " bytes after ", vocab_size,
                     " tokens: the tokenizer does not match a ", vocab_size, "-token model");
            return SentencePieceTokenizer(std::move(pieces), std::move(scores));
        });
    }

    int vocab_size() const { return int(d_->v.pieces.size()); }
    const std::string& piece(int id) const { return d_->v.pieces.at(check(id)); }  // SentencePiece text ("▁")
    PieceType type(int id) const { return d_->v.types.at(check(id)); }
    float score(int id) const { return d_->v.scores.at(check(id)); }
    const SentencePieceVocab& vocab() const { return d_->v; }
    // The id of a piece (any type), or -1.
    int piece_id(std::string_view p) const {
        const int r = find(d_->reserved, p);
        return r >= 0 ? r : find(d_->normal, p);
    }

    std::vector<int> encode(std::string_view text, bool bos, bool eos) const {
        std::vector<int> ids;
        if (bos) ids.push_back(bos_id);
        encode_into(normalize(text), ids);
        if (eos) ids.push_back(eos_id);
        return ids;
    }

    // Steps 1-3 recorded: every join of the merge loop, in order (bpe_step.hpp).
    std::vector<BpeStep> merge_steps(std::string_view text) const {
        std::vector<int> ids;
        std::vector<BpeStep> steps;
        encode_into(normalize(text), ids, &steps);
        return steps;
    }

    // Step 1: the normalized text that BPE runs on.
    std::string normalize(std::string_view text) const {
        const SentencePieceVocab& v = d_->v;
        std::string out;
        if (text.empty()) return out;
        const std::string_view space = v.escape_whitespaces ? kSpace : " ";
        std::size_t i = 0;
        if (v.remove_extra_whitespaces)
            while (i < text.size() && text[i] == ' ') ++i;
        if (i == text.size()) return out;
        out.reserve(text.size() + text.size() / 2 + 3);
        if (!v.treat_whitespace_as_suffix && v.add_dummy_prefix) out += space;
        bool prev_space = v.remove_extra_whitespaces;
        while (i < text.size()) {
            const std::size_t n = utf8::sp_char_length(text, i);
            if (n == 0) {  // malformed: U+FFFD, one byte consumed
                out += utf8::kReplacement;
                prev_space = false;
                ++i;
                continue;
            }
            if (n == 1 && text[i] == ' ') {
                if (!prev_space) out += space;
                prev_space = v.remove_extra_whitespaces;
            } else {
                out.append(text.substr(i, n));
                prev_space = false;
            }
            i += n;
        }
        if (v.remove_extra_whitespaces)
            while (out.size() >= space.size() && std::string_view(out).ends_with(space))
                out.resize(out.size() - space.size());
        if (v.treat_whitespace_as_suffix && v.add_dummy_prefix) out += space;
        return out;
    }

    // Bytes that token `id` adds to the text when it follows token `prev` (-1: none), for
    // streaming: a byte piece gives its one raw byte, so a character split over byte pieces is
    // whole once all of them are written. The dummy-prefix space is dropped after BOS / at the start.
    std::string decode(int prev, int id) const {
        check(id);
        const SentencePieceVocab& v = d_->v;
        switch (v.types[id]) {
            case PieceType::control: return "";
            case PieceType::unknown: return v.unk_surface;
            case PieceType::byte: return std::string(1, char(byte_value(id)));
            default: break;
        }
        std::string_view p = v.pieces[id];
        if ((prev < 0 || prev == bos_id) && strips_leading_space() && p.starts_with(kSpace))
            p.remove_prefix(kSpace.size());
        return unescape(p);
    }

    // The text of `ids` as SentencePiece's DecodeIds gives it (prev: the token before them, -1 if none).
    std::string decode(const std::vector<int>& ids, int prev = -1) const {
        const SentencePieceVocab& v = d_->v;
        std::string text, bytes;
        bool at_start = prev < 0 || prev == bos_id;  // may the next visible piece drop its leading "▁"?
        bool start_space_seen = false;
        auto flush_bytes = [&] {
            for (std::size_t i = 0; i < bytes.size();) {
                const std::size_t n = utf8::sp_char_length(bytes, i);
                if (n == 0) {
                    text += utf8::kReplacement;
                    ++i;
                } else {
                    text.append(bytes, i, n);
                    i += n;
                }
            }
            bytes.clear();
        };
        for (int id : ids) {
            check(id);
            if (v.types[id] == PieceType::byte) {
                bytes += char(byte_value(id));
                continue;
            }
            flush_bytes();
            if (start_space_seen || !text.empty()) at_start = false;
            start_space_seen = false;
            if (v.types[id] == PieceType::control) continue;
            if (v.types[id] == PieceType::unknown) {
                text += v.unk_surface;
                continue;
            }
            std::string_view p = v.pieces[id];
            if (at_start && strips_leading_space() && p.starts_with(kSpace)) {
                p.remove_prefix(kSpace.size());
                start_space_seen = !v.remove_extra_whitespaces;
            }
            text += unescape(p);
        }
        flush_bytes();
        return text;
    }

  private:
    struct Data {
        SentencePieceVocab v;
        std::unordered_map<std::string_view, int> normal;    // normal, user-defined, unused: BPE may produce these
        std::unordered_map<std::string_view, int> reserved;  // unknown, control, byte
        std::vector<std::string_view> user_defined;
        bool has_unused = false;
        int byte_ids[256];
    };

    // A symbol of the BPE loop: a range of the normalized text, in a doubly linked list.
    struct Symbol {
        uint32_t begin, size;
        int prev, next;
        bool frozen;  // user-defined pieces never merge
    };
    // A candidate merge of symbols `left` and its right neighbour; stale once either changed.
    struct Candidate {
        float score;
        int left, right;
        uint32_t size;
        bool operator<(const Candidate& o) const {  // priority_queue top: highest score, then leftmost
            return score != o.score ? score < o.score : left > o.left;
        }
    };

    static int find(const std::unordered_map<std::string_view, int>& m, std::string_view key) {
        auto it = m.find(key);
        return it == m.end() ? -1 : it->second;
    }

    int check(int id) const {
        if (id < 0 || id >= vocab_size()) fail("tokenizer: id ", id, " is out of range [0, ", vocab_size(), ")");
        return id;
    }

    bool strips_leading_space() const { return d_->v.add_dummy_prefix || d_->v.remove_extra_whitespaces; }

    int byte_value(int id) const {  // "<0xAB>" -> 0xAB
        unsigned b = 0;
        std::sscanf(d_->v.pieces[id].c_str(), "<0x%02X>", &b);
        return int(b & 0xFF);
    }

    static std::string unescape(std::string_view p) {  // "▁" -> " "
        std::string out;
        out.reserve(p.size());
        for (std::size_t i = 0; i < p.size();) {
            if (p.substr(i, 3) == kSpace) {
                out += ' ';
                i += 3;
            } else {
                out += p[i++];
            }
        }
        return out;
    }

    static SentencePieceVocab vocab_from_llama2c(std::vector<std::string> pieces, std::vector<float> scores) {
        SentencePieceVocab v;
        v.types.assign(pieces.size(), PieceType::normal);
        for (std::size_t i = 0; i < pieces.size(); ++i) {
            std::string& p = pieces[i];
            unsigned b;
            char end;
            if (p.size() == 6 && std::sscanf(p.c_str(), "<0x%02X%c", &b, &end) == 2 && end == '>') {
                v.types[i] = PieceType::byte;
            } else {
                std::string s;
                for (char c : p) c == ' ' ? s += kSpace : s += c;
                p = std::move(s);
            }
        }
        if (pieces.size() > 0) v.types[0] = PieceType::unknown;
        if (pieces.size() > 2) v.types[1] = v.types[2] = PieceType::control;
        bool all_bytes = true;
        for (int b = 0; b < 256 && all_bytes; ++b) {
            char name[8];
            std::snprintf(name, sizeof name, "<0x%02X>", b);
            all_bytes = std::find(pieces.begin(), pieces.end(), std::string(name)) != pieces.end();
        }
        v.byte_fallback = all_bytes;
        v.pieces = std::move(pieces);
        v.scores = std::move(scores);
        return v;
    }

    // Steps 2-5 on normalized text; `steps`, when given, receives every join of step 3.
    void encode_into(const std::string& norm, std::vector<int>& ids, std::vector<BpeStep>* steps = nullptr) const {
        if (norm.empty()) return;
        const Data& d = *d_;
        const std::string_view text = norm;

        // 2. symbols: characters, or whole user-defined pieces
        std::vector<Symbol> sym;
        sym.reserve(text.size());
        for (std::size_t i = 0; i < text.size();) {
            std::size_t n = std::min(utf8::lead_length(static_cast<unsigned char>(text[i])), text.size() - i);
            bool frozen = false;
            std::size_t longest = 0;  // the longest user-defined piece that starts here
            for (std::string_view u : d.user_defined)
                if (u.size() > longest && text.substr(i).starts_with(u)) longest = u.size();
            if (longest > 0) n = longest, frozen = true;
            sym.push_back({uint32_t(i), uint32_t(n), int(sym.size()) - 1, -1, frozen});
            i += n;
        }
        for (std::size_t i = 0; i + 1 < sym.size(); ++i) sym[i].next = int(i) + 1;

        auto view = [&](int s) { return text.substr(sym[s].begin, sym[s].size); };
        std::vector<Candidate> storage;
        storage.reserve(sym.size() * 2);
        std::priority_queue<Candidate> agenda(std::less<Candidate>(), std::move(storage));
        std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> halves;  // unused pieces
        auto consider = [&](int left, int right) {
            if (left < 0 || right < 0 || sym[left].frozen || sym[right].frozen) return;
            const std::string_view joined = text.substr(sym[left].begin, sym[left].size + sym[right].size);
            const int id = find(d.normal, joined);
            if (id < 0) return;
            agenda.push({d.v.scores[id], left, right, uint32_t(joined.size())});
            if (d.v.types[id] == PieceType::unused) halves[joined] = {view(left), view(right)};
        };
        for (std::size_t i = 1; i < sym.size(); ++i) consider(int(i) - 1, int(i));

        // 3. merge the best pair until none is left
        while (!agenda.empty()) {
            const Candidate c = agenda.top();
            agenda.pop();
            Symbol &l = sym[c.left], &r = sym[c.right];
            if (l.size == 0 || r.size == 0 || l.size + r.size != c.size) continue;  // stale
            const uint32_t left_size = l.size;
            l.size += r.size;
            l.next = r.next;
            if (r.next >= 0) sym[r.next].prev = c.left;
            r.size = 0;
            consider(l.prev, c.left);
            consider(c.left, l.next);
            if (steps) {
                BpeStep step{norm,
                             std::string(text.substr(l.begin, left_size)),
                             std::string(text.substr(l.begin + left_size, l.size - left_size)),
                             c.score,
                             {}};
                for (int s = 0; s >= 0; s = sym[s].next) step.parts.emplace_back(view(s));
                steps->push_back(std::move(step));
            }
        }

        // 4-5. ids (unused pieces split back, unknown symbols to bytes or one <unk> per run)
        bool prev_unknown = false;
        auto emit = [&](auto&& self, std::string_view w) -> void {
            int id = find(d.reserved, w);
            if (id < 0) id = find(d.normal, w);
            if (id >= 0 && d.v.types[id] == PieceType::unused) {
                if (auto it = halves.find(w); it != halves.end()) {
                    self(self, it->second.first);
                    self(self, it->second.second);
                    return;
                }
            }
            if (id < 0) id = d.v.unk_id;
            const bool unknown = d.v.types[id] == PieceType::unknown;
            if (unknown && d.v.byte_fallback) {
                for (unsigned char b : w) ids.push_back(d.byte_ids[b]);
            } else if (!(unknown && prev_unknown)) {
                ids.push_back(id);
            }
            prev_unknown = unknown;
        };
        for (int s = 0; s >= 0; s = sym[s].next) emit(emit, view(s));
    }

    std::shared_ptr<const Data> d_;
};

}  // namespace llamaref
