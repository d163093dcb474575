"""RecBole dataloaders that attach prompt tensors (see :mod:`recbole_ilm.data.prompts`) to every batch.

Training batches draw a task and a seen template per example (numpy generator seeded from ``seed``); evaluation
batches use the fixed layout chosen by ``eval_task`` / ``eval_template``. ``train_sample_ratio`` < 1 makes an
epoch the first share of the shuffled training rows (a fresh random subset each epoch). ``length_grouping: k`` draws
k batches' worth of shuffled rows at a time, sorts them by prompt length, cuts them into batches and hands those out
in a random order, each trimmed to its own longest prompt: the same rows per epoch with far less padding. The
RecBole fields stay untouched, so the same batches still work for RecBole's evaluator.
"""

import itertools
import math

import numpy as np
import torch
from recbole.data.dataloader import FullSortEvalDataLoader, TrainDataLoader
from recbole.data.interaction import Interaction

from recbole_ilm.data.prompts import PROMPT_FIELDS


class PromptTrainDataLoader(TrainDataLoader):
    def __init__(self, config, dataset, sampler, prompt_builder, with_slots, shuffle=False):
        self.prompt_builder = prompt_builder
        self.with_slots = with_slots
        self.layout_rng = np.random.default_rng(config["seed"])
        self.pool = int(config["length_grouping"] or 1)  # batches drawn together and regrouped by prompt length
        super().__init__(config, dataset, sampler, shuffle=shuffle)

    def _init_batch_size_and_step(self):
        super()._init_batch_size_and_step()
        self.step *= self.pool  # the torch loader hands out pools of `pool` batches (after DDP's split: step // world)

    def __len__(self):
        rows = len(self.batch_sampler.sampler)  # this process's rows per epoch
        full = math.ceil(rows / max(1, self.step // self.pool))
        ratio = self.config["train_sample_ratio"]
        return full if ratio is None or ratio >= 1 else max(1, math.ceil(full * ratio))

    def __iter__(self):
        pools = super().__iter__()
        return itertools.islice(pools if self.pool == 1 else self._regroup(pools), len(self))

    def _regroup(self, pools):
        """Each pool sorted by prompt length, cut into batches, handed out in a random order (``layout_rng``, so a
        resumed run draws the same), each without the padding columns none of its prompts needs."""
        size = max(1, self.step // self.pool)
        for pool in pools:
            order = np.argsort(pool["prompt_mask"].sum(dim=1).numpy(), kind="stable")
            chunks = [order[i:i + size] for i in range(0, len(order), size)]
            for c in self.layout_rng.permutation(len(chunks)):
                yield trim_padding(pool[torch.as_tensor(chunks[c])])

    def collate_fn(self, index):
        interaction = super().collate_fn(index)
        prompts = self.prompt_builder.from_interaction(interaction, self.config, rng=self.layout_rng,
                                                       with_slots=self.with_slots)
        interaction.update(Interaction(prompts))
        return interaction


class PromptFullSortEvalDataLoader(FullSortEvalDataLoader):
    """Evaluation rows in order of history length (longest first), so a batch's prompts need little padding;
    RecBole's metrics are means over rows, so the order does not change them. ``order[p]`` is the dataset row of
    position ``p`` (per-row results are put back in dataset order with it)."""

    def __init__(self, config, dataset, sampler, prompt_builder, with_slots, shuffle=False):
        self.prompt_builder = prompt_builder
        self.with_slots = with_slots
        super().__init__(config, dataset, sampler, shuffle=shuffle)
        lengths = dataset.inter_feat[dataset.item_list_length_field].numpy()
        self.order = np.argsort(-lengths, kind="stable")

    def collate_fn(self, index):
        interaction, history_index, positive_u, positive_i = super().collate_fn(self.order[np.asarray(index)])
        prompts = self.prompt_builder.from_interaction(interaction, self.config, with_slots=self.with_slots)
        interaction.update(Interaction(prompts))
        return interaction, history_index, positive_u, positive_i


def trim_padding(batch):
    """Drop the leading (left-padding) columns that no prompt of ``batch`` uses; positions come from the mask, so
    every prompt's tokens, positions and scores are unchanged."""
    used = batch["prompt_mask"].sum(dim=0).nonzero()
    start = int(used[0]) if len(used) else 0
    if start:
        batch.update(Interaction({k: batch[k][:, start:] for k in PROMPT_FIELDS if k in batch}))
    return batch
