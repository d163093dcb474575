"""MLPAdapter: the CoLLM-style baseline. A 2-layer MLP (hidden = 10x the CF dimension) maps a CF embedding to the
same number of LLM-width tokens as ILM's Q-Former; everything else (frozen LLM, prompts, scoring) is shared."""

import torch.nn as nn

from recbole_ilm.model.base import FrozenLLMRecommender


class MLPAdapter(FrozenLLMRecommender):
    def build_item_encoder(self, config, dataset):
        hidden = config["mlp_hidden_factor"] * self.cf_dim
        return nn.Sequential(
            nn.Linear(self.cf_dim, hidden), nn.GELU(), nn.Linear(hidden, self.num_slots * self.llm_width)
        )

    def encode_entities(self, cf):
        return self.item_encoder(cf).view(cf.shape[0], self.num_slots, self.llm_width)
