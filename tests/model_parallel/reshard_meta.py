"""Split a one-shard Meta folder into N model-parallel shards, as fairscale's layers split them.

usage: reshard_meta.py SRC_DIR N OUT_DIR [--vocab-parallel-embedding]

Written from Meta's model.py (llama, llama3) and fairscale's layers, independently of llamaref:
  ColumnParallelLinear   wq wk wv w1 w3 output   rows     (dim 0) in N equal parts
  RowParallelLinear      wo w2                   columns  (dim 1)
  ParallelEmbedding      tok_embeddings          columns  (LLaMA 1 / Llama 2)
  VocabParallelEmbedding tok_embeddings          rows     (Llama 3: --vocab-parallel-embedding)
  everything else (norms, rope.freqs)            whole, in every shard
Writes OUT_DIR/params.json and OUT_DIR/consolidated.NN.pth with torch.save (needs python3-torch).
"""
import json
import os
import shutil
import sys

import torch

ROWS = ("attention.wq.weight", "attention.wk.weight", "attention.wv.weight",
        "feed_forward.w1.weight", "feed_forward.w3.weight")
COLUMNS = ("attention.wo.weight", "feed_forward.w2.weight")


def split_dim(name, vocab_parallel):
    if name.endswith(ROWS) or name == "output.weight":
        return 0
    if name.endswith(COLUMNS):
        return 1
    if name == "tok_embeddings.weight":
        return 0 if vocab_parallel else 1
    return None


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    src, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    vocab_parallel = "--vocab-parallel-embedding" in sys.argv[4:]
    state = torch.load(os.path.join(src, "consolidated.00.pth"), map_location="cpu")
    os.makedirs(out, exist_ok=True)
    shutil.copy(os.path.join(src, "params.json"), os.path.join(out, "params.json"))
    shards = [{} for _ in range(n)]
    for name, t in state.items():
        d = split_dim(name, vocab_parallel)
        if d is None:
            parts = [t.clone() for _ in range(n)]
        else:
            if t.shape[d] % n:
                sys.exit(f"{name}: {tuple(t.shape)} does not split in {n} along dim {d}")
            parts = [p.clone() for p in torch.chunk(t, n, dim=d)]
        for r in range(n):
            shards[r][name] = parts[r]
    for r in range(n):
        torch.save(shards[r], os.path.join(out, f"consolidated.{r:02d}.pth"))
    print(f"wrote {n} shards of {len(state)} tensors to {out}"
          f" (embedding split by {'vocabulary' if vocab_parallel else 'model dimension'})")


if __name__ == "__main__":
    main()
