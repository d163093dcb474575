"""A RecBole interaction for one user and an item history, as the sequential models read it at test time."""

import torch
from recbole.data.interaction import Interaction


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
