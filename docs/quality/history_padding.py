"""Padding of evaluation batches on Amazon Beauty, from the .inter file alone: each test row's history is
min(20, n_u - 1) items; batches of B users in a random order (the dataset's order is user-id order, unrelated to
length) vs sorted by length. The "2.8×" of docs/results.md, "Evaluation batches grouped by history length":

    python docs/quality/history_padding.py ../shared/datasets/amazon-beauty/amazon-beauty.inter
"""
import sys

import numpy as np
import pandas as pd

df = pd.read_csv(sys.argv[1], sep="\t", usecols=[0])
h = np.minimum(20, df.iloc[:, 0].value_counts().values - 1)
print(len(h), "users; history mean", h.mean(), "p10/p50/p90", np.percentile(h, [10, 50, 90]))
rng = np.random.default_rng(0)
for B in (64, 256):
    perm, s = rng.permutation(h), np.sort(h)
    padded = sum(perm[i:i + B].max() * len(perm[i:i + B]) for i in range(0, len(h), B))
    grouped = sum(s[i:i + B].max() * len(s[i:i + B]) for i in range(0, len(h), B))
    print(B, "padded / real", padded / h.sum(), "grouped / real", grouped / h.sum())
