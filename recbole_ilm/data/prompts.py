"""Turn RecBole's sequential interactions into padded prompt batches for the (frozen) LLM.

A prompt is a template whose ``{user}`` / ``{history}`` placeholders are filled with id tokens, each id followed by
``num_slots`` slot positions where the item encoder's output tokens are inserted later (none for text-only
prompts). With ``item_token_input: add`` no position is inserted: the id's own tokens are marked (slot rank 0) and
the item's tokens are added to their embeddings later, so the prompt is the text-only one. Everything is
pre-tokenized once; a batch is assembled with array gathers, so the target item can only enter a prompt through the
history arrays it is built from.

Batch fields (all ``[B, T]`` and left-padded unless noted):

* ``prompt_ids``: token ids (slot positions hold the tokenizer's slot id, replaced by embeddings later);
* ``prompt_mask``: 1 for real tokens;
* ``prompt_slot_item`` / ``prompt_slot_user``: the internal item / user id whose tokens go at a slot (0 elsewhere);
* ``prompt_slot_rank``: which of the ``num_slots`` query tokens goes there (-1 at non-slot positions; ``add``: 0 at
  the id tokens that receive the item's tokens);
* ``target_ids`` (``[B, L]``): the target item's id tokens (absent when no target is given).
"""

import numpy as np
import torch

from recbole_ilm.data.templates import NUM_SEEN, SEQUENTIAL, STRAIGHTFORWARD, TASKS, TEMPLATES, UNSEEN, split_template
from recbole_ilm.data.tokenizer import id_token_table
from recbole_ilm.errors import ILMConfigError

PROMPT_FIELDS = ("prompt_ids", "prompt_mask", "prompt_slot_item", "prompt_slot_user", "prompt_slot_rank")


