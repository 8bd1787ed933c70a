// llamaref/tokenizer/sentencepiece_model.hpp — SentencePiece's tokenizer.model, read without protobuf.
//
// The file is a serialized `sentencepiece.ModelProto` (google/sentencepiece
// src/sentencepiece_model.proto, proto2). Only the protobuf *wire format* is needed
// (protobuf.dev/programming-guides/encoding): a message is a sequence of fields, each a varint key
// (field_number << 3 | wire_type) followed by its value:
//   wire type 0  varint      (int32, bool, enum: 7 bits per byte, low bits first)
//   wire type 1  8 bytes     (fixed64, double)
//   wire type 2  length + bytes (string, bytes, nested message)
//   wire type 5  4 bytes     (fixed32, float)
// Fields we do not use are skipped by their wire type, so newer files still load.
//
// The fields read here (field number in brackets):
//   ModelProto      pieces[1] (repeated SentencePiece), trainer_spec[2], normalizer_spec[3]
//   SentencePiece   piece[1] string, score[2] float, type[3] enum (NORMAL=1 default, UNKNOWN=2,
//                   CONTROL=3, USER_DEFINED=4, UNUSED=5, BYTE=6)
//   TrainerSpec     model_type[3] (UNIGRAM=1 default, BPE=2, WORD=3, CHAR=4),
//                   treat_whitespace_as_suffix[24], byte_fallback[35], unk_id[40], bos_id[41],
//                   eos_id[42], pad_id[43], unk_surface[44]
//   NormalizerSpec  name[1], precompiled_charsmap[2], add_dummy_prefix[3] (default true),
//                   remove_extra_whitespaces[4] (default true), escape_whitespaces[5] (default true)
// Llama 1/2's file: BPE, byte_fallback, "identity" normalizer (no charsmap), add_dummy_prefix on,
// remove_extra_whitespaces OFF — so runs of spaces are kept.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"
#include "../core/mmap.hpp"

namespace llamaref {

// SentencePiece's piece types (ModelProto.SentencePiece.Type).
enum class PieceType : uint8_t { normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

// Everything the BPE encoder and decoder need: the vocabulary (one entry per id) and the
// normalizer / trainer options that change the ids. A GGUF loader fills the same struct from
// tokenizer.ggml.tokens / scores / token_type.
struct SentencePieceVocab {
    std::vector<std::string> pieces;  // [V] piece text, spaces written as U+2581 "▁"
    std::vector<float> scores;        // [V] merge priority: higher merges first
    std::vector<PieceType> types;     // [V]
    // NormalizerSpec
    bool add_dummy_prefix = true;
    bool remove_extra_whitespaces = false;
    bool escape_whitespaces = true;
    // TrainerSpec
    bool treat_whitespace_as_suffix = false;
    bool byte_fallback = true;
    int unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
    std::string unk_surface = " \xE2\x81\x87 ";  // " ⁇ ": what <unk> decodes to
};

namespace detail {

// The protobuf wire format over a byte range; every read is bounds-checked.
class ProtoReader {
  public:
    ProtoReader(const std::byte* data, std::size_t size, const std::string& file, std::string_view message)
        : in_(data, size, file), message_(message) {}

    bool done() const { return in_.remaining() == 0; }

    uint64_t varint() {
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            const auto b = in_.read<uint8_t>(message_);
            v |= uint64_t(b & 0x7F) << shift;
            if (b < 0x80) return v;
        }
        fail(in_.name(), ": corrupt protobuf: a varint in ", message_, " at offset ", in_.offset(),
             " is longer than 10 bytes");
    }

    // Reads the next key; returns false at the end of the message.
    bool next(int& field, int& wire_type) {
        if (done()) return false;
        const uint64_t key = varint();
        field = int(key >> 3);
        wire_type = int(key & 7);
        if (field == 0)
            fail(in_.name(), ": corrupt protobuf: field number 0 in ", message_, " at offset ", in_.offset());
        return true;
    }

    // The payload of a length-delimited field (string, bytes or nested message).
    std::string_view bytes(int wire_type) {
        expect(wire_type, 2);
        const uint64_t n = varint();
        if (n > in_.remaining())
            fail(in_.name(), ": truncated protobuf: a field of ", message_, " says ", n, " bytes at offset ",
                 in_.offset(), " but only ", in_.remaining(), " remain");
        return {reinterpret_cast<const char*>(in_.take(std::size_t(n), message_)), std::size_t(n)};
    }
    float fixed32_float(int wire_type) {
        expect(wire_type, 5);
        return in_.read<float>(message_);
    }
    uint64_t integer(int wire_type) {
        expect(wire_type, 0);
        return varint();
    }

