#!/usr/bin/env python3
"""A readable Llama in PyTorch, with Meta's module names (llama/model.py), in float32.

It follows Meta's reference: RMSNorm in float32, RoPE as complex multiplication of adjacent
pairs (with the Llama 3.1 frequency scaling), grouped-query attention by repeating KV heads,
SwiGLU. No KV cache, no parallel layers: one forward pass over a whole sequence. It loads a Meta
checkpoint folder (params.json + consolidated.00.pth) and serves as a second, independent
PyTorch implementation for llamaref's tests and notebooks.
"""
import json, math, os
import torch
from torch import nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(dim))

    def forward(self, x):                                   # x: [T, D]
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_frequencies(head_dim, theta, scaling):             # -> [Dh/2] float64
    freqs = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    if scaling:                                             # Llama 3.1 (llama-models apply_scaling)
        factor, low, high, old = scaling
        out = []
        for f in freqs.tolist():
            wavelen = 2 * math.pi / f
            if wavelen < old / high:
                out.append(f)
            elif wavelen > old / low:
                out.append(f / factor)
            else:
                s = (old / wavelen - low) / (high - low)
                out.append((1 - s) * f / factor + s * f)
        freqs = torch.tensor(out, dtype=torch.float64)
    return freqs


def apply_rope(x, cis):                                     # x: [T, heads, Dh], cis: [T, Dh/2] complex
    xc = torch.view_as_complex(x.reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(xc * cis[:, None, :]).flatten(2)


class Attention(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.h, self.kv, self.hd = a["n_heads"], a["n_kv_heads"], a["head_dim"]
        self.wq = nn.Linear(a["dim"], self.h * self.hd, bias=False)
        self.wk = nn.Linear(a["dim"], self.kv * self.hd, bias=False)
        self.wv = nn.Linear(a["dim"], self.kv * self.hd, bias=False)
        self.wo = nn.Linear(self.h * self.hd, a["dim"], bias=False)

    def forward(self, x, cis):                              # x: [T, D]
        T = x.shape[0]
        q = apply_rope(self.wq(x).view(T, self.h, self.hd), cis)
        k = apply_rope(self.wk(x).view(T, self.kv, self.hd), cis)
        v = self.wv(x).view(T, self.kv, self.hd)
        k = k.repeat_interleave(self.h // self.kv, dim=1)   # query head h reads KV head h // n_rep
        v = v.repeat_interleave(self.h // self.kv, dim=1)
        scores = torch.einsum("thd,shd->hts", q, k) / math.sqrt(self.hd)
        scores = scores + torch.full((T, T), float("-inf")).triu(1)
        out = torch.einsum("hts,shd->thd", F.softmax(scores.float(), dim=-1), v)
        return self.wo(out.reshape(T, -1))


class FeedForward(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class TransformerBlock(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.attention, self.feed_forward = Attention(a), FeedForward(a["dim"], a["hidden_dim"])
        self.attention_norm, self.ffn_norm = RMSNorm(a["dim"], a["norm_eps"]), RMSNorm(a["dim"], a["norm_eps"])

    def forward(self, x, cis):
        h = x + self.attention(self.attention_norm(x), cis)
        return h + self.feed_forward(self.ffn_norm(h))


class Transformer(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.args = a
        self.tok_embeddings = nn.Embedding(a["vocab_size"], a["dim"])
        self.layers = nn.ModuleList(TransformerBlock(a) for _ in range(a["n_layers"]))
        self.norm = RMSNorm(a["dim"], a["norm_eps"])
        self.output = nn.Linear(a["dim"], a["vocab_size"], bias=False)
        self.freqs = rope_frequencies(a["head_dim"], a["rope_theta"], a["rope_scaling"])

    def forward(self, tokens):                              # tokens: [T] -> logits [T, V]
        angles = torch.outer(torch.arange(len(tokens), dtype=torch.float64), self.freqs)
        cis = torch.polar(torch.ones_like(angles), angles).to(torch.complex64)
        x = self.tok_embeddings(tokens)
        for layer in self.layers:
            x = layer(x, cis)
        return self.output(self.norm(x)).float()

    @staticmethod
    def from_meta(folder):
        p = json.load(open(os.path.join(folder, "params.json")))
        dim, n_heads = p["dim"], p["n_heads"]
        hidden = int(2 * 4 * dim / 3)
        if p.get("ffn_dim_multiplier"):
            hidden = int(p["ffn_dim_multiplier"] * hidden)
        hidden = p["multiple_of"] * ((hidden + p["multiple_of"] - 1) // p["multiple_of"])
        a = dict(dim=dim, n_layers=p["n_layers"], n_heads=n_heads, n_kv_heads=p.get("n_kv_heads") or n_heads,
                 head_dim=dim // n_heads, hidden_dim=hidden, vocab_size=p["vocab_size"], norm_eps=p["norm_eps"],
                 rope_theta=p.get("rope_theta", 10000.0),
                 rope_scaling=(8.0, 1.0, 4.0, 8192) if p.get("use_scaled_rope") else None)
        model = Transformer(a)
        state = torch.load(os.path.join(folder, "consolidated.00.pth"), map_location="cpu")
        model.load_state_dict({k: v.float() for k, v in state.items() if not k.endswith("freqs")}, strict=True)
        return model.eval()
