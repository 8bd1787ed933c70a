#!/usr/bin/env python3
"""Dump the intermediate tensors of a PyTorch Llama in llamaref's trace format, with forward hooks.

The folder it writes (float32 .npy files + index.json) is what `llamaref trace` writes, so

    python3 tools/dump_torch.py --meta MODEL_DIR --tokens 1,2,3 --out torch_trace
    llamaref trace -m MODEL --tokens 1,2,3 --out llamaref_trace
    llamaref compare llamaref_trace torch_trace

finds the first tensor where the two implementations part ways. Module names of Meta's
`Transformer` (llama/model.py, and tests/reference/llama_torch.py) and of Hugging Face's
`LlamaForCausalLM` are both recognised; HF's q/k projections are marked "layout": "halves" so
compare un-permutes them. From Python: dump(model, tokens, out_dir).
"""
import argparse, json, os, re, sys
import numpy as np
import torch

# (regex on the module name, llamaref name template, hook on the module's input instead of output)
META = [
    (r"tok_embeddings", "tok_embeddings", False),
    (r"layers\.(\d+)\.attention_norm", "layers.{0}.attention_norm", False),
    (r"layers\.(\d+)\.attention\.(wq|wk|wv)", "layers.{0}.attention.{1}", False),
    (r"layers\.(\d+)\.attention\.wo", "layers.{0}.attention.heads", True),
    (r"layers\.(\d+)\.attention\.wo", "layers.{0}.attention.wo", False),
    (r"layers\.(\d+)\.ffn_norm", "layers.{0}.ffn_norm", False),
    (r"layers\.(\d+)\.feed_forward\.(w1|w3)", "layers.{0}.feed_forward.{1}", False),
    (r"layers\.(\d+)\.feed_forward\.w2", "layers.{0}.feed_forward.hidden", True),
    (r"layers\.(\d+)\.feed_forward\.w2", "layers.{0}.feed_forward.w2", False),
    (r"layers\.(\d+)", "layers.{0}", False),
    (r"norm", "norm", False),
    (r"output", "output", False),
]
HF_PROJ = {"q_proj": "wq", "k_proj": "wk", "v_proj": "wv", "gate_proj": "w1", "up_proj": "w3"}
HF = [
    (r"model\.embed_tokens", "tok_embeddings", False),
    (r"model\.layers\.(\d+)\.input_layernorm", "layers.{0}.attention_norm", False),
    (r"model\.layers\.(\d+)\.self_attn\.(q_proj|k_proj|v_proj)", "layers.{0}.attention.{1}", False),
    (r"model\.layers\.(\d+)\.self_attn\.o_proj", "layers.{0}.attention.heads", True),
    (r"model\.layers\.(\d+)\.self_attn\.o_proj", "layers.{0}.attention.wo", False),
    (r"model\.layers\.(\d+)\.post_attention_layernorm", "layers.{0}.ffn_norm", False),
    (r"model\.layers\.(\d+)\.mlp\.(gate_proj|up_proj)", "layers.{0}.feed_forward.{1}", False),
    (r"model\.layers\.(\d+)\.mlp\.down_proj", "layers.{0}.feed_forward.hidden", True),
    (r"model\.layers\.(\d+)\.mlp\.down_proj", "layers.{0}.feed_forward.w2", False),
    (r"model\.layers\.(\d+)", "layers.{0}", False),
    (r"model\.norm", "norm", False),
    (r"lm_head", "output", False),
]


def dump(model, tokens, out_dir, n_heads=None, n_kv_heads=None, head_dim=None):
    names = dict(model.named_modules())
    hf = any(n.startswith("model.layers.") for n in names)
    table = HF if hf else META
    captured, hooks = [], []

    def keep(name, tensor):
        t = tensor[0] if isinstance(tensor, tuple) else tensor
        t = t.detach().float()
        if t.dim() == 3 and t.shape[0] == 1:                # HF batches: drop the batch of one
            t = t[0]
        captured.append((name, t.numpy().copy()))

    for module_name, module in names.items():
        for pattern, template, on_input in table:
            m = re.fullmatch(pattern, module_name)
            if not m:
                continue
            groups = [HF_PROJ.get(g, g) for g in m.groups()]
            name = template.format(*groups)
            if on_input:
                hooks.append(module.register_forward_pre_hook(lambda mod, args, name=name: keep(name, args[0])))
            else:
                hooks.append(module.register_forward_hook(lambda mod, args, out, name=name: keep(name, out)))
    with torch.no_grad():
        ids = torch.tensor(tokens)
        model(ids[None, :] if hf else ids)
    for h in hooks:
        h.remove()

    os.makedirs(out_dir, exist_ok=True)
    entries = []
    for name, a in captured:
        np.save(os.path.join(out_dir, name + ".npy"), a.astype(np.float32))
        e = {"name": name, "file": name + ".npy", "shape": list(a.shape), "dtype": "float32",
             "layer": int(name.split(".")[1]) if name.startswith("layers.") else -1}
        if name.endswith((".attention.wq", ".attention.wk")) and head_dim:
            e.update(layout="halves" if hf else "pairs", head_dim=head_dim,
                     n_heads=n_heads if name.endswith("wq") else n_kv_heads)
        entries.append(e)
    with open(os.path.join(out_dir, "index.json"), "w") as f:
        json.dump({"format": "llamaref-trace-1", "producer": "tools/dump_torch.py", "tensors": entries}, f, indent=1)
    return entries


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--meta", help="Meta checkpoint folder (params.json + consolidated.00.pth), run with "
                                    "tests/reference/llama_torch.py")
    src.add_argument("--hf", help="Hugging Face folder, run with transformers' LlamaForCausalLM (float32)")
    ap.add_argument("--tokens", required=True, help="comma-separated token ids")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    tokens = [int(t) for t in a.tokens.split(",")]
    if a.meta:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
        from llama_torch import Transformer
        model = Transformer.from_meta(a.meta)
        c = model.args
        entries = dump(model, tokens, a.out, c["n_heads"], c["n_kv_heads"], c["head_dim"])
    else:
        from transformers import LlamaForCausalLM
        model = LlamaForCausalLM.from_pretrained(a.hf, torch_dtype=torch.float32).eval()
        c = model.config
        hd = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
        entries = dump(model, tokens, a.out, c.num_attention_heads, c.num_key_value_heads, hd)
    print(f"wrote {len(entries)} tensors to {a.out}/", file=sys.stderr)


if __name__ == "__main__":
    main()
