#!/usr/bin/python3
"""Writes a Hugging Face tokenizer.json from a SentencePiece BPE tokenizer.model (Llama 2).

Used by tests/test_tokenizer_sentencepiece_json.cpp, which runs it into a temporary folder:
no genuine Llama 2 tokenizer.json is available to the tests, so one is made the way the
Hugging Face `transformers` LlamaConverter (convert_slow_tokenizer.py, "legacy" layout) lays
it out. Standard library only: the protobuf wire format of the model is read here.

    make_sp_tokenizer_json.py tokenizer.model tokenizer.json

The file written:
  model         type "BPE", byte_fallback true, fuse_unk true, unk_token "<unk>",
                vocab = {piece: id} for every piece of the model,
                merges = "left right" for every split of every piece into two pieces that are
                both in the vocabulary; the pieces are taken in id order with the converter's
                scores (ids 0, 1, 2 -- <unk>, <s>, </s> -- get 0.0, the rest the model's score),
                the splits of one piece sorted by (id of left, id of right), and the whole list
                then sorted by score, highest first (a stable sort: pieces of equal score keep
                id order).
  added_tokens  <unk>, <s>, </s>, special.
  normalizer    Sequence[Prepend("▁"), Replace(" " -> "▁")]; pre_tokenizer null.
  decoder       Sequence[Replace("▁" -> " "), ByteFallback, Fuse, Strip(" ", 1 left)].
"""

import json
import struct
import sys


def varint(data, pos):
    value, shift = 0, 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def fields(data):
    """Yields (field number, wire type, value) of one protobuf message."""
    pos = 0
    while pos < len(data):
        key, pos = varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(data, pos)
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 2:
            n, pos = varint(data, pos)
            value, pos = data[pos:pos + n], pos + n
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"wire type {wire} at offset {pos}: not a SentencePiece model")
        yield field, wire, value


def read_model(path):
    """[(piece, score, type)] in id order, and the unk / bos / eos ids of the TrainerSpec."""
    with open(path, "rb") as f:
        data = f.read()
    pieces = []
    special = {40: 0, 41: 1, 42: 2}  # TrainerSpec unk_id, bos_id, eos_id
    for field, _, value in fields(data):
        if field == 1:  # ModelProto.pieces
            piece, score, kind = "", 0.0, 1
            for f, _, v in fields(value):
                if f == 1:
                    piece = v.decode("utf-8")
                elif f == 2:
                    score = struct.unpack("<f", v)[0]
                elif f == 3:
                    kind = v
            pieces.append((piece, score, kind))
        elif field == 2:  # ModelProto.trainer_spec
            for f, _, v in fields(value):
                if f in special:
                    special[f] = v
    return pieces, special[40], special[41], special[42]


def merges_of(vocab, scores):
    """The converter's merge list: per piece its two-piece splits, then all by score, highest first."""
    merges = []
    for piece, score in scores.items():
        local = []
        for i in range(1, len(piece)):
            left, right = piece[:i], piece[i:]
            if left in vocab and right in vocab:
                local.append((left, right, score))
        local.sort(key=lambda m: (vocab[m[0]], vocab[m[1]]))
        merges.extend(local)
    merges.sort(key=lambda m: m[2], reverse=True)
    return [f"{left} {right}" for left, right, _ in merges]


def tokenizer_json(model_path):
    pieces, unk_id, bos_id, eos_id = read_model(model_path)
    vocab = {piece: i for i, (piece, _, _) in enumerate(pieces)}
    scores = {}
    for i, (piece, score, _) in enumerate(pieces):
        scores[piece] = 0.0 if i < 3 else score  # LlamaConverter.vocab: the first three at 0.0

    def added(i):
        return {"id": i, "content": pieces[i][0], "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": False, "special": True}

    space = "\u2581"
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [added(i) for i in sorted({unk_id, bos_id, eos_id})],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": space},
            {"type": "Replace", "pattern": {"String": " "}, "content": space}]},
        "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": pieces[bos_id][0], "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": pieces[bos_id][0], "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": pieces[bos_id][0], "type_id": 1}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {pieces[bos_id][0]: {"id": pieces[bos_id][0], "ids": [bos_id],
                                                   "tokens": [pieces[bos_id][0]]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": space}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": pieces[unk_id][0],
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": True,
            "byte_fallback": True,
            "vocab": vocab,
            "merges": merges_of(vocab, scores)}}


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: make_sp_tokenizer_json.py tokenizer.model tokenizer.json")
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(sys.argv[1]), f, ensure_ascii=False, indent=2)


if __name__ == "__main__":
    main()
