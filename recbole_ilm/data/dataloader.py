"""RecBole dataloaders that attach prompt tensors (see :mod:`recbole_ilm.data.prompts`) to every batch.

Training batches draw a task and a seen template per example (numpy generator seeded from ``seed``); evaluation
batches use the fixed layout chosen by ``eval_task`` / ``eval_template``. ``train_sample_ratio`` < 1 makes an
epoch the first share of the shuffled training rows (a fresh random subset each epoch). The RecBole fields stay untouched, so the
same batches still work for RecBole's evaluator.
"""

import itertools
import math

import numpy as np
from recbole.data.dataloader import FullSortEvalDataLoader, TrainDataLoader
from recbole.data.interaction import Interaction


class PromptTrainDataLoader(TrainDataLoader):
    def __init__(self, config, dataset, sampler, prompt_builder, with_slots, shuffle=False):
        self.prompt_builder = prompt_builder
        self.with_slots = with_slots
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
        return interaction


class PromptFullSortEvalDataLoader(FullSortEvalDataLoader):
    def __init__(self, config, dataset, sampler, prompt_builder, with_slots, shuffle=False):
        self.prompt_builder = prompt_builder
        self.with_slots = with_slots
        super().__init__(config, dataset, sampler, shuffle=shuffle)

    def collate_fn(self, index):
        interaction, history_index, positive_u, positive_i = super().collate_fn(index)
        prompts = self.prompt_builder.from_interaction(interaction, self.config, with_slots=self.with_slots)
        interaction.update(Interaction(prompts))
        return interaction, history_index, positive_u, positive_i
