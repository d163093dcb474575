"""Chat prompts with item slots for a frozen instruction-tuned LLM (e.g. SmolLM2), on top of a plugin model.

The plugin model (ILM or MLPAdapter, built with ``llm_path``) supplies the frozen LLM and the item encoder; this
class renders chat-template prompts whose ``{k}`` placeholders become ``num_query_tokens`` item slots, computes the
target-token loss, scores log-perplexity and generates greedily. A prompt without placeholders is passed to the
LLM unchanged (its own token embeddings), so the LLM's behaviour on plain text is exactly the base model's.
"""

import re

import numpy as np
import torch
import torch.nn.functional as F

from recbole_ilm.errors import ILMConfigError
from recbole_ilm.llm.backbone import new_cache, prompt_positions, run_llm

SYSTEM = "You are a helpful recommendation assistant."
_MARK = re.compile(r"\{(\d+)\}")


class ItemChatLM:
    def __init__(self, recommender, system=SYSTEM):
        if getattr(recommender, "token_gate", None) is not None:
            raise ILMConfigError("item_token_input: add adds item tokens to the ids of retrieval prompts; the chat "
                                 "puts them in slots of its own prompts: train the chat model with item_token_input: "
                                 "insert")
        self.rec = recommender
        self.tok = recommender.prompts.tokenizer.tok
        self.slot_id = recommender.prompts.tokenizer.slot_id
        self.pad_id = recommender.prompts.tokenizer.pad_id
        self.end_ids = [self.tok.convert_tokens_to_ids(t) for t in ("<|im_end|>",) if t in self.tok.get_vocab()]
        if not self.end_ids and self.tok.eos_token_id is not None:
            self.end_ids = [self.tok.eos_token_id]
        self.system = system

    @property
    def device(self):
        return self.rec.device

    # ------------------------------------------------------------------ prompts
    def render(self, prompt, items):
        """``(ids, slot_item, slot_rank)`` arrays for a user turn with item placeholders."""
        messages = [{"role": "system", "content": self.system}, {"role": "user", "content": prompt}]
        text = self.tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        n = self.rec.num_slots
        ids, owner, rank = [], [], []
        pos = 0
        for match in _MARK.finditer(text):
            piece = self.tok(text[pos : match.start()], add_special_tokens=False)["input_ids"]
            ids += piece
            owner += [0] * len(piece)
            rank += [-1] * len(piece)
            ids += [self.slot_id] * n
            owner += [items[int(match.group(1))]] * n
            rank += list(range(n))
            pos = match.end()
        tail = self.tok(text[pos:], add_special_tokens=False)["input_ids"]
        return ids + tail, owner + [0] * len(tail), rank + [-1] * len(tail)

    def target_ids(self, target):
        return self.tok(target, add_special_tokens=False)["input_ids"] + self.end_ids[:1]

    def batch(self, examples, with_targets=True):
        rows = [self.render(e.prompt, e.items) for e in examples]
        targets = [self.target_ids(e.target) for e in examples] if with_targets else [[] for _ in examples]
        width = max(len(r[0]) + len(t) for r, t in zip(rows, targets))
        b = len(rows)
        out = {k: np.zeros((b, width), dtype=np.int64) for k in ("ids", "mask", "item", "rank", "labels")}
        out["ids"].fill(self.pad_id)
        out["rank"].fill(-1)
        out["labels"].fill(-100)
        for k, ((ids, owner, rank), tgt) in enumerate(zip(rows, targets)):
            full = ids + tgt
            start = width - len(full)
            out["ids"][k, start:] = full
            out["mask"][k, start:] = 1
            out["item"][k, start : start + len(ids)] = owner
            out["rank"][k, start : start + len(ids)] = rank
            out["labels"][k, width - len(tgt) :] = tgt
        t = {k: torch.from_numpy(v).to(self.device) for k, v in out.items()}
        return {"prompt_ids": t["ids"], "prompt_mask": t["mask"], "prompt_slot_item": t["item"],
                "prompt_slot_user": torch.zeros_like(t["item"]), "prompt_slot_rank": t["rank"], "labels": t["labels"]}

    # ------------------------------------------------------------------ training / scoring
    def token_nll(self, batch):
        """Per-example mean negative log-likelihood of the target tokens, ``[B]``."""
        embeds = self.rec.embed_prompt(batch)
        logits = run_llm(self.rec.llm, embeds, batch["prompt_mask"], prompt_positions(batch["prompt_mask"]))
        labels = batch["labels"][:, 1:]
        nll = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels.flatten(), ignore_index=-100,
                              reduction="none").view(labels.shape)
        counts = (labels != -100).sum(dim=1).clamp(min=1)
        return nll.sum(dim=1) / counts

    def loss(self, examples):
        return self.token_nll(self.batch(examples)).mean()

    @torch.no_grad()
    def log_perplexity(self, examples):
        return self.token_nll(self.batch(examples)).tolist()

    @torch.no_grad()
    def generate(self, prompts, items_list, max_new_tokens=40, decoding=None, facts=None, about=None):
        """Continuations (strings) for a batch of item-slot prompts: greedy, or with ``decoding``
        (:class:`~recbole_ilm.chat.decoding.Decoding`) copying the catalogue titles (``facts``) each prompt shows
        and favouring those of its ``about`` items (default: its slot items)."""
        from recbole_ilm.chat.decoding import row_decoders
        from recbole_ilm.chat.tasks import Example

        batch = self.batch([Example("chat", p, list(i), "") for p, i in zip(prompts, items_list)],
                           with_targets=False)
        rows = None
        if decoding is not None:
            encode = lambda text: self.tok(text, add_special_tokens=False)["input_ids"]  # noqa: E731
            rows = row_decoders(encode, self.tok.decode, prompts, items_list, about, facts, decoding, self.end_ids)
        mask = batch["prompt_mask"]
        embeds = self.rec.embed_prompt(batch)
        cache = new_cache(self.rec.llm)
        logits = run_llm(self.rec.llm, embeds, mask, prompt_positions(mask), cache, keep=1)[:, -1]
        last = prompt_positions(mask)[:, -1]
        out = [[] for _ in prompts]
        done = [False] * len(prompts)
        for step in range(max_new_tokens):
            token = logits.argmax(dim=-1).tolist()
            for k in range(len(prompts)):
                if done[k]:
                    continue
                if rows is not None:
                    token[k] = rows[k].step(logits[k].float())
                if token[k] in self.end_ids:
                    done[k] = True
                else:
                    out[k].append(token[k])
            if all(done):
                break
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            step_embeds = self.rec.llm.get_input_embeddings()(torch.tensor(token, device=self.device).unsqueeze(1))
            logits = run_llm(self.rec.llm, step_embeds, mask, (last + 1 + step).unsqueeze(1), cache, keep=1)[:, -1]
        return [self.tok.decode(ids, skip_special_tokens=True).strip() for ids in out]


