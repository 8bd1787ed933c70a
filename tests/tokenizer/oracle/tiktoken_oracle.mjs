// tests/tokenizer/oracle/tiktoken_oracle.mjs — an independent Llama 3 tokenizer for the tests:
// the npm package `tiktoken` (OpenAI's Rust tiktoken core compiled to WebAssembly), loaded with
// Meta's ranks (tokenizer.model), Meta's pattern and Meta's 256 special tokens, with Meta's
// long-input chunking (tokenizer.py) written again here in JavaScript.
//
//   node tiktoken_oracle.mjs TOKENIZER_MODEL IN.json OUT.json
// IN.json:  {"plain": [text...], "parse": [text...], "bytes_hex": [hex...]}
//   plain      Meta's encode: special-token text is ordinary text (encode_ordinary)
//   parse      special-token text becomes the special ids (encode with allowed_special "all")
//   bytes_hex  raw bytes, decoded as UTF-8 with U+FFFD for malformed parts (TextDecoder), then plain
// OUT.json: {"plain": [[ids]...], "parse": [[ids]...], "bytes_hex": [[ids]...]}
import fs from "node:fs";
import { Tiktoken } from "tiktoken";

const [ranksPath, inPath, outPath] = process.argv.slice(2);
const ranks = fs.readFileSync(ranksPath, "utf8");
const numBase = ranks.split("\n").filter((l) => l.length > 0).length;

// meta-llama/llama-models (Llama 3.1) tokenizer.py: 256 special tokens after the ranks.
const named = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
  "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|step_id|>", "<|start_header_id|>",
  "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"];
const specials = {};
for (let i = 0; i < 256; i++)
  specials[i < named.length ? named[i] : `<|reserved_special_token_${2 + i - named.length}|>`] = numBase + i;

const pattern = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const enc = new Tiktoken(ranks, specials, pattern);

// Python's str.isspace() for one code point.
function isspace(c) {
  return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c === 0x85 || c === 0xa0 || c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000;
}

// tokenizer.py encode(): 400k-character chunks, each cut where a run of whitespace or of
// non-whitespace passes 25k characters. Characters are code points, as in a Python str.
function metaChunks(s) {
  const chars = Array.from(s);
  const out = [];
  for (let i = 0; i < chars.length; i += 400000) {
    const c = chars.slice(i, i + 400000);
    let runLen = 0, runSpace = isspace(c[0].codePointAt(0)), start = 0;
    for (let k = 0; k < c.length; k++) {
      const sp = isspace(c[k].codePointAt(0));
      if (runSpace !== sp) { runLen = 1; runSpace = sp; }
      else if (++runLen > 25000) { out.push(c.slice(start, k).join("")); start = k; runLen = 1; }
    }
    out.push(c.slice(start).join(""));
  }
  return out;
}

function encode(text, parse) {
  const ids = [];
  for (const chunk of metaChunks(text))
    ids.push(...(parse ? enc.encode(chunk, "all") : enc.encode_ordinary(chunk)));
  return ids;
}

const input = JSON.parse(fs.readFileSync(inPath, "utf8"));
const decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
const output = {
  plain: (input.plain || []).map((t) => encode(t, false)),
  parse: (input.parse || []).map((t) => encode(t, true)),
  bytes_hex: (input.bytes_hex || []).map((h) => encode(decoder.decode(Buffer.from(h, "hex")), false)),
};
fs.writeFileSync(outPath, JSON.stringify(output));
enc.free();
