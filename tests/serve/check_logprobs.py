#!/usr/bin/env python3
"""llamaref serve's log-probabilities against log-softmax of `llamaref logits`.

usage: check_logprobs.py RESPONSE.json LOGITS.npy [--echo] [--top N] [--tol 1e-5] [--ref META.npy --ref-tol 1e-4]

RESPONSE.json is a /v1/completions response with logprobs (legacy shape, llamaref's token_ids and
top_token_ids); LOGITS.npy the float32 logits [T, V] that `llamaref logits --tokens IDS` wrote for
the prompt and generated ids of its first choice. Each position's log-probability must equal the
log-softmax (float64) of the row before it, and the top N ids must be the N largest logits.
With --echo every prompt token must be there, the first with a null log-probability.
Prints the largest difference; exit 1 when it is above the tolerance.
"""
import argparse
import json
import sys

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("response")
ap.add_argument("logits")
ap.add_argument("--echo", action="store_true")
ap.add_argument("--top", type=int, default=0)
ap.add_argument("--tol", type=float, default=1e-5)
ap.add_argument("--ref", help="another [T, V] logits file (e.g. Meta's) to compare with too")
ap.add_argument("--ref-tol", type=float, default=1e-4)
a = ap.parse_args()

r = json.load(open(a.response))
c = r["choices"][0]
lp = c["logprobs"]
ids = c["prompt_token_ids"] + c["token_ids"]
logits = np.load(a.logits).astype(np.float64)
assert logits.shape[0] == len(ids), f"logits have {logits.shape[0]} rows for {len(ids)} ids"


def log_softmax(x):
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


ls = log_softmax(logits)
P = len(c["prompt_token_ids"])
if a.echo:
    assert lp["token_ids"] == ids, "echo: the logprobs' token ids are not the prompt's and the generated ones"
    assert lp["token_logprobs"][0] is None and lp["top_logprobs"][0] is None, "echo: the first position is not null"
    positions = range(1, len(ids))
    at = lambda t: t  # index into the logprobs lists
else:
    assert lp["token_ids"] == c["token_ids"], "the logprobs' token ids are not the generated ones"
    positions = range(P, len(ids))
    at = lambda t: t - P
worst = 0.0
for t in positions:
    want = ls[t - 1, ids[t]]
    got = lp["token_logprobs"][at(t)]
    worst = max(worst, abs(got - want))
    if a.top:
        top = lp["top_token_ids"][at(t)]
        assert len(top) == a.top, f"position {t}: {len(top)} alternatives, expected {a.top}"
        order = np.lexsort((np.arange(ls.shape[1]), -logits[t - 1]))[: a.top]
        assert list(order) == top, f"position {t}: top ids {top}, expected {list(order)}"
        # the dict keeps one entry per text (the likeliest id of it): each value is one of those ids'
        for v in lp["top_logprobs"][at(t)].values():
            worst = max(worst, min(abs(v - ls[t - 1, i]) for i in top))
print(f"{len(positions)} positions, max |logprob - log_softmax(llamaref logits)| = {worst:.3e}")
if worst > a.tol:
    print(f"FAIL: above {a.tol}")
    sys.exit(1)
if a.ref:
    ref = log_softmax(np.load(a.ref).astype(np.float64))
    worst_ref = max(abs(lp["token_logprobs"][at(t)] - ref[t - 1, ids[t]]) for t in positions)
    print(f"max |logprob - log_softmax(reference logits)| = {worst_ref:.3e}")
    if worst_ref > a.ref_tol:
        print(f"FAIL: above {a.ref_tol}")
        sys.exit(1)