def load_chat_model(path, checkpoint=None):
    """``(config, dataset, ItemChatLM, retrieval checkpoint or None)`` from a chat checkpoint (the LLM's weights come
    from ``llm_path``); ``checkpoint``: its contents when the caller has read them already."""
    from recbole_ilm.data.dataset import create_dataset, data_preparation
    from recbole_ilm.checkpoint_io import read_checkpoint
    from recbole_ilm.quick_start import config_from_checkpoint
    from recbole_ilm.lookup import get_model

    checkpoint = read_checkpoint(path) if checkpoint is None else checkpoint
    if checkpoint.get("kind") != "chat":
        raise ILMConfigError(f"--checkpoint: '{path}' is not a chat checkpoint; make one with "
                             f"python -m recbole_ilm.experiments.chat_train -d <dataset> (an ILM retrieval checkpoint goes "
                             f"to --retrieval)")
    config = config_from_checkpoint(checkpoint)
    train, _, _ = data_preparation(config, create_dataset(config))
    model = get_model(config["model"])(config, train._dataset)
    missing, unexpected = model.load_state_dict(checkpoint["state_dict"], strict=False)
    if unexpected or any(not k.startswith("llm.") for k in missing):
        raise ILMConfigError(f"--checkpoint: '{path}' does not fit {config['model']} as configured "
                             f"(unexpected {unexpected[:3]}, missing {[k for k in missing if 'llm.' not in k][:3]})")
    model.eval()
    return config, train._dataset, ItemChatLM(model), checkpoint.get("retrieval_checkpoint")
