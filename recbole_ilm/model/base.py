"""Shared RecBole model for "frozen LLM reads id text + item tokens, answers with an item id".

Subclasses only choose the item encoder (what turns a CF embedding into ``num_query_tokens`` LLM-width tokens):
a Q-Former + linear adaptor (ILM), a 2-layer MLP (MLPAdapter), or none (BackboneOnly).

Phases (driven by :class:`recbole_ilm.trainer.ILMTrainer`):

* ``phase = 0``: the LLM itself trains as a plain causal LM on text-only prompts (the backbone pretraining);
* ``phase = 2``: the LLM is frozen; only the item encoder trains, on the next-token loss of the target id
  (``retrieval_head: generative``, the paper's) or on cross-entropy over the catalogue through the item-token head
  (``retrieval_head: item_tokens``, :mod:`recbole_ilm.retrieval.item_head`), or on cross-entropy over the
  catalogue of the sum of both scores (``retrieval_head: hybrid``: the id's exact log-likelihood plus the head).
"""

import torch
import torch.nn.functional as F
from recbole.model.abstract_recommender import SequentialRecommender
from recbole.utils import InputType

from recbole_ilm.cf import get_cf_embeddings, normalised_table
from recbole_ilm.data.item_text import item_text_embeddings
from recbole_ilm.data.prompt_cache import get_prompt_builder
from recbole_ilm.errors import ILMConfigError
from recbole_ilm.retrieval.interleave import interleave
from recbole_ilm.retrieval.user_tokens import register_user_token_buffers, row_user_vectors
from recbole_ilm.llm.backbone import (build_backbone, freeze, last_hidden_state, load_causal_lm, prompt_positions,
                                      run_llm)
from recbole_ilm.retrieval.distill import check_user_teacher, on_device
from recbole_ilm.retrieval.head_loss import head_loss
from recbole_ilm.retrieval.item_head import ItemTokenHead, check_head_options, shared_prefix
from recbole_ilm.retrieval.score_fusion import fused, log_popularity
from recbole_ilm.retrieval.scoring import IdTrie, beam_search, item_log_likelihoods, score_all_items


def causal_lm_loss(logits, ids, mask):
    """Next-token cross-entropy where both the input position and the predicted token are real (left padding:
    the last pad position must not learn to predict BOS)."""
    real = mask.bool()
    labels = ids[:, 1:].masked_fill(~(real[:, :-1] & real[:, 1:]), -100)
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels.flatten(), ignore_index=-100)


