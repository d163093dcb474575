"""Scoring a chat model on the item-grounded text tasks (:mod:`recbole_ilm.experiments.chat_train` trains it).

Per task on held-out items: log-perplexity of the target, Semantic Consistency (cosine of all-MiniLM-L6-v2
embeddings of the answer and the target) and factual accuracy against the catalogue
(:mod:`recbole_ilm.chat.facts`); describe / compare / why also as the chat delivers them. ``load_and_evaluate``
scores a saved chat checkpoint without training it.
"""

import time

import numpy as np

from recbole_ilm.chat.facts import FactChecker, summarise
from recbole_ilm.chat.tasks import GROUNDED_TASKS, TASKS, TaskWriter, item_facts, make_examples, split_items
from recbole_ilm.resources import sentence_encoder


def semantic_consistency(generated, targets):
    """Cosine (x100) of sentence embeddings (all-MiniLM-L6-v2, offline) of each answer and its target."""
    encoder = sentence_encoder()
    a = encoder.encode(generated, convert_to_tensor=True, normalize_embeddings=True)
    b = encoder.encode(targets, convert_to_tensor=True, normalize_embeddings=True)
    return ((a * b).sum(dim=1) * 100).tolist()


SUBJECTS = {"compare": slice(None), "common": slice(None), "taste": slice(None)}  # others: the last item


def subjects(example):
    """The items an answer is about: every item for compare/common/taste, the last one otherwise."""
    return list(example.items[SUBJECTS.get(example.task, slice(-1, None))])


def evaluate_chat(label, config, chat, writer, test_items, eval_per_task, max_new_tokens, log=print, decoding=None):
    """Per task on test items: mean target log-perplexity, Semantic Consistency of the answer (greedy, or with
    ``decoding``: :mod:`recbole_ilm.chat.decoding`), and its factual accuracy against the catalogue (title, tag
    precision/recall, year; :mod:`recbole_ilm.chat.facts`)."""
    test_rng = np.random.default_rng(config["seed"] + 1)
    checker = FactChecker(writer.facts)
    say = Speaker(chat, writer.facts, max_new_tokens, decoding)
    results = {}
    for task in TASKS:
        examples = make_examples(writer, test_items, test_rng, tasks=(task,))[:eval_per_task]
        pplx, answers = [], []
        for k in range(0, len(examples), 16):
            chunk = examples[k : k + 16]
            pplx += chat.log_perplexity(chunk)
            answers += say(chunk)
        sc = semantic_consistency(answers, [e.target for e in examples])
        checks = [checker.check(a, subjects(e), e.items) for a, e in zip(answers, examples)]
        facts = summarise(checks)
        results[task] = {"sc": float(np.mean(sc)), "log_pplx": float(np.mean(pplx)), "n": len(examples),
                         "facts": facts,
                         "sample": {"prompt": examples[0].prompt, "target": examples[0].target,
                                    "answer": answers[0]},
                         "answers": [{"items": [int(i) for i in e.items], "prompt": e.prompt, "target": e.target,
                                      "answer": a, "check": c} for a, e, c in zip(answers, examples, checks)]}
        log(f"  {label} {task}: SC {results[task]['sc']:.2f}  log-pplx {results[task]['log_pplx']:.4f}  "
            f"title {_pct(facts['title'])}  tag precision {_pct(facts['tag_precision'])}  "
            f"tag recall {_pct(facts['tag_recall'])}  year {_pct(facts['year'])}")
        if task in DELIVERED_TASKS:
            results[task]["delivered"] = _delivered(task, examples, answers, say, writer, checker)
            d = results[task]["delivered"]
            log(f"  {label} {task} as the chat delivers it: SC {d['sc']:.2f}  title {_pct(d['facts']['title'])}  "
                f"tag precision {_pct(d['facts']['tag_precision'])}  LLM sentence kept {_pct(d['kept'])}")
    for row, tasks in (("all", TASKS), ("grounded", GROUNDED_TASKS)):  # grounded: the tasks metadata can ground
        results[row] = {"sc": float(np.mean([results[t]["sc"] for t in tasks])),
                        "log_pplx": float(np.mean([results[t]["log_pplx"] for t in tasks])),
                        "facts": {c: _mean([results[t]["facts"][c] for t in tasks])
                                  for c in ("title", "tag_precision", "tag_recall", "year")}}
    said = [results[t]["delivered"] for t in DELIVERED_TASKS]  # what the chat says: its three item answers
    results["delivered"] = {"sc": float(np.mean([d["sc"] for d in said])),
                            "kept": float(np.mean([d["kept"] for d in said])),
                            "facts": {c: _mean([d["facts"][c] for d in said]) for c in ("title", "tag_precision",
                                                                                          "tag_recall", "year")}}
    return results


DELIVERED_TASKS = ("describe", "compare", "why")  # what the chat itself answers (python -m recbole_ilm.chat)


