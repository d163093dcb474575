"""``user_tokens``: the CF vector behind a prompt's user tokens (``properties/frozen_llm.yaml``).

``table`` reads the user's row of the model's CF user table (``cf_user``). ``history`` and ``full_history`` build
one vector per row from the CF item vectors of what precedes the row's target: its ``ITEM_SEQ`` window, and for
``full_history`` also the user's items before that window (the loaders' ``history_offset``, summed from running
sums along each user's training items)."""

import torch

from recbole_ilm.cf import history_scale, history_vectors, prefix_sums
from recbole_ilm.data.history import HISTORY_OFFSET, training_sequences
from recbole_ilm.errors import ILMConfigError


def register_user_token_buffers(model, config, dataset):
    """The non-persistent buffers a mode needs (rebuilt from the training split on load): ``history_scale``;
    ``full_history`` also ``history_prefix`` (running sums) and ``history_start`` (each user's first row of it)."""
    if config["user_tokens"] in ("history", "full_history"):
        model.register_buffer("history_scale", history_scale(model.cf_item, dataset), persistent=False)
    if config["user_tokens"] == "full_history":
        items, starts = training_sequences(config, dataset)
        model.register_buffer("history_prefix", prefix_sums(model.cf_item, items, starts), persistent=False)
        model.register_buffer("history_start", torch.as_tensor(starts[:-1]) + torch.arange(len(starts) - 1),
                              persistent=False)


def row_user_vectors(model, batch):
    """``[B, d]``: each row's CF vector behind its user tokens, or None for ``table`` (the user table's rows)."""
    mode = model.config["user_tokens"]
    if mode == "table":
        return None
    if model.ITEM_SEQ not in batch:
        raise ILMConfigError(f"user_tokens: {mode} builds a user's tokens from the row's history, but this batch has "
                             f"no {model.ITEM_SEQ}; use user_tokens: table")
    seq = batch[model.ITEM_SEQ].to(model.cf_item.device)
    return history_vectors(model.cf_item, seq, model.history_scale,
                           _older_items(model, batch) if mode == "full_history" else None)


def _older_items(model, batch):
    """``(sums [B, d], counts [B])`` of the CF vectors of each row's items before its ITEM_SEQ window; None for rows
    built elsewhere (RecBole's case_study helpers, :mod:`recbole_ilm.recommend`): their history is all there is."""
    if HISTORY_OFFSET not in batch:
        return None
    offsets = batch[HISTORY_OFFSET].to(model.history_prefix.device)
    users = batch[model.config["USER_ID_FIELD"]].to(model.history_prefix.device)
    return model.history_prefix[model.history_start[users] + offsets], offsets
