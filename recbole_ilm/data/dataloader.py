"""RecBole dataloaders that attach prompt tensors (see :mod:`recbole_ilm.data.prompts`) to every batch.

Training batches draw a task and a seen template per example (numpy generator seeded from ``seed``); evaluation
batches use the fixed layout chosen by ``eval_task`` / ``eval_template``. ``train_sample_ratio`` < 1 makes an
epoch the first share of the shuffled training rows (a fresh random subset each epoch). The RecBole fields stay untouched, so the
same batches still work for RecBole's evaluator.
"""

import itertools
import math

import numpy as np
import torch
from recbole.data.dataloader import FullSortEvalDataLoader, TrainDataLoader
from recbole.data.interaction import Interaction

from recbole_ilm.data.history import HISTORY_OFFSET


def _with_offsets(interaction, offsets, index):
    """``user_tokens: full_history`` / ``fold_in``: each row's count of its user's items before its history window."""
    if offsets is not None:
        interaction.update(Interaction({HISTORY_OFFSET: torch.as_tensor(offsets[np.asarray(index)])}))
    return interaction


class PromptTrainDataLoader(TrainDataLoader):
    """``history_offsets``: per row of ``dataset`` (:func:`recbole_ilm.data.history.history_offsets`), attached to
    every batch as ``history_offset``; None leaves the field out."""

    def __init__(self, config, dataset, sampler, prompt_builder, with_slots, shuffle=False, history_offsets=None):
        self.prompt_builder = prompt_builder
        self.with_slots = with_slots
        self.history_offsets = history_offsets
        self.layout_rng = np.random.default_rng(config["seed"])
        super().__init__(config, dataset, sampler, shuffle=shuffle)

    def __len__(self):
        full = super().__len__()
        ratio = self.config["train_sample_ratio"]
        return full if ratio is None or ratio >= 1 else max(1, math.ceil(full * ratio))

    def __iter__(self):
        return itertools.islice(super().__iter__(), len(self))

    def collate_fn(self, index):
        interaction = super().collate_fn(index)
        prompts = self.prompt_builder.from_interaction(interaction, self.config, rng=self.layout_rng,
                                                       with_slots=self.with_slots)
        interaction.update(Interaction(prompts))
        return _with_offsets(interaction, self.history_offsets, index)


class PromptFullSortEvalDataLoader(FullSortEvalDataLoader):
    """``eval_group_by_length``: batches of users with histories of about the same length (the rows are visited by
    history length, not in the dataset's order), so a batch's prompts are padded to little more than their own
    length. Metrics do not depend on the order; :func:`in_row_order` puts per-row values back in the dataset's."""

    def __init__(self, config, dataset, sampler, prompt_builder, with_slots, shuffle=False, history_offsets=None):
        self.prompt_builder = prompt_builder
        self.with_slots = with_slots
        self.history_offsets = history_offsets
        super().__init__(config, dataset, sampler, shuffle=shuffle)
        self.row_order = None
        if self.is_sequential and config["eval_group_by_length"]:
            lengths = dataset.inter_feat[dataset.item_list_length_field].numpy()
            self.row_order = np.argsort(lengths, kind="stable")

    def collate_fn(self, index):
        if self.row_order is not None:
            index = self.row_order[np.asarray(index, dtype=np.int64)]
        interaction, history_index, positive_u, positive_i = super().collate_fn(index)
        prompts = self.prompt_builder.from_interaction(interaction, self.config, with_slots=self.with_slots)
        interaction.update(Interaction(prompts))
        return _with_offsets(interaction, self.history_offsets, index), history_index, positive_u, positive_i


def in_row_order(loader, values):
    """``values`` (one per row, collected over ``loader``'s batches in order) in the dataset's row order."""
    order = getattr(loader, "row_order", None)
    if order is None:
        return values
    restored = np.empty_like(values)
    restored[order] = values
    return restored
