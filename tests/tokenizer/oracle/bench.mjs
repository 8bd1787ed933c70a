// Encode throughput of the npm tiktoken package (WebAssembly) with Llama 3's ranks and pattern,
// on the corpus, as one Markdown table row (used by examples/bench_tokenizer.cpp).
//   node bench.mjs TOKENIZER_MODEL CORPUS_JSONL
import fs from "node:fs";
import { Tiktoken } from "tiktoken";

const [ranksPath, corpusPath] = process.argv.slice(2);
const pattern = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const enc = new Tiktoken(fs.readFileSync(ranksPath, "utf8"), {}, pattern);
const corpus = fs.readFileSync(corpusPath, "utf8").split("\n").filter((l) => l.length).map((l) => JSON.parse(l));
const bytes = corpus.reduce((n, s) => n + Buffer.byteLength(s, "utf8"), 0);
let best = 0;
for (let pass = 0; pass < 5; pass++) {
  const t0 = process.hrtime.bigint();
  let n = 0;
  for (const s of corpus) n += enc.encode_ordinary(s).length + 1;
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  if (n === 0) process.exit(1);
  best = Math.max(best, bytes / sec / 1e6);
}
console.log(`| Llama 3 (tiktoken BPE) | npm tiktoken ${JSON.parse(fs.readFileSync(new URL("./node_modules/tiktoken/package.json", import.meta.url))).version} (WebAssembly, node ${process.versions.node}) | ${best.toFixed(1)} |`);
enc.free();
