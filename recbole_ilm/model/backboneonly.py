"""BackboneOnly: the frozen pretrained backbone on text-only prompts (ids, no embeddings); the paper's OpenP5-R.

It has no trainable part after phase 0: its test result is the pretrained backbone's."""

from recbole_ilm.model.base import FrozenLLMRecommender


class BackboneOnly(FrozenLLMRecommender):
    uses_item_slots = False

    def build_item_encoder(self, config, dataset):
        return None

    def encode_entities(self, cf):  # pragma: no cover - never called: prompts have no slots
        raise RuntimeError("BackboneOnly has no item tokens")
