"""The Python bindings against the C++ results and against independent numbers.

usage: test_bindings.py [LLAMAREF_CLI]       (PYTHONPATH holds the built module; exit 77 = skipped)

Each exposed function is checked to give what the C++ library gives: the CLI (the same library,
another program) writes logits, traces, token ids and a comparison, and the bindings must give
the same numbers bit for bit; the components must reproduce, bit for bit, the tensors the model
itself computes in a trace (the same functions, called from Python); RoPE frequencies, the
sampling distribution and the fixtures' logits are checked against numpy written from the
definitions and against Meta's reference outputs.
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("SKIPPED: numpy is not available to", sys.executable)
    sys.exit(77)
import llamaref as lr

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.environ.get("LLAMAREF_TEST_DATA") or os.path.join(ROOT, "..", "shared")
CLI = sys.argv[1] if len(sys.argv) > 1 and os.path.exists(sys.argv[1]) else None
STORIES = os.path.join(DATA, "models", "stories260K")
ORACLE = os.path.join(DATA, "oracle")
if not os.path.exists(os.path.join(STORIES, "stories260K.bin")) or not os.path.isdir(ORACLE):
    print(f"SKIPPED: test data not found under {DATA} (set LLAMAREF_TEST_DATA)")
    sys.exit(77)
TMP = tempfile.mkdtemp(prefix="llamaref-py-")
checks = []


def check(name, ok, detail=""):
    checks.append(name)
    print(("ok   " if ok else "FAIL ") + name + (f"  ({detail})" if detail else ""))
    if not ok:
        sys.exit(1)


def cli(*args):
    return subprocess.run([CLI, *args], check=True, capture_output=True, text=True).stdout


def same(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)


# --- a model in every format, and its forward pass --------------------------------------------
stories = lr.load_model(os.path.join(STORIES, "stories260K.bin"))
c = stories.config
check("config of stories260K", (c.dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size) == (64, 5, 8, 4, 512), repr(c))
tokens = [1, 403, 407, 261, 378, 1238 % 512]
tf = lr.Transformer(stories)
logits = tf.forward(tokens)
check("forward: logits [T, V] float32", logits.shape == (6, 512) and logits.dtype == np.float32)
wq = stories.weight("layers.0.attention.wq")
check("weight(): an F32 weight is a read-only view of the mapped file",
      wq.shape == (64, 64) and not wq.flags.owndata and not wq.flags.writeable)
if CLI:
    ids = ",".join(map(str, tokens))
    cli("logits", "-m", stories.path, "--tokens", ids, "--out", f"{TMP}/l.npy", "--backend", "ref", "-t", "1")
    check("forward == llamaref logits (C++), bit for bit", same(logits, np.load(f"{TMP}/l.npy")))
    cli("logits", "-m", stories.path, "--tokens", ids, "--out", f"{TMP}/d.npy", "--mode", "decode", "--backend", "ref")
    dec = lr.Transformer(stories)
    rows = [dec.forward([t], start_pos=i)[0] for i, t in enumerate(tokens)]
    check("forward one token at a time (KV cache) == llamaref logits --mode decode", same(np.stack(rows), np.load(f"{TMP}/d.npy")))
fast = lr.Transformer(stories, backend="fast").forward(tokens)
check("backend='fast' within 1e-4 of the reference", np.abs(fast - logits).max() < 1e-4)

for case in ("llama1-mha", "llama2-gqa", "llama31-scaled"):
    d = os.path.join(ORACLE, case)
    prompt = json.load(open(os.path.join(d, "expected", "tokens.json")))["prompt"]
    want = np.load(os.path.join(d, "expected", "prefill_logits.npy"))
    for fmt in ("hf", "meta", "gguf/model-f32.gguf"):
        got = lr.Transformer(lr.load_model(os.path.join(d, fmt))).forward(prompt)
        err = float(np.abs(got - want).max())
        check(f"{case} {fmt}: prefill logits vs Meta's reference", err < 1e-4, f"max |diff| {err:.1e}")
bf16 = lr.load_model(os.path.join(ORACLE, "llama2-gqa", "gguf", "model-bf16.gguf"))
f32 = lr.load_model(os.path.join(ORACLE, "llama2-gqa", "gguf", "model-f32.gguf"))
w16, w32 = bf16.weight("layers.0.feed_forward.w1"), f32.weight("layers.0.feed_forward.w1")
check("weight() of a BF16 GGUF: converted to float32, within bf16 rounding of the F32 file",
      bf16.weight_dtype("layers.0.feed_forward.w1") == "BF16" and w16.flags.writeable and
      np.all(np.abs(w16 - w32) <= 2.0 ** -8 * np.abs(w32)))
check("ffn_hidden_dim: Llama 2 7B 11008, Llama 3 8B 14336",
      (lr.ffn_hidden_dim(4096, 256), lr.ffn_hidden_dim(4096, 1024, 1.3)) == (11008, 14336))
lr.set_num_threads(2)
two = lr.Transformer(stories).forward(tokens)
lr.set_num_threads(1)
check("set_num_threads: the same logits with 1 and 2 threads", lr.num_threads() == 1 and same(two, logits))
hf = lr.load_model(os.path.join(ORACLE, "llama2-gqa", "hf"))
meta = lr.load_model(os.path.join(ORACLE, "llama2-gqa", "meta"))
check("HF wk is un-permuted at load: equal to Meta's wk",
      np.array_equal(hf.weight("layers.1.attention.wk"), meta.weight("layers.1.attention.wk")))

# --- the observer and traces ------------------------------------------------------------------
seen = []
tf.forward(tokens, observer=lambda name, layer, a: seen.append((name, layer, a)), attention_probs=True)
trace = lr.Trace.record(lr.Transformer(stories), tokens)
check("observer sees every tensor of Trace.record, in order", [n for n, _, _ in seen] == trace.names(), f"{len(seen)} tensors")
check("observer arrays == Trace.record arrays", all(same(a, trace[n]) for n, _, a in seen))
check("observer: layer numbers", all(l == trace.layer(n) for n, l, _ in seen))
if CLI:
    cli("trace", "-m", stories.path, "--tokens", ",".join(map(str, tokens)), "--out", f"{TMP}/t", "--backend", "ref")
    theirs = lr.Trace.load(f"{TMP}/t")
    check("Trace.record == llamaref trace (C++), every tensor bit for bit",
          theirs.names() == trace.names() and all(same(trace[n], theirs[n]) for n in trace.names()))

# --- components, each against what the model computed in the trace ------------------------------
T, D, H, KV, Dh = len(tokens), c.dim, c.n_heads, c.n_kv_heads, c.head_dim
theta = lr.rope_frequencies(Dh, c.rope_theta)
check("rope_frequencies == base^(-2i/Dh)", np.allclose(theta, c.rope_theta ** (-np.arange(0, Dh, 2) / Dh), rtol=1e-15, atol=0))
cos, sin = lr.rope_table(theta, 3, 4)
ang = np.arange(3, 7)[:, None] * theta[None, :]
check("rope_table == cos/sin of m·θ (float64, rounded)", np.abs(cos - np.cos(ang)).max() < 1e-7 and np.abs(sin - np.sin(ang)).max() < 1e-7)
for l in range(c.n_layers):
    p = f"layers.{l}"
    x_in = trace["tok_embeddings"] if l == 0 else trace[f"layers.{l - 1}"]
    W = lambda n: stories.weight(f"{p}.{n}")
    check(f"{p}: rmsnorm == attention_norm", same(lr.rmsnorm(x_in, W("attention_norm"), c.norm_eps), trace[f"{p}.attention_norm"]))
    check(f"{p}: matmul == attention.wq", same(lr.matmul(W("attention.wq"), trace[f"{p}.attention_norm"]), trace[f"{p}.attention.wq"]))
    q = lr.rope(trace[f"{p}.attention.wq"].reshape(T, H, Dh), theta, 0, "pairs")
    k = lr.rope(trace[f"{p}.attention.wk"].reshape(T, KV, Dh), theta, 0, "pairs")
    check(f"{p}: rope pairs == q_rope, k_rope", same(q.reshape(T, -1), trace[f"{p}.attention.q_rope"]) and
          same(k.reshape(T, -1), trace[f"{p}.attention.k_rope"]))
    out, probs = lr.attention(q, k, trace[f"{p}.attention.wv"].reshape(T, KV, Dh))
    check(f"{p}: attention == heads and probs", same(out.reshape(T, -1), trace[f"{p}.attention.heads"]) and
          same(probs, trace[f"{p}.attention.probs"]))
    ff = lr.feed_forward(trace[f"{p}.ffn_norm"], W("feed_forward.w1"), W("feed_forward.w2"), W("feed_forward.w3"))
    check(f"{p}: feed_forward == w1, w3, hidden, w2", all(same(ff[a], trace[f"{p}.feed_forward.{b}"])
          for a, b in (("gate", "w1"), ("up", "w3"), ("hidden", "hidden"), ("out", "w2"))))
# halves: HF permutes the rows of wq so that rotate-half of its output is the same model.
x = trace["layers.0.attention.wq"]                            # [T, H·Dh], pairs layout
x_hf = lr.hf_permute(x.T.copy(), H, Dh).T.copy()              # the same vectors in HF's row order
check("hf_unpermute(hf_permute(W)) == W", same(lr.hf_unpermute(lr.hf_permute(wq, H, Dh), H, Dh), wq))
rot_hf = lr.rope(x_hf.reshape(T, H, Dh), theta, 0, "halves").reshape(T, -1)
check("rope halves on HF rows == HF rows of rope pairs", same(rot_hf, lr.hf_permute(trace["layers.0.attention.q_rope"].T.copy(), H, Dh).T))
sc = lr.RopeScaling()
sc.enabled, sc.factor, sc.low_freq_factor, sc.high_freq_factor, sc.original_context = True, 8, 1, 4, 8192
t0, t1 = lr.rope_frequencies(128, 5e5), lr.rope_frequencies(128, 5e5, sc)
check("Llama 3.1 scaling: 29 pairs kept, 6 blended, 29 divided by 8",
      ((t1 == t0).sum(), ((t1 != t0) & ~np.isclose(t1, t0 / 8, rtol=1e-15)).sum(), np.isclose(t1, t0 / 8, rtol=1e-15).sum()) == (29, 6, 29))

# --- tokenizers ----------------------------------------------------------------------------------
texts = ["Once upon a time, there was a little girl.", "Hello world", "naïve café 12345"]
for path in (os.path.join(STORIES, "tok512.bin"), os.path.join(DATA, "tokenizers", "llama2", "tokenizer.model"),
             os.path.join(DATA, "tokenizers", "llama3", "tokenizer.model")):
    tok = lr.load_tokenizer(path)
    name = os.path.relpath(path, DATA)
    for s in texts:
        ids = tok.encode(s, bos=True)
        if CLI:
            want = [int(i) for i in cli("tokenize", "-z", path, "--text", s, "--bos", "--ids").split()]
            check(f"{name}: encode == llamaref tokenize (C++): {s!r}", ids == want)
        check(f"{name}: decode(encode(s)) == s", tok.decode(tok.encode(s)).decode() == s)
    steps = tok.merge_steps("Hello world")
    check(f"{name}: merge_steps joins neighbours", all(st["left"] + st["right"] in st["parts"] for st in steps))
    if tok.kind.startswith("SentencePiece") and "tok512" not in name:
        pieces = [tok.piece(i) for i in tok.encode("Hello world")]
        check(f"{name}: merge_steps end in the pieces of encode", steps[-1]["parts"] == pieces)
    if tok.kind.startswith("tiktoken"):
        words = [st for st in steps if st["word"] == b" world"]
        check(f"{name}: ' world' is one token, taken whole", len(words) == 1 and words[0]["right"] == b"")

# --- sampling ------------------------------------------------------------------------------------
row = logits[-1].astype(np.float64)


def numpy_chain(l, recent, T, k, p, m, rep):  # written from the definitions in sampler.hpp
    l = l.copy()
    for i in set(recent):
        l[i] = l[i] / rep if l[i] > 0 else l[i] * rep
    pr = np.exp(l / T - (l / T).max())
    pr /= pr.sum()
    order = sorted(range(len(pr)), key=lambda i: (-pr[i], i))
    keep = order[:k] if k else order
    cum = np.concatenate([[0], np.cumsum([pr[i] for i in keep])])
    keep = keep[:max(1, int((cum[:-1] <= p).sum()))]
    keep = [i for i in keep if pr[i] >= m * pr[keep[0]]] or keep[:1]
    q = np.array([pr[i] for i in keep])
    return np.array(keep), q / q.sum()


recent = [403, 407, 261]
ids, probs = lr.sampling_distribution(logits[-1], recent, temperature=0.8, top_k=40, top_p=0.9, min_p=0.05, repeat_penalty=1.3)
w_ids, w_probs = numpy_chain(row, recent, 0.8, 40, 0.9, 0.05, 1.3)
check("sampling_distribution == numpy from the definitions", np.array_equal(ids, w_ids) and np.allclose(probs, w_probs, rtol=1e-6))
steps = lr.sampling_steps(logits[-1], recent, temperature=0.8, top_k=40, top_p=0.9, min_p=0.05, repeat_penalty=1.3)
check("sampling_steps: the chain's order", [s for s, _ in steps] == ["softmax", "penalties", "temperature", "top_k", "top_p", "min_p", "final"])
check("sampling_steps final == sampling_distribution", np.array_equal(steps[-1][1][0], ids) and np.array_equal(steps[-1][1][1], probs))
check("sampling_steps: each cut keeps a prefix", all(len(steps[i + 1][1][0]) <= len(steps[i][1][0]) for i in range(2, 6)))
state, rng2c = 42, lr.Llama2cRng(42)
for _ in range(5):  # llama2.c's xorshift64* written out (run.c random_u32, random_f32)
    state ^= state >> 12; state ^= (state << 25) & (2**64 - 1); state ^= state >> 27
    want = np.float32(((state * 0x2545F4914F6CDD1D) & (2**64 - 1)) >> 32 >> 8) / np.float32(16777216.0)
    check("Llama2cRng == llama2.c's random_f32", rng2c.coin() == float(want))
coin = lr.Mt19937Rng(42).coin()
check("sample() walks the CDF", lr.sample(ids, probs, coin) == ids[np.searchsorted(np.cumsum(probs), coin, side="right")])

# --- compare -------------------------------------------------------------------------------------
bad = lr.Trace.load(f"{TMP}/t") if CLI else lr.Trace.record(lr.Transformer(stories), tokens)
planted = bad["layers.2.ffn_norm"].copy()
planted[1, 5] += 0.01
bad.set("layers.2.ffn_norm", planted)
r = lr.compare(bad, trace)
check("compare finds the planted divergence", r["first_divergence"] == "layers.2.ffn_norm")
check("compare: max_abs of the planted tensor", abs([x for x in r["rows"] if x["name"] == "layers.2.ffn_norm"][0]["max_abs"] - 0.01) < 1e-6)
if CLI:
    bad.save(f"{TMP}/bad")
    trace.save(f"{TMP}/good")
    out = subprocess.run([CLI, "compare", f"{TMP}/bad", f"{TMP}/good"], capture_output=True, text=True)
    check("compare == llamaref compare (C++): exit 1, same first divergence",
          out.returncode == 1 and "first divergence: layers.2.ffn_norm" in out.stdout)
try:
    lr.load_model(os.path.join(TMP, "missing.bin"))
    check("a bad path raises llamaref.Error", False)
except lr.Error as e:
    check("a bad path raises llamaref.Error", "no such file" in str(e))
print(f"{len(checks)} checks passed" + ("" if CLI else " (the CLI comparisons were skipped: no llamaref binary given)"))