class PromptBuilder:
    def __init__(self, tokenizer, item_index, user_index, num_slots, token_input="insert", user_ids=True):
        self.tokenizer = tokenizer
        self.user_ids = bool(user_ids)  # False: the {user} placeholder is left out (prompt_user_id)
        self.token_input = token_input
        self.item_index = item_index
        self.user_index = user_index
        self.num_slots = int(num_slots)
        self.item_tokens = id_token_table(tokenizer, item_index)  # [n_items, L]
        self.user_tokens = id_token_table(tokenizer, user_index)  # [n_users, Lu]
        self.sep = np.asarray(tokenizer.encode_text(","), dtype=np.int64)
        self.bos = [] if tokenizer.bos_id is None or tokenizer.bos_id < 0 else [tokenizer.bos_id]
        self.templates = {task: [self._compile(t) for t in TEMPLATES[task]] for task in TASKS}

    @property
    def target_length(self):
        return self.item_tokens.shape[1]

    def _compile(self, template):
        parts = []
        for part in split_template(template):
            if part in ("{user}", "{history}"):
                parts.append(part)
            else:
                parts.append(np.asarray(self.tokenizer.encode_text(part), dtype=np.int64))
        return parts

    # ----------------------------------------------------------------- one example
    def _id_block(self, tokens, with_slots):
        """Token ids plus slot metadata for a [k, L] block of ids."""
        k, length = tokens.shape
        if with_slots and self.token_input == "add":  # the id's own tokens receive the item's tokens
            return tokens.astype(np.int64), np.zeros((k, length), dtype=np.int64)
        n = self.num_slots if with_slots else 0
        ids = np.concatenate([tokens, np.full((k, n), self.tokenizer.slot_id, dtype=np.int64)], axis=1)
        rank = np.concatenate([np.full((k, length), -1), np.tile(np.arange(n), (k, 1))], axis=1)
        return ids, rank

    def _history(self, items, with_slots):
        ids, rank = self._id_block(self.item_tokens[items], with_slots)
        owner = np.where(rank >= 0, items[:, None], 0)
        s = len(self.sep)
        ids = np.concatenate([ids, np.tile(self.sep, (len(items), 1))], axis=1).reshape(-1)
        rank = np.concatenate([rank, np.full((len(items), s), -1)], axis=1).reshape(-1)
        owner = np.concatenate([owner, np.zeros((len(items), s), dtype=np.int64)], axis=1).reshape(-1)
        return ids[:-s], rank[:-s], owner[:-s]  # no separator after the last item

    def build_one(self, user, history, task, template, with_slots):
        """Arrays (ids, slot_item, slot_user, slot_rank) for one prompt."""
        ids, items, users, ranks = [np.asarray(self.bos, dtype=np.int64)], [], [], []
        items.append(np.zeros(len(self.bos), dtype=np.int64))
        users.append(np.zeros(len(self.bos), dtype=np.int64))
        ranks.append(np.full(len(self.bos), -1))
        for part in self.templates[task][template]:
            if isinstance(part, np.ndarray):
                ids.append(part)
                zeros = np.zeros(len(part), dtype=np.int64)
                items.append(zeros), users.append(zeros), ranks.append(zeros - 1)
            elif part == "{user}":
                if not self.user_ids:
                    continue
                block, rank = self._id_block(self.user_tokens[[user]], with_slots)
                ids.append(block[0]), ranks.append(rank[0]), items.append(np.zeros(block.shape[1], dtype=np.int64))
                users.append(np.where(rank[0] >= 0, user, 0))
            else:
                block, rank, owner = self._history(np.asarray(history, dtype=np.int64), with_slots)
                ids.append(block), ranks.append(rank), items.append(owner)
                users.append(np.zeros(len(block), dtype=np.int64))
        return tuple(np.concatenate(x).astype(np.int64) for x in (ids, items, users, ranks))

    def max_prompt_length(self, max_history, with_slots=True):
        """Longest prompt (plus answer) any template can produce for histories of up to ``max_history`` items."""
        n = self.num_slots if with_slots and self.token_input == "insert" else 0
        user = self.user_tokens.shape[1] + n if self.user_ids else 0
        item = self.item_tokens.shape[1] + n
        history = max_history * item + max(0, max_history - 1) * len(self.sep)
        longest = 0
        for templates in self.templates.values():
            for parts in templates:
                size = sum(len(p) if isinstance(p, np.ndarray) else (user if p == "{user}" else history)
                           for p in parts)
                longest = max(longest, size)
        return len(self.bos) + longest + self.target_length

    # ----------------------------------------------------------------- batches
    def build(self, users, histories, lengths, tasks, templates, targets=None, with_slots=True):
        """Padded batch (dict of tensors, see module doc) for per-example users/histories/tasks/templates."""
        users = np.asarray(users, dtype=np.int64)
        lengths = np.asarray(lengths, dtype=np.int64)
        histories = np.asarray(histories, dtype=np.int64)
        rows = []
        for b in range(len(users)):
            task = tasks[b]
            if task == SEQUENTIAL and lengths[b] < 1:
                raise ILMConfigError(
                    f"a sequential prompt needs at least one history item, but example {b} (user id "
                    f"{int(users[b])}) has item_length 0; give it a history or use eval_task: {STRAIGHTFORWARD}"
                )
            history = histories[b, : lengths[b]] if task == SEQUENTIAL else None
            rows.append(self.build_one(int(users[b]), history, task, int(templates[b]), with_slots))
        t_max = max(len(r[0]) for r in rows)
        out = np.zeros((5, len(rows), t_max), dtype=np.int64)
        out[0].fill(self.tokenizer.pad_id)
        out[4].fill(-1)
        for b, (ids, items, user_slots, ranks) in enumerate(rows):
            n = len(ids)
            out[0, b, t_max - n :] = ids
            out[1, b, t_max - n :] = 1
            out[2, b, t_max - n :] = items
            out[3, b, t_max - n :] = user_slots
            out[4, b, t_max - n :] = ranks
        batch = {name: torch.from_numpy(out[k]) for k, name in enumerate(PROMPT_FIELDS)}
        if targets is not None:
            batch["target_ids"] = torch.from_numpy(self.item_tokens[np.asarray(targets, dtype=np.int64)])
        return batch

    # ----------------------------------------------------------------- layouts
    @staticmethod
    def train_layout(batch_size, rng, task_weights):
        """Random task and seen-template index per training example."""
        names = [t for t in TASKS if task_weights.get(t, 0) > 0]
        if not names:
            raise ILMConfigError(f"train_tasks: give at least one of {list(TASKS)} a positive weight")
        p = np.asarray([task_weights[t] for t in names], dtype=np.float64)
        tasks = [names[i] for i in rng.choice(len(names), size=batch_size, p=p / p.sum())]
        return tasks, rng.integers(0, NUM_SEEN, size=batch_size)

    @staticmethod
    def eval_layout(batch_size, task, template):
        """Fixed task and template for evaluation: the first seen template, or the held-out one."""
        index = UNSEEN if template == "unseen" else 0
        return [task] * batch_size, np.full(batch_size, index)

    def from_interaction(self, interaction, config, rng=None, with_slots=True, with_target=True):
        """Prompt batch for a RecBole interaction; training layout when ``rng`` is given, else the eval layout."""
        users = interaction[config["USER_ID_FIELD"]].cpu().numpy()
        hist = interaction[config["ITEM_ID_FIELD"] + config["LIST_SUFFIX"]].cpu().numpy()
        lengths = interaction[config["ITEM_LIST_LENGTH_FIELD"]].cpu().numpy()
        if rng is not None:
            tasks, templates = self.train_layout(len(users), rng, config["train_tasks"])
        else:
            tasks, templates = self.eval_layout(len(users), config["eval_task"], config["eval_template"])
        targets = None
        if with_target and config["ITEM_ID_FIELD"] in interaction:
            targets = interaction[config["ITEM_ID_FIELD"]].cpu().numpy()
        return self.build(users, hist, lengths, tasks, templates, targets=targets, with_slots=with_slots)

    def decode(self, ids):
        return self.tokenizer.decode(ids)
