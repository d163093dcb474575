"""Phase-1 data and objective: which batches exist, which losses each one feeds, and the held-out evaluation.

Batch kinds never mix (in-batch negatives must come from the same kind of pair):

* ``item_text``: items with text -> ITC, ITG, ITM;
* ``item_item``: consecutive items of a user's training history -> IIC;
* ``user_item``: a user and one of their training items -> UIC. With ``user_tokens: table`` (the paper's) the user
  side is the user's row of the CF user table, fitted on all of the user's training items; with any other
  ``user_tokens`` mode the pairs are the training rows and their targets, and the user side is the vector that mode
  puts behind the row's user tokens in phase 2 (built from what precedes the target only), so phase 1 trains the
  Q-Former on the same user vectors phase 2 feeds it.
"""

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch

from recbole_ilm.alignment import losses as L
from recbole_ilm.alignment.text import DEC
from recbole_ilm.data.history import HISTORY_OFFSET, history_offsets
from recbole_ilm.data.pairs import item_item_pairs, item_text_pairs, train_sequences, user_item_pairs
from recbole_ilm.errors import ILMConfigError


@dataclass
class AlignmentTarget:
    """What phase 1 trains (``qformer``) and reads (CF tables, item text tokens): ``ILM.alignment_target()``."""

    qformer: torch.nn.Module
    cf_item: torch.Tensor
    cf_user: torch.Tensor
    text_tokens: torch.Tensor
    text_lengths: torch.Tensor
    # user_tokens other than table: training rows (a RecBole Interaction) -> the CF vectors behind their user tokens
    row_user_vectors: Optional[Callable] = None


KIND_LOSSES = {"item_text": ("itc", "itg", "itm"), "item_item": ("iic",), "user_item": ("uic",)}
ALL_LOSSES = tuple(name for names in KIND_LOSSES.values() for name in names)


class AlignmentData:
    """Index arrays of the three pair kinds, with a held-out share of the text items for evaluation."""

    def __init__(self, text_lengths, text_tokens, train_dataset, eval_ratio, seed, row_users=False):
        """``row_users``: user-item pairs are ``(training row, its target)`` (see the module's docstring), read with
        :meth:`user_rows`; otherwise unique ``(user, item)`` pairs of the training sequences."""
        rng = np.random.default_rng(seed)
        with_text = item_text_pairs(["x" if n > 0 else "" for n in np.asarray(text_lengths)])
        n_eval = int(round(len(with_text) * eval_ratio)) if len(with_text) > 1 else 0
        shuffled = rng.permutation(with_text)
        self.eval_items, self.text_items = np.sort(shuffled[:n_eval]), np.sort(shuffled[n_eval:])
        sequences = train_sequences(train_dataset)
        self.pairs = {
            "item_text": self.text_items,
            "item_item": item_item_pairs(sequences),
            "user_item": user_item_pairs(sequences),
        }
        self.train_rows = self.row_offsets = None
        if row_users:
            feat = train_dataset.inter_feat
            self.pairs["user_item"] = np.stack([np.arange(len(feat)), feat[train_dataset.iid_field].numpy()], axis=1)
            self.train_rows = feat
            config = train_dataset.config
            if config["user_tokens"] in ("full_history", "fold_in"):  # the items before each row's ITEM_SEQ window
                self.row_offsets = torch.as_tensor(history_offsets(config, train_dataset)[0])
        # items with identical text must not be each other's ITM negatives
        _, self.text_group = np.unique(np.asarray(text_tokens), axis=0, return_inverse=True)
        self.text_group = self.text_group.reshape(-1)
        self.items_without_text = int((np.asarray(text_lengths)[1:] == 0).sum())

    def user_rows(self, rows):
        """The training rows ``rows`` as the loaders give them (with their history offsets), for
        ``AlignmentTarget.row_user_vectors``."""
        batch = self.train_rows[rows.cpu()]
        if self.row_offsets is not None:
            batch.update(type(batch)({HISTORY_OFFSET: self.row_offsets[rows.cpu()]}))
        return batch

    def size(self, kind):
        return len(self.pairs[kind])

    def sample(self, kind, batch_size, rng):
        data = self.pairs[kind]
        rows = rng.choice(len(data), size=min(batch_size, len(data)), replace=False)
        return torch.as_tensor(data[rows])


def active_kinds(schedule, losses, data):
    """The schedule with kinds that feed no active loss (or have no data) removed; checks the loss names."""
    unknown = sorted(set(losses) - set(ALL_LOSSES))
    if unknown:
        raise ILMConfigError(f"phase1_losses: unknown {unknown}; choose from {list(ALL_LOSSES)}")
    bad = sorted(set(schedule) - set(KIND_LOSSES))
    if bad:
        raise ILMConfigError(f"phase1_schedule: unknown batch kinds {bad}; choose from {list(KIND_LOSSES)}")
    if any(name in losses for name in KIND_LOSSES["item_text"]) and data.size("item_text") < 2:
        raise ILMConfigError(
            "phase1_losses asks for item-text losses (itc/itg/itm) but the dataset has no item text "
            "(check item_text_fields); run item-item/user-item alignment only with phase1_losses: [iic, uic]"
        )
    kinds = [k for k in schedule if any(n in losses for n in KIND_LOSSES[k]) and data.size(k) >= 2]
    for name in losses:
        kind = next(k for k, names in KIND_LOSSES.items() if name in names)
        if kind not in schedule:
            raise ILMConfigError(f"phase1_losses has '{name}' but phase1_schedule never has a '{kind}' batch")
    return kinds