class FrozenLLMRecommender(SequentialRecommender):
    input_type = InputType.POINTWISE
    uses_prompts = True
    uses_item_slots = True

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.config = config
        self.prompts = get_prompt_builder(config, dataset)
        if config["llm_path"]:
            self.llm = load_causal_lm(config["llm_path"])
        else:
            self.llm = build_backbone(config, self.prompts.tokenizer)
        vocab = self.llm.get_input_embeddings().weight.shape[0]
        if vocab < self.prompts.tokenizer.vocab_size:
            raise ILMConfigError(f"llm_path: the LLM has {vocab} input embeddings but its tokenizer "
                                 f"{self.prompts.tokenizer.vocab_size} tokens")
        self.llm_width = self.llm.get_input_embeddings().weight.shape[1]
        self._check_context(config)
        self.trie = IdTrie(self.prompts.item_tokens)
        self.num_slots = config["num_query_tokens"]
        if self.uses_item_slots:
            users, items = get_cf_embeddings(config, dataset)
            self.register_buffer("cf_user", normalised_table(users))
            self.register_buffer("cf_item", normalised_table(items))
            self.cf_dim = self.cf_item.shape[1]
            register_user_token_buffers(self, config, dataset, users, items)
        self.item_encoder = self.build_item_encoder(config, dataset)
        self.token_gate = None  # item_token_input: add: zero at the start, so phase 2 starts as the backbone
        if self.item_encoder is not None and config["item_token_input"] == "add":
            self.token_gate = torch.nn.Parameter(torch.zeros(self.llm_width))
        self.item_head = self._build_item_head(config, dataset)
        if self.item_head is not None:  # popularity_prior's log(1 + count), from the training split the model is
            # built on; not saved (rebuilt on load), so a checkpoint can be evaluated with any popularity_prior
            self.register_buffer("log_popularity", log_popularity(dataset), persistent=False)
        self.phase = 2
        self.meter = None  # set by the trainer while it measures throughput (examples and tokens seen)
        self.teacher = self.user_teacher = None  # set by the trainer for distillation; never submodules
        self.__dict__["_item_tokens_memo"] = None
        freeze(self.llm)

    def set_teacher(self, teacher, user_teacher=None):
        """Frozen RecBole models that phase 2 distils (:mod:`recbole_ilm.retrieval.distill`): ``teacher``'s
        catalogue scores (distill_weight) and ``user_teacher``'s user vector (distill_user_weight: the cf_checkpoint
        model, checked against this model's CF table); kept out of the module tree, neither trained nor saved."""
        if user_teacher is not None:
            check_user_teacher(self.config, user_teacher, self.cf_item)
        for name, model in (("teacher", teacher), ("user_teacher", user_teacher)):
            self.__dict__[name] = None if model is None else on_device(model, self.device)

    def _check_context(self, config):
        """Refuse, before any training, prompts longer than the LLM's context."""
        longest = self.prompts.max_prompt_length(config["MAX_ITEM_LIST_LENGTH"], self.uses_item_slots)
        context = getattr(self.llm.config, "max_position_embeddings", None)
        if context is not None and longest > context:
            raise ILMConfigError(
                f"prompts reach {longest} tokens (MAX_ITEM_LIST_LENGTH={config['MAX_ITEM_LIST_LENGTH']}, "
                f"num_query_tokens={config['num_query_tokens']}) but the LLM's context is {context} "
                f"(llm_max_positions / the model's max_position_embeddings); lower MAX_ITEM_LIST_LENGTH or "
                f"num_query_tokens, or raise llm_max_positions"
            )

    def _build_item_head(self, config, dataset):
        """The item-token output head (``retrieval_head: item_tokens`` or ``hybrid``), or None (generative)."""
        head = config["retrieval_head"]
        self.hybrid = head == "hybrid"
        check_head_options(config)
        if head == "generative":
            return None
        if self.item_encoder is None:
            raise ILMConfigError(f"retrieval_head: {head} scores items with their item tokens, but "
                                 f"{type(self).__name__} has none; use retrieval_head: generative (or ILM / "
                                 f"MLPAdapter)")
        prefix = shared_prefix(self.prompts.item_tokens)
        if self.hybrid and len(prefix) != 1:
            raise ILMConfigError(f"retrieval_head: hybrid needs item ids that all start with one shared token "
                                 f"(the plugin's tokenizer: item_); these share {len(prefix)}")
        self.register_buffer("answer_prefix", prefix, persistent=False)
        text = item_text_embeddings(config, dataset) if config["item_head_text"] else None
        head = ItemTokenHead(self.llm_width, self.cf_item.shape[0] if config["item_head_id_embedding"] else 0, text,
                             self.cf_dim if config["item_head_cf"] else 0)
        if self.hybrid:  # starts as generative retrieval exactly; the head learns what the ids miss
            torch.nn.init.zeros_(head.proj.weight)
        return head

    # ------------------------------------------------------------------ subclass hooks
    def build_item_encoder(self, config, dataset):
        """The trainable module of phase 2 (None when the model has no item tokens)."""
        raise NotImplementedError

    def encode_entities(self, cf):
        """CF embeddings ``[U, d]`` -> LLM-width tokens ``[U, num_query_tokens, D]``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ phases
    def phases(self):
        """The training phases this model goes through (run in order by ILMTrainer): 0 backbone, 2 retrieval
        (only with an item encoder); ILM adds 1, alignment."""
        return (0, 2) if self.item_encoder is not None else (0,)

    def starts_as_backbone(self):
        """Phase 2 starts exactly as the text-only phase-0 backbone: item tokens added through the zero gate and no
        head of their own (generative) or one that starts at zero (hybrid)."""
        return self.token_gate is not None and (self.item_head is None or self.hybrid)

    def set_phase(self, phase):
        """0: the LLM trains (backbone pretraining); otherwise the LLM is frozen."""
        self.phase = phase
        if phase == 0:
            self.llm.requires_grad_(True)
            self.llm.train()
        else:
            freeze(self.llm)

    def train(self, mode=True):
        super().train(mode)
        if self.phase != 0:
            self.llm.eval()  # frozen: never in training mode
        return self

    def trainable_parameters(self):
        if self.phase == 0:
            return [p for p in self.llm.parameters()]
        heads = [m for m in (self.item_encoder, self.item_head) if m is not None]
        gate = [] if self.token_gate is None else [self.token_gate]
        return [p for m in heads for p in m.parameters()] + gate

    # ------------------------------------------------------------------ inputs
    def _prompt_batch(self, interaction):
        if "prompt_ids" not in interaction:  # e.g. RecBole's case_study helpers build plain interactions
            with_slots = self.uses_item_slots and self.phase != 0
            batch = self.prompts.from_interaction(interaction, self.config, with_slots=with_slots)
            batch[self.ITEM_SEQ] = interaction[self.ITEM_SEQ]  # user_tokens: history reads the row's history
            return {k: v.to(self.device) for k, v in batch.items()}
        return interaction

    def embed_prompt(self, batch, item_tokens=None):
        """Prompt embeddings with the item/user tokens in their slots (``item_tokens``: all items' tokens, already
        encoded, ``[n + 1, N, D]``; otherwise the slots' items are encoded here)."""
        text = self.llm.get_input_embeddings()(batch["prompt_ids"])
        if not self.uses_item_slots:
            return text
        items = (lambda ids: item_tokens[ids]) if item_tokens is not None else (
            lambda ids: self.encode_entities(self.cf_item[ids]))
        slot_user, users = batch["prompt_slot_user"], lambda ids: self.encode_entities(self.cf_user[ids])
        vectors = row_user_vectors(self, batch) if bool((slot_user > 0).any()) else None
        if vectors is not None:  # one CF vector per row, so the slots name the row (1-based), not the user
            rows = torch.arange(1, slot_user.shape[0] + 1, device=slot_user.device).unsqueeze(1)
            slot_user, users = torch.where(slot_user > 0, rows, 0), lambda ids: self.encode_entities(vectors[ids - 1])
        return interleave(text, batch["prompt_slot_item"], slot_user, batch["prompt_slot_rank"], items, users,
                          self.token_gate)

    def evaluation_item_tokens(self):
        """While evaluating (eval mode, no grad): every item's tokens ``[n + 1, N, D]``, encoded once and reused until
        an item-encoder weight changes (tensor version counters), not once per batch of users. None otherwise."""
        if self.training or torch.is_grad_enabled() or not self.uses_item_slots:
            return None
        key = (self.phase, self.cf_item.device, torch.is_autocast_enabled(), self.cf_item._version,
               *[p._version for p in self.item_encoder.parameters()])
        if self._item_tokens_memo is None or self._item_tokens_memo[0] != key:
            self.__dict__["_item_tokens_memo"] = (key, self.encode_entities(self.cf_item))
        return self._item_tokens_memo[1]

    def item_head_scores(self, batch, items=None, with_hidden=False):
        """``[B, n + 1]`` item-token head scores of every item (one LLM pass; see ``retrieval_head``); hybrid: plus
        each id's exact log-likelihood (the trie walk, whose first step is the head's answer position). ``items``
        (sorted ids, training with ``item_head_negatives``): only those columns, ``[B, len(items) + 1]``, and only
        their tokens (and the prompts' own) are encoded. ``with_hidden``: ``(scores, answer states [B, D])``."""
        tokens = self.evaluation_item_tokens()
        if tokens is None and items is None:
            tokens = self.encode_entities(self.cf_item)
        table = tokens[1:] if items is None else self.encode_entities(self.cf_item[items])
        ids = torch.arange(1, self.cf_item.shape[0], device=self.cf_item.device) if items is None else items
        mask, out_table = batch["prompt_mask"], self.item_head.item_table(table, ids, self.cf_item[ids])
        if self.hybrid:
            embeds = self.embed_prompt(batch, tokens)
            if self.meter is not None:
                self.meter.add(mask.shape[0], mask.sum())
            log_likelihood, hidden = item_log_likelihoods(self.llm, embeds, mask, self.trie, answer_state=True)
            scores = log_likelihood + self.item_head.scores(hidden, out_table)
            return (scores, hidden) if with_hidden else scores
        prefix = self.answer_prefix.to(mask.device).expand(mask.shape[0], -1)
        mask = torch.cat([mask, torch.ones_like(prefix)], dim=1)
        if self.meter is not None:
            self.meter.add(mask.shape[0], mask.sum())
        prompt_grad = torch.is_grad_enabled() and self.config["item_head_prompt_grad"] is not False
        with torch.set_grad_enabled(prompt_grad):  # False: the answer state is a constant of the head's loss
            embeds = torch.cat([self.embed_prompt(batch, tokens), self.llm.get_input_embeddings()(prefix)], dim=1)
            hidden = last_hidden_state(self.llm, embeds, mask, prompt_positions(mask))
        scores = self.item_head.scores(hidden, out_table)
        return (scores, hidden) if with_hidden else scores

    def head_candidates(self, target):
        """Training with ``item_head_negatives: K``: the batch's targets and K items drawn uniformly (sorted, unique;
        torch's generator, so a resumed run draws the same); None (the whole catalogue) when K is 0 or covers it."""
        k, n = self.config["item_head_negatives"], self.cf_item.shape[0] - 1
        if not k or k >= n:
            return None
        return torch.unique(torch.cat([target, torch.randint(1, n + 1, (k,)).to(target.device)]))

    # ------------------------------------------------------------------ RecBole API
    def calculate_loss(self, interaction):
        batch = self._prompt_batch(interaction)
        if self.phase != 0 and self.item_head is not None:  # cross-entropy over the catalogue (+ distillation)
            return head_loss(self, batch, interaction.to(self.device))
        prompt_embeds = self.embed_prompt(batch)
        target = batch["target_ids"]
        length = target.shape[1]
        embeds = torch.cat([prompt_embeds, self.llm.get_input_embeddings()(target)], dim=1)
        mask = torch.cat([batch["prompt_mask"], torch.ones_like(target)], dim=1)
        if self.meter is not None:
            self.meter.add(mask.shape[0], mask.sum())
        if self.phase == 0:  # causal LM over the whole text-only prompt and answer
            logits = run_llm(self.llm, embeds, mask, prompt_positions(mask))
            return causal_lm_loss(logits, torch.cat([batch["prompt_ids"], target], dim=1), mask)
        logits = run_llm(self.llm, embeds, mask, prompt_positions(mask), keep=length + 1)[:, :-1]
        return F.cross_entropy(logits.flatten(0, 1).float(), target.flatten())

    def backbone_scores(self, interaction):
        """``[B, n + 1]``: the frozen backbone's own log-likelihood of every id, read from the text-only prompt (no
        item tokens): what BackboneOnly scores with the same LLM."""
        batch = self.prompts.from_interaction(interaction, self.config, with_slots=False, with_target=False)
        embeds = self.llm.get_input_embeddings()(batch["prompt_ids"].to(self.device))
        return score_all_items(self.llm, embeds, batch["prompt_mask"].to(self.device), self.trie)

    def full_sort_predict(self, interaction):
        batch = self._prompt_batch(interaction)
        if self.phase != 0 and self.item_head is not None:  # phase 0 validates the backbone's own id likelihood
            weight, prior = self.config["backbone_fusion"], self.config["popularity_prior"]
            return fused(self.item_head_scores(batch), self.backbone_scores(interaction) if weight else None, weight,
                         self.log_popularity, prior)
        embeds = self.embed_prompt(batch, self.evaluation_item_tokens())
        return score_all_items(self.llm, embeds, batch["prompt_mask"], self.trie)

    def predict(self, interaction):
        scores = self.full_sort_predict(interaction)
        return scores.gather(1, interaction[self.ITEM_ID].unsqueeze(1)).squeeze(1)

    def beam_predict(self, interaction, beam_size=10, constrained=True):
        """Item ids ``[B, beam_size]`` from beam search (-1 where an unconstrained beam produced no valid id)."""
        if self.item_head is not None:
            raise ILMConfigError("beam search needs retrieval_head: generative (the item-token head scores all "
                                 "items exactly; use eval_mode: full_sort)")
        batch = self._prompt_batch(interaction)
        return beam_search(self.llm, self.embed_prompt(batch), batch["prompt_mask"], self.trie, beam_size,
                           constrained)