class Speaker:
    """Answers for a list of examples, 16 at a time: greedy, or with ``decoding`` (titles copied from each prompt,
    :func:`~recbole_ilm.chat.decoding.prompt_titles`; the subjects of :func:`subjects` favoured)."""

    def __init__(self, chat, facts, max_new_tokens, decoding=None):
        self.chat, self.facts, self.max_new_tokens, self.decoding = chat, facts, max_new_tokens, decoding

    def __call__(self, examples, prompts=None, items=None, about=None):
        prompts = prompts or [e.prompt for e in examples]
        items = items or [e.items for e in examples]
        about = about or [subjects(e) for e in examples]
        answers = []
        for k in range(0, len(examples), 16):
            part = slice(k, k + 16)
            answers += self.chat.generate(prompts[part], items[part], self.max_new_tokens, self.decoding,
                                          self.facts, about[part])
        return answers


def _delivered(task, examples, answers, say, writer, checker):
    """The answers the chat gives for these examples' items: describe / compare from the same prompts, why from
    the chat's own evidence prompt; each kept when it holds against the catalogue, else replaced by the facts
    (:meth:`~recbole_ilm.chat.grounding.Evidence.delivered`). Scored like the LLM's answers, plus the share of
    answers where the LLM's own sentence was kept."""
    from recbole_ilm.chat.grounding import Evidence
    from recbole_ilm.chat.tasks import ground

    evidence = Evidence(writer.facts, say.chat.rec.cf_item.cpu().numpy(), writer.noun, writer.tag_noun)
    if task == "why":
        prompts = [evidence.why_prompt(e.items[-1], e.items[:-1]) for e in examples]
        if writer.grounding == "metadata":
            prompts = [ground(p, [e.items[-1]], writer.facts, writer.tag_noun) for p, e in zip(prompts, examples)]
        items = [[e.items[-1]] for e in examples]
        answers = say(examples, prompts, items, items)
    said = [evidence.delivered(task, a, e.items) for a, e in zip(answers, examples)]
    return {"sc": float(np.mean(semantic_consistency(said, [e.target for e in examples]))),
            "facts": summarise([checker.check(a, subjects(e), e.items) for a, e in zip(said, examples)]),
            "kept": float(np.mean([d == a.strip() for d, a in zip(said, answers)])),
            "sample": {"answer": answers[0], "delivered": said[0]}}


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def scored_items(writer, config, which="test"):
    """The items answers are scored on: the test items, or the validation items (to choose options on); never
    the items the chat was trained on (:func:`~recbole_ilm.chat.tasks.split_items`)."""
    _, valid, test = split_items(writer.facts, config["seed"])
    return test if which == "test" else valid


def load_and_evaluate(path, eval_per_task, max_new_tokens, log, decoding=None, eval_items="test"):
    """A saved chat checkpoint evaluated as :func:`train_and_evaluate` evaluates a freshly trained one (same items,
    same examples: the checkpoint's config and seed). Returns ``(config, label, results, info)``."""
    from recbole_ilm.chat.model import load_chat_model
    from recbole_ilm.checkpoint_io import read_checkpoint

    start = time.time()
    checkpoint = read_checkpoint(path)
    label = checkpoint.get("label") or "ILM"
    config, dataset, chat, _ = load_chat_model(path, checkpoint)
    writer = TaskWriter(item_facts(dataset, config["item_text_fields"]), config["item_noun"] or "item",
                        config["tag_noun"] or "tags", grounding=config["chat_grounding"])
    items = scored_items(writer, config, eval_items)
    results = evaluate_chat(label, config, chat, writer, items, eval_per_task, max_new_tokens, log, decoding)
    info = {"checkpoint": path, "eval_items": len(items), "seconds": round(time.time() - start, 1)}
    return config, label, results, info


def _pct(value):
    return "-" if value is None else f"{100 * value:.1f}%"


FACT_COLUMNS = ("title", "tag_precision", "tag_recall")


def table(results, labels):
    heads = [f"{m} {c}" for m in labels for c in ("SC(%)", "log-pplx", "title", "tag P", "tag R")]
    lines = ["| task | " + " | ".join(heads) + " |", "|---" * (1 + len(heads)) + "|"]
    for task in [*TASKS, "all", "grounded"]:
        cells = []
        for m in labels:
            r = results[m][task]
            facts = r.get("facts", {})
            cells += [f"{r['sc']:.2f}", f"{r['log_pplx']:.4f}"] + [_pct(facts.get(c)) for c in FACT_COLUMNS]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    cells = []
    for m in labels:  # the chat's own answers (describe, compare, why), after the catalogue check
        d = results[m]["delivered"]
        cells += [f"{d['sc']:.2f}", f"kept {_pct(d['kept'])}"] + [_pct(d["facts"].get(c)) for c in FACT_COLUMNS]
    lines.append("| as the chat delivers describe, compare, why | " + " | ".join(cells) + " |")
    return "\n".join(lines)