def _text_inputs(target, items):
    lengths = target.text_lengths[items]
    width = int(lengths.max())
    ids = target.text_tokens[items, :width]
    mask = torch.arange(width, device=ids.device)[None, :] < lengths[:, None]
    return ids, mask


def decoder_inputs(ids):
    """The text with BLIP-2's [DEC] token in place of [CLS]: the input of item-grounded generation."""
    dec = ids.clone()
    dec[:, 0] = DEC
    return dec


def _chance(masks, columns):
    a2b, b2a = masks
    return L.contrastive_chance(a2b, b2a) if a2b is not None else math.log(columns)


def batch_losses(target, kind, batch, losses, text_group=None, generator=None, users=None):
    """``({loss name: value}, {loss name: chance level})`` of the active losses for one batch of ``kind``.

    The chance level is the loss of a target that has learnt nothing (``ln`` of the candidates per row for the
    contrastive losses, the entropy of the positive share for ITM; none for ITG), so a loss that does not learn
    is visible next to it. ``text_group[item]`` (a tensor) marks items with identical text, which are never each
    other's negatives (ITC, ITM). ``users``: for a ``user_item`` batch of training rows, the rows' user vectors
    (``[B, d]``); otherwise the user side is the CF user table's row of ``batch[:, 0]``.
    """
    qformer = target.qformer
    temp = qformer.temperature()
    out, chance = {}, {}
    if kind in ("item_item", "user_item"):
        a, b = batch[:, 0], batch[:, 1]
        side_a = target.cf_item[a] if kind == "item_item" else users if users is not None else target.cf_user[a]
        loss_fn, name = (L.iic_loss, "iic") if kind == "item_item" else (L.uic_loss, "uic")
        out[name], *masks = loss_fn(qformer.item_features(side_a), qformer.item_features(target.cf_item[b]),
                                    temp, a, b, return_masks=True)
        chance[name] = _chance(masks, len(batch))
        return out, chance
    items = batch
    cf = target.cf_item[items]
    ids, mask = _text_inputs(target, items)
    group = text_group[items] if text_group is not None else items
    if "itc" in losses or "itm" in losses:
        q, t = qformer.item_features(cf), qformer.text_features(ids, mask)
        if "itc" in losses:
            out["itc"], *masks = L.itc_loss(q, t, temp, group, return_masks=True)
            chance["itc"] = _chance(masks, len(items))
    if "itg" in losses:
        dec = decoder_inputs(ids)
        out["itg"] = L.itg_loss(qformer.generation_logits(cf, dec, mask), dec, mask)
    if "itm" in losses:
        with torch.no_grad():
            sim = L.item_text_similarity(q, t)
            same = group[:, None] == group[None, :]
            neg_text = L.hard_negatives(sim, same, temp, generator)  # per item, a wrong text
            neg_item = L.hard_negatives(sim.t(), same, temp, generator)  # per text, a wrong item
        pos = qformer.matching_logits(cf, ids, mask)
        keep_t, keep_i = neg_text >= 0, neg_item >= 0
        neg_a = qformer.matching_logits(cf[keep_t], ids[neg_text[keep_t]], mask[neg_text[keep_t]])
        neg_b = qformer.matching_logits(cf[neg_item[keep_i]], ids[keep_i], mask[keep_i])
        out["itm"] = L.itm_loss(pos, torch.cat([neg_a, neg_b]))
        chance["itm"] = L.itm_chance(len(pos), len(neg_a) + len(neg_b))
    return out, chance


@torch.no_grad()
def evaluate_alignment(target, eval_items, train_items, batch_size=256, text_group=None):
    """Held-out item->text Recall@1/@10, ITM accuracy and the ITG loss on held-out vs training items.

    ITM accuracy: each held-out item against its own text (should score > 0) and against the held-out text most
    similar to it that is not its own (should score < 0); 0.5 is chance."""
    qformer = target.qformer
    result = {}
    if len(eval_items) == 0:
        return result
    items = torch.as_tensor(eval_items, device=target.cf_item.device)
    q = torch.cat([qformer.item_features(target.cf_item[c]) for c in items.split(batch_size)])
    t = torch.cat([qformer.text_features(*_text_inputs(target, c)) for c in items.split(batch_size)])
    sim = L.item_text_similarity(q, t)
    rank = (sim > sim.diag()[:, None]).sum(dim=1)  # 0 = the item's own text ranks first
    n = len(items)
    result["recall@1"] = float((rank < 1).float().mean())
    result["recall@10"] = float((rank < 10).float().mean())
    result["chance@10"] = min(10, n) / n
    if n > 1:
        group = text_group[items] if text_group is not None else items
        same = group[:, None] == group[None, :]
        hardest = sim.masked_fill(same, float("-inf")).argmax(dim=1)  # the most similar text that is not its own
        has_negative = ~same.all(dim=1)
        correct = []
        for c in torch.arange(n, device=items.device).split(batch_size):
            cf = target.cf_item[items[c]]
            pos = qformer.matching_logits(cf, *_text_inputs(target, items[c]))
            neg = qformer.matching_logits(cf, *_text_inputs(target, items[hardest[c]]))
            correct += (pos > 0).tolist() + (neg[has_negative[c]] < 0).tolist()
        result["itm_acc"] = sum(correct) / len(correct)
    for name, chosen in (("itg_eval", items), ("itg_train", torch.as_tensor(train_items, device=items.device))):
        total, count = 0.0, 0
        for c in chosen.split(batch_size):
            ids, mask = _text_inputs(target, c)
            dec = decoder_inputs(ids)
            loss = L.itg_loss(qformer.generation_logits(target.cf_item[c], dec, mask), dec, mask)
            total, count = total + float(loss) * len(c), count + len(c)
        result[name] = total / max(count, 1)
    return result