    void skip(int wire_type) {
        switch (wire_type) {
            case 0: varint(); break;
            case 1: in_.take(8, message_); break;
            case 2: bytes(2); break;
            case 5: in_.take(4, message_); break;
            default:
                fail(in_.name(), ": corrupt protobuf: wire type ", wire_type, " in ", message_, " at offset ",
                     in_.offset(), " (expected 0, 1, 2 or 5)");
        }
    }

    const std::string& file() const { return in_.name(); }

  private:
    void expect(int got, int want) {
        if (got != want)
            fail(in_.name(), ": corrupt protobuf: a field of ", message_, " has wire type ", got, " where ", want,
                 " was expected (offset ", in_.offset(), ")");
    }
    ByteReader in_;
    std::string_view message_;
};

inline ProtoReader nested(ProtoReader& r, int wire_type, std::string_view message) {
    const std::string_view b = r.bytes(wire_type);
    return ProtoReader(reinterpret_cast<const std::byte*>(b.data()), b.size(), r.file(), message);
}

}  // namespace detail

// Parses a serialized ModelProto. Only BPE models are accepted (Llama's tokenizer); a
// normalizer with a precompiled character map (NFKC etc.) is refused rather than ignored.
inline SentencePieceVocab parse_sentencepiece_model(const std::byte* data, std::size_t size, const std::string& file) {
    SentencePieceVocab v;
    v.remove_extra_whitespaces = true;  // proto defaults, overwritten by what the file says
    int model_type = 1;
    std::string normalizer_name;
    bool has_charsmap = false;

    detail::ProtoReader model(data, size, file, "ModelProto");
    for (int f, w; model.next(f, w);) {
        if (f == 1) {
            detail::ProtoReader p = detail::nested(model, w, "ModelProto.pieces");
            std::string text;
            float score = 0;
            uint64_t type = 1;
            for (int pf, pw; p.next(pf, pw);) {
                if (pf == 1)
                    text = std::string(p.bytes(pw));
                else if (pf == 2)
                    score = p.fixed32_float(pw);
                else if (pf == 3)
                    type = p.integer(pw);
                else
                    p.skip(pw);
            }
            if (type < 1 || type > 6)
                fail(file, ": piece ", v.pieces.size(), " has type ", type,
                     " (expected 1..6: normal, unknown, "
                     "control, user-defined, unused, byte)");
            v.pieces.push_back(std::move(text));
            v.scores.push_back(score);
            v.types.push_back(PieceType(type));
        } else if (f == 2) {
            detail::ProtoReader t = detail::nested(model, w, "TrainerSpec");
            for (int tf, tw; t.next(tf, tw);) {
                switch (tf) {
                    case 3: model_type = int(t.integer(tw)); break;
                    case 24: v.treat_whitespace_as_suffix = t.integer(tw) != 0; break;
                    case 35: v.byte_fallback = t.integer(tw) != 0; break;
                    case 40: v.unk_id = int(int32_t(t.integer(tw))); break;
                    case 41: v.bos_id = int(int32_t(t.integer(tw))); break;
                    case 42: v.eos_id = int(int32_t(t.integer(tw))); break;
                    case 43: v.pad_id = int(int32_t(t.integer(tw))); break;
                    case 44: v.unk_surface = std::string(t.bytes(tw)); break;
                    default: t.skip(tw);
                }
            }
        } else if (f == 3) {
            detail::ProtoReader n = detail::nested(model, w, "NormalizerSpec");
            for (int nf, nw; n.next(nf, nw);) {
                switch (nf) {
                    case 1: normalizer_name = std::string(n.bytes(nw)); break;
                    case 2: has_charsmap = !n.bytes(nw).empty(); break;
                    case 3: v.add_dummy_prefix = n.integer(nw) != 0; break;
                    case 4: v.remove_extra_whitespaces = n.integer(nw) != 0; break;
                    case 5: v.escape_whitespaces = n.integer(nw) != 0; break;
                    default: n.skip(nw);
                }
            }
        } else {
            model.skip(w);
        }
    }
    if (v.pieces.empty()) fail(file, ": no pieces: not a SentencePiece tokenizer.model");
    if (model_type != 2)
        fail(file, ": SentencePiece model_type is ", model_type,
             "; llamaref implements BPE (2), the type of Llama's tokenizer");
    if (has_charsmap)
        fail(file, ": the normalizer '", normalizer_name.substr(0, 60),
             "' uses a precompiled character map, which llamaref does not "
             "implement (Llama's tokenizer uses 'identity')");
    return v;
}

inline SentencePieceVocab read_sentencepiece_model(const std::string& path) {
    MappedFile file(path);
    return parse_sentencepiece_model(file.data(), file.size(), path);
}

}  // namespace llamaref
