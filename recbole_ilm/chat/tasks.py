"""Item-grounded text tasks (an ELM-style benchmark built from our own item metadata).

Every prompt refers to items only through item slots (``{0}``, ``{1}`` ... become the item encoder's tokens; the
title is never in the prompt unless ``chat_grounding: metadata`` adds the catalogue entry); every target is written
from the item metadata by a template and names the items it is about (so a model trained on them learns to),
titles first where a sentence can start with them: a small LLM copies a title from the prompt most reliably at the
start of its answer. Items are split into
train / validation / test so that test items were never seen in phase 2.

Metadata convention: ``item_text_fields`` = [title, detail, tags] (ml-100k/ml-1m: title, year, genres;
amazon-beauty: title, brand, categories). ``item_noun`` / ``tag_noun`` name them in prompts (movie / genres).
"""

from collections import Counter
from dataclasses import dataclass

import numpy as np

TASKS = ("describe", "title", "tags", "compare", "common", "taste", "why")


@dataclass
class ItemFacts:
    title: str
    detail: str
    tags: list


@dataclass
class Example:
    task: str
    prompt: str  # with {0}, {1}, ... where item slots go
    items: list
    target: str


def item_facts(dataset, fields):
    """``facts[item_id]`` from the item features (None for items without a title)."""
    from recbole_ilm.chat.catalogue import display_title
    from recbole_ilm.data.item_text import _field_text

    facts = [None] * dataset.item_num
    if not fields or dataset.item_feat is None:
        return facts
    title_f = fields[0]
    detail_f = fields[1] if len(fields) > 1 else None
    tag_f = fields[2] if len(fields) > 2 else None
    for i in range(1, dataset.item_num):
        title = _field_text(dataset, title_f, i).strip()
        if not title:
            continue
        detail = _field_text(dataset, detail_f, i).strip() if detail_f else ""
        raw = _field_text(dataset, tag_f, i).strip() if tag_f else ""
        tags = [t.strip() for t in (raw.split("|") if "|" in raw else raw.split()) if t.strip()]
        facts[i] = ItemFacts(display_title(title), detail, tags)
    return facts


def _named(f):
    return f"{f.title} ({f.detail})" if f.detail else f.title


def _tags(f, noun):
    return f"{', '.join(t.lower() for t in f.tags)} {noun}" if f.tags else f"{noun}"


GROUNDED_TASKS = ("describe", "compare", "common", "taste", "why")  # "title" and "tags" would read the answer


def ground(prompt, items, facts, tag_noun="tags"):
    """``chat_grounding: metadata`` (retrieve, then respond): after each item slot ``{k}`` the item's own catalogue
    entry as text, e.g. ``{0} (Fargo, 1996; genres: Crime, Drama)``; no other item's metadata enters the prompt."""
    for k, item in enumerate(items):
        f = facts[item]
        if f is None:
            continue
        entry = _named(f).replace("{", "(").replace("}", ")")
        if f.tags:
            entry += f"; {tag_noun}: {', '.join(f.tags)}"
        prompt = prompt.replace(f"{{{k}}}", f"{{{k}}} ({entry})", 1)
    return prompt


class TaskWriter:
    """Prompts and metadata-written targets for each task; ``grounding="metadata"`` adds the items' catalogue
    entries to the prompts of :data:`GROUNDED_TASKS` (``tokens_only``: item tokens alone, the paper's setting)."""

    def __init__(self, facts, item_noun="item", tag_noun="tags", grounding="tokens_only"):
        self.facts, self.noun, self.tag_noun, self.grounding = facts, item_noun, tag_noun, grounding

    def example(self, task, items):
        example = self._example(task, items)
        if self.grounding == "metadata" and task in GROUNDED_TASKS:
            example.prompt = ground(example.prompt, items, self.facts, self.tag_noun)
        return example

    def _example(self, task, items):
        f = [self.facts[i] for i in items]
        n = self.noun
        if task == "describe":
            return Example(task, f"Describe the {n} {{0}}.", items, f"{_named(f[0])} is a {_tags(f[0], n)}.")
        if task == "title":
            return Example(task, f"What is the title of the {n} {{0}}?", items, f[0].title)
        if task == "tags":
            tags = ", ".join(f[0].tags) if f[0].tags else "none listed"
            return Example(task, f"Which {self.tag_noun} does the {n} {{0}} have?", items, f"{tags}.")
        if task == "compare":
            return Example(task, f"Compare the {n}s {{0}} and {{1}}.", items,
                           f"{_named(f[0])} is a {_tags(f[0], n)}, while {_named(f[1])} is a {_tags(f[1], n)}.")
        if task == "common":
            shared = [t for t in f[0].tags if t in f[1].tags]
            target = (f"{f[0].title} and {f[1].title} are both {', '.join(t.lower() for t in shared)} {n}s."
                      if shared else
                      f"Not much: {f[0].title} is a {_tags(f[0], n)} and {f[1].title} is a {_tags(f[1], n)}.")
            return Example(task, f"What do the {n}s {{0}} and {{1}} have in common?", items, target)
        if task == "taste":
            counts = Counter(t for x in f for t in x.tags)
            top = [t.lower() for t, _ in counts.most_common(2)]
            liked = f"{' and '.join(top)} {n}s" if top else f"{n}s"
            return Example(task, "A user enjoyed {0}, {1} and {2}. Summarise their taste.", items,
                           f"They like {f[0].title}, {f[1].title} and {f[2].title}: {liked}.")
        if task == "why":
            shared = [t for t in f[2].tags if any(t in x.tags for x in f[:2])]
            if shared:
                like = next(x for x in f[:2] if shared[0] in x.tags)
                target = f"{f[2].title} is a {shared[0].lower()} {n}, like {like.title}."
            else:
                target = f"{f[2].title} would add a {_tags(f[2], n)} to what they already like."
            return Example(task, f"Someone enjoyed {{0}} and {{1}}. Why might they like the {n} {{2}}?", items,
                           target)
        raise ValueError(f"unknown task {task}")


def split_items(facts, seed, ratios=(0.8, 0.1, 0.1)):
    """Items with metadata split into train / valid / test id arrays."""
    items = np.asarray([i for i, f in enumerate(facts) if f is not None])
    items = np.random.default_rng(seed).permutation(items)
    a = int(len(items) * ratios[0])
    b = a + int(len(items) * ratios[1])
    return np.sort(items[:a]), np.sort(items[a:b]), np.sort(items[b:])


def make_examples(writer, items, rng, per_item=1, tasks=TASKS):
    """For each item and task, ``per_item`` examples whose items all come from ``items`` (the given split)."""
    out = []
    need = {"describe": 1, "title": 1, "tags": 1, "compare": 2, "common": 2, "taste": 3, "why": 3}
    for task in tasks:
        for i in items:
            for _ in range(per_item):
                others = rng.choice(items[items != i], size=need[task] - 1, replace=False).tolist() \
                    if need[task] > 1 and len(items) >= need[task] else []
                if len(others) != need[task] - 1:
                    continue
                chosen = ([int(i)] + others) if task in ("describe", "title", "tags", "compare", "common") \
                    else others + [int(i)]
                out.append(writer.example(task, chosen))
    return out
