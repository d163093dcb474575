"""Users' histories: a RecBole interaction for one user and an item history (as the sequential models read it at
test time), and where each RecBole row sits in its user's whole item sequence (``user_tokens: full_history``, ``fold_in``)."""

import numpy as np
import torch
from recbole.data.interaction import Interaction

from recbole_ilm.errors import ILMConfigError


def history_interaction(dataset, config, history, uid=0):
    """One row: the last ``MAX_ITEM_LIST_LENGTH`` items of ``history`` (internal ids, oldest first) for user
    ``uid`` (0: an anonymous user)."""
    history = list(history)[-config["MAX_ITEM_LIST_LENGTH"]:]
    seq = torch.zeros(1, config["MAX_ITEM_LIST_LENGTH"], dtype=torch.long)
    seq[0, : len(history)] = torch.tensor(history, dtype=torch.long)
    return Interaction({
        dataset.uid_field: torch.tensor([uid]),
        dataset.iid_field + config["LIST_SUFFIX"]: seq,
        config["ITEM_LIST_LENGTH_FIELD"]: torch.tensor([len(history)]),
    })


HISTORY_OFFSET = "history_offset"  # per row: how many of the user's items precede the row's ITEM_SEQ window


def row_positions(config, *splits):
    """Each split's rows' positions in their user's whole item sequence (``p``: the row's target is the user's
    ``p``-th item, 0-based), one int64 array per split, in the split's row order.

    RecBole's sequential rows (``data_augmentation``) are one per position ``p >= 1``, grouped by user in time
    order, the last two going to valid and test; ``splits`` are given in time order (train, then valid, then test),
    so a row's position is one more than the number of its user's rows before it. Checked against every row's own
    history (its length is ``min(p, MAX_ITEM_LIST_LENGTH)`` and its last item is the previous row's target): a
    dataset whose rows are laid out otherwise is refused rather than given wrong positions."""
    uid_field = splits[0].uid_field
    seq_field = splits[0].iid_field + config["LIST_SUFFIX"]
    uids = np.concatenate([s.inter_feat[uid_field].numpy() for s in splits])
    lengths = np.concatenate([s.inter_feat[config["ITEM_LIST_LENGTH_FIELD"]].numpy() for s in splits])
    targets = np.concatenate([s.inter_feat[s.iid_field].numpy() for s in splits])
    last = np.concatenate([s.inter_feat[seq_field].numpy()[np.arange(len(s)), s.inter_feat[
        config["ITEM_LIST_LENGTH_FIELD"]].numpy() - 1] for s in splits])
    order = np.argsort(uids, kind="stable")  # by user, keeping each user's rows in split and time order
    sorted_uids = uids[order]
    first = np.r_[True, sorted_uids[1:] != sorted_uids[:-1]]
    starts = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
    positions = np.empty(len(order), dtype=np.int64)
    positions[order] = np.arange(len(order)) - starts + 1
    chained = ~first[1:]  # consecutive rows of one user: the later one's last history item is the earlier's target
    ok = np.array_equal(lengths, np.minimum(positions, config["MAX_ITEM_LIST_LENGTH"])) and np.array_equal(
        last[order[1:]][chained], targets[order[:-1]][chained])
    if not ok:
        raise ILMConfigError("user_tokens: full_history (and fold_in) needs RecBole's own sequential rows (one per "
                             "position of each user's time-ordered items, split leave-one-out: eval_args split LS, "
                             "order TO); "
                             "these rows are laid out otherwise (e.g. benchmark_filename); use user_tokens: history")
    bounds = np.cumsum([0] + [len(s) for s in splits])
    return [positions[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def history_offsets(config, *splits):
    """Per split, per row: how many of the user's items come before the row's ``ITEM_SEQ`` window (its position
    minus its history length; 0 unless RecBole cut the history at ``MAX_ITEM_LIST_LENGTH``)."""
    return [p - s.inter_feat[config["ITEM_LIST_LENGTH_FIELD"]].numpy()
            for p, s in zip(row_positions(config, *splits), splits)]


def training_sequences(config, train_dataset):
    """``(items, starts)``: every user's training items in time order, flattened (``items[starts[u]:starts[u + 1]]``
    for user ``u``; empty for users without training rows): the first row's first history item, then each training
    row's target."""
    positions = row_positions(config, train_dataset)[0]
    feat = train_dataset.inter_feat
    uids = feat[train_dataset.uid_field].numpy()
    counts = np.bincount(uids, minlength=train_dataset.user_num)
    counts[counts > 0] += 1  # the first row's history item
    starts = np.concatenate([[0], np.cumsum(counts)])
    items = np.zeros(starts[-1], dtype=np.int64)
    items[starts[uids] + positions] = feat[train_dataset.iid_field].numpy()
    firsts = positions == 1
    items[starts[uids[firsts]]] = feat[train_dataset.iid_field + config["LIST_SUFFIX"]].numpy()[firsts, 0]
    return items, starts
