"""Phase-1 alignment data: item-text, item-item and user-item pairs, from the *training* split only."""

import numpy as np


def train_sequences(train_dataset):
    """``{user_id: [item ids in time order]}`` of every user's training interactions.

    RecBole's augmented training rows are ``(user, history prefix) -> target``; a user's full training sequence is
    the first item of their first row followed by every target, in row order (RecBole sorts by user, then time).
    """
    inter = train_dataset.inter_feat
    uid = inter[train_dataset.uid_field].numpy()
    target = inter[train_dataset.iid_field].numpy()
    first = inter[train_dataset.iid_field + train_dataset.config["LIST_SUFFIX"]][:, 0].numpy()
    order = np.argsort(uid, kind="stable")
    seqs = {}
    for r in order:
        u = int(uid[r])
        if u not in seqs:
            seqs[u] = [int(first[r])]
        seqs[u].append(int(target[r]))
    return seqs


def item_item_pairs(sequences):
    """Unique unordered pairs of consecutive, distinct items in the training sequences, ``[P, 2]`` (a < b)."""
    chunks = []
    for seq in sequences.values():
        s = np.asarray(seq, dtype=np.int64)
        if len(s) > 1:
            chunks.append(np.stack([s[:-1], s[1:]], axis=1))
    if not chunks:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate(chunks)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return np.unique(np.sort(pairs, axis=1), axis=0)


def user_item_pairs(sequences):
    """Unique ``(user, item)`` pairs of the training sequences, ``[P, 2]``."""
    rows = [(u, i) for u, seq in sequences.items() for i in set(seq)]
    if not rows:
        return np.zeros((0, 2), dtype=np.int64)
    return np.unique(np.asarray(rows, dtype=np.int64), axis=0)


def item_text_pairs(texts):
    """Item ids that have text (texts[i] != ""), ``[P]``; items without text are left to IIC/UIC."""
    return np.asarray([i for i, t in enumerate(texts) if i > 0 and t.strip()], dtype=np.int64)
