#!/usr/bin/env python3
"""Write a GGUF file holding only the Llama 3 vocabulary, as llama.cpp's converter stores it
(tokenizer.ggml.model "gpt2", pre "llama-bpe", byte-level tokens, merges, token types), from the
Hugging Face tokenizer.json. For tests: no Llama 3 GGUF is available to them.

GGUF v3 layout (ggml docs/gguf.md): magic "GGUF", uint32 version, uint64 tensor count, uint64
metadata count, then key/value pairs (string key, uint32 type, value); strings are uint64 length
+ bytes; arrays are uint32 element type + uint64 count + elements.

usage: make_llama3_gguf_vocab.py tokenizer.json OUT.gguf
"""
import json, struct, sys

STRING, ARRAY, UINT32, INT32 = 8, 9, 4, 5


def s(x):
    b = x.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def kv(key, type_, payload):
    return s(key) + struct.pack("<I", type_) + payload


def main(src, out):
    j = json.load(open(src, encoding="utf-8"))
    vocab = j["model"]["vocab"]
    added = {t["id"]: t["content"] for t in j["added_tokens"]}
    n = max(list(vocab.values()) + list(added.keys())) + 1
    tokens, types = [None] * n, [1] * n
    for text, i in vocab.items():
        tokens[i] = text
    for i, text in added.items():
        tokens[i], types[i] = text, 3          # control
    assert all(t is not None for t in tokens)
    merges = [m if isinstance(m, str) else " ".join(m) for m in j["model"]["merges"]]
    meta = [
        kv("general.architecture", STRING, s("llama")),
        kv("tokenizer.ggml.model", STRING, s("gpt2")),
        kv("tokenizer.ggml.pre", STRING, s("llama-bpe")),
        kv("tokenizer.ggml.tokens", ARRAY, struct.pack("<IQ", STRING, n) + b"".join(s(t) for t in tokens)),
        kv("tokenizer.ggml.token_type", ARRAY, struct.pack("<IQ", INT32, n) + struct.pack(f"<{n}i", *types)),
        kv("tokenizer.ggml.merges", ARRAY, struct.pack("<IQ", STRING, len(merges)) + b"".join(s(m) for m in merges)),
        kv("tokenizer.ggml.bos_token_id", UINT32, struct.pack("<I", 128000)),
        kv("tokenizer.ggml.eos_token_id", UINT32, struct.pack("<I", 128001)),
    ]
    with open(out, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, 0, len(meta)) + b"".join(meta))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
