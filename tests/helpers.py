"""Build config / dataset / dataloaders / model for the toy dataset in one call."""

from recbole.utils import init_seed

from recbole_ilm.config import Config
from recbole_ilm.data.dataset import create_dataset, data_preparation
from recbole_ilm.lookup import get_model


def build(model, config_dict, dataset="toy", with_model=True):
    config = Config(model=model, dataset=dataset, config_dict=config_dict)
    init_seed(config["seed"], config["reproducibility"])
    ds = create_dataset(config)
    train, valid, test = data_preparation(config, ds)
    net = get_model(config["model"])(config, train._dataset) if with_model else None
    return config, ds, (train, valid, test), net


def moved_by_head_addition(model, batch, name):
    """For the item-token head's zero-initialised addition ``name`` (e.g. "text_proj"): checks that at the start the
    scores equal the head's without it, then fills its weight with random values. Returns ``(moved, delta, hidden)``:
    the new scores ``[B, n + 1]``, every item's change ``[B, n]`` and the answer states ``h_u`` scored with."""
    import torch

    head = model.item_head
    start = model.item_head_scores(batch)
    addition = getattr(head, name)
    setattr(head, name, None)
    plain = model.item_head_scores(batch)
    setattr(head, name, addition)
    torch.testing.assert_close(start, plain)  # zero at the start: the plain head's scores
    addition.weight.normal_()
    seen, scores = {}, head.scores

    def spy(hidden, table):  # the answer states h_u the head scores with
        seen["hidden"] = hidden
        return scores(hidden, table)

    head.scores = spy
    try:
        moved = model.item_head_scores(batch)
    finally:
        del head.scores
    delta = moved[:, 1:] - start[:, 1:]
    assert (delta.abs() > 1e-6).float().mean() > 0.9  # every item moves, not only some
    return moved, delta, seen["hidden"].float()


def user_slot_tokens(model, batch):
    """``{row: [N, D]}`` the prompt embeddings at each row's user slots, in slot order (rows with user slots only)."""
    import torch

    with torch.no_grad():
        embeds = model.embed_prompt(batch)
    out = {}
    for b in range(embeds.shape[0]):
        where = (batch["prompt_slot_user"][b] > 0) & (batch["prompt_slot_rank"][b] >= 0)
        if where.any():
            order = batch["prompt_slot_rank"][b][where].argsort()
            out[b] = embeds[b][where][order]
    return out
