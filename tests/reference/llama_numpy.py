#!/usr/bin/env python3
"""An independent Llama forward pass in numpy, written the way Hugging Face's LlamaForCausalLM
computes (rotate-half RoPE on permuted q/k rows, repeat_kv, llama3 rope scaling), in float64.

It writes a random Hugging Face model folder (config.json + model.safetensors) for a given
configuration and the logits it computes for a token list, so llamaref can be checked on
configurations the Meta fixtures do not cover: tied embeddings, one KV head, head_dim that is
not a power of two and differs from hidden_size / heads, more layers, 3.2-style scaling, and
F16 / BF16 storage. Nothing here is shared with llamaref's C++ code.

usage: llama_numpy.py OUT_DIR CONFIG_NAME
"""
import json, math, struct, sys
import numpy as np

CONFIGS = {
    # tied embeddings, multi-query attention (1 KV head), head_dim 48, 3 layers, Llama 3.2-style rope
    "tied-mqa-hd48": dict(hidden_size=96, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=1,
                          head_dim=48, intermediate_size=200, vocab_size=300, rms_norm_eps=1e-5,
                          rope_theta=500000.0, tie_word_embeddings=True, dtype="BF16",
                          rope_scaling=dict(rope_type="llama3", factor=32.0, low_freq_factor=1.0,
                                            high_freq_factor=4.0, original_max_position_embeddings=16)),
    # untied, GQA 6/3, head_dim 20 with hidden 96 (head_dim * heads != hidden), F16 storage, no scaling
    "gqa-f16": dict(hidden_size=96, num_hidden_layers=2, num_attention_heads=6, num_key_value_heads=3,
                    head_dim=20, intermediate_size=160, vocab_size=257, rms_norm_eps=1e-6,
                    rope_theta=10000.0, tie_word_embeddings=False, dtype="F16", rope_scaling=None),
}

def to_bf16_bits(a):
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)

def stored(a, dtype):
    """(bytes as stored, the float64 values the stored bytes mean)"""
    if dtype == "F32":
        a = a.astype(np.float32); return a.tobytes(), a.astype(np.float64)
    if dtype == "F16":
        a = a.astype(np.float16); return a.tobytes(), a.astype(np.float64)
    bits = to_bf16_bits(a)
    return bits.tobytes(), (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)

def rope_inv_freq(cfg):
    d = cfg["head_dim"]
    inv = 1.0 / (cfg["rope_theta"] ** (np.arange(0, d, 2, dtype=np.float64) / d))
    s = cfg.get("rope_scaling")
    if s:  # transformers' _compute_llama3_parameters, restated
        factor, lo, hi, old = s["factor"], s["low_freq_factor"], s["high_freq_factor"], s["original_max_position_embeddings"]
        wavelen = 2 * math.pi / inv
        smooth = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * inv / factor + smooth * inv
        inv = np.where(wavelen > old / lo, inv / factor, np.where(wavelen < old / hi, inv, smoothed))
    return inv

def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)

def rmsnorm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w

def forward(cfg, W, tokens):
    T, H, KV, Dh = len(tokens), cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    eps = cfg["rms_norm_eps"]
    x = W["model.embed_tokens.weight"][tokens]
    pos = np.arange(T, dtype=np.float64)
    ang = np.outer(pos, rope_inv_freq(cfg))
    cos, sin = np.cos(np.concatenate([ang, ang], -1)), np.sin(np.concatenate([ang, ang], -1))  # [T, Dh]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rmsnorm(x, W[p + "input_layernorm.weight"], eps)
        q = (h @ W[p + "self_attn.q_proj.weight"].T).reshape(T, H, Dh).transpose(1, 0, 2)
        k = (h @ W[p + "self_attn.k_proj.weight"].T).reshape(T, KV, Dh).transpose(1, 0, 2)
        v = (h @ W[p + "self_attn.v_proj.weight"].T).reshape(T, KV, Dh).transpose(1, 0, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = np.repeat(k, H // KV, axis=0), np.repeat(v, H // KV, axis=0)  # repeat_kv
        s = q @ k.transpose(0, 2, 1) / math.sqrt(Dh) + mask
        s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
        a = (s @ v).transpose(1, 0, 2).reshape(T, H * Dh)
        x = x + a @ W[p + "self_attn.o_proj.weight"].T
        h = rmsnorm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = h @ W[p + "mlp.gate_proj.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * (h @ W[p + "mlp.up_proj.weight"].T)) @ W[p + "mlp.down_proj.weight"].T
    x = rmsnorm(x, W["model.norm.weight"], eps)
    out = W["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else W["lm_head.weight"]
    return x @ out.T

def main(out_dir, name):
    cfg = dict(CONFIGS[name])
    dtype = cfg.pop("dtype")
    rng = np.random.default_rng(1234)
    D, F, V, H, KV, Dh = (cfg[k] for k in ("hidden_size", "intermediate_size", "vocab_size",
                                            "num_attention_heads", "num_key_value_heads", "head_dim"))
    shapes = {"model.embed_tokens.weight": (V, D), "model.norm.weight": (D,)}
    if not cfg["tie_word_embeddings"]:
        shapes["lm_head.weight"] = (V, D)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        shapes.update({p + "input_layernorm.weight": (D,), p + "post_attention_layernorm.weight": (D,),
                       p + "self_attn.q_proj.weight": (H * Dh, D), p + "self_attn.k_proj.weight": (KV * Dh, D),
                       p + "self_attn.v_proj.weight": (KV * Dh, D), p + "self_attn.o_proj.weight": (D, H * Dh),
                       p + "mlp.gate_proj.weight": (F, D), p + "mlp.up_proj.weight": (F, D),
                       p + "mlp.down_proj.weight": (D, F)})
    header, blobs, W, offset = {}, [], {}, 0
    for key, shape in shapes.items():
        if key.endswith("norm.weight"):
            a = 1 + 0.1 * rng.standard_normal(shape)
        elif key == "model.embed_tokens.weight":
            a = rng.standard_normal(shape) * (1 / math.sqrt(D) if cfg["tie_word_embeddings"] else 0.05)
        else:
            a = rng.standard_normal(shape) * (1.5 / math.sqrt(shape[1]))
        raw, W[key] = stored(a, dtype)
        header[key] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw); offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(f"{out_dir}/model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(text))); f.write(text)
        for b in blobs: f.write(b)
    config = dict(cfg, architectures=["LlamaForCausalLM"], model_type="llama", max_position_embeddings=64)
    json.dump(config, open(f"{out_dir}/config.json", "w"), indent=1)
    tokens = [int(t) for t in rng.integers(0, V, 40)]
    np.save(f"{out_dir}/expected_logits.npy", forward(cfg, W, tokens).astype(np.float32))
    open(f"{out_dir}/tokens.txt", "w").write(",".join(map(str, tokens)))

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
