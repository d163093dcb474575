"""What the chat says about items, grounded in the catalogue (retrieve, then respond).

* :class:`Evidence` — the reason for a recommendation, built only from checkable facts: the tags (genres,
  categories) it shares with the user's liked items, and the liked item that is its nearest collaborative-filtering
  neighbour (cosine of the CF item embeddings). The LLM may turn it into a sentence; an answer (to "why",
  "describe" or "compare") that names a wrong title, tag or year, or a name the catalogue cannot confirm, is
  replaced by the facts themselves (:meth:`Evidence.verified`).
* :class:`ItemSearch` — free-text requests ("something funny from the 90s", "a moisturiser for dry skin"): dense
  retrieval over the item texts with all-MiniLM-L6-v2, a decade/year in the request as a filter; when a history
  exists, the best text matches are re-ordered by reciprocal-rank fusion with the user's retrieval-model ranking.
"""

import re

import numpy as np

from recbole_ilm.chat.catalogue import normalise, title_forms
from recbole_ilm.chat.facts import FactChecker

_DECADE = re.compile(r"\b(?:(19|20)?(\d)0)'?s\b")
_YEAR = re.compile(r"\b(19\d\d|20\d\d)\b")


def _label(f):
    return f"{f.title} ({f.detail})" if f.detail else f.title


class Evidence:
    def __init__(self, facts, cf_item, noun="item", tag_noun="tags"):
        self.facts, self.noun, self.tag_noun = facts, noun, tag_noun
        table = np.asarray(cf_item, dtype=np.float32)
        norms = np.linalg.norm(table, axis=1, keepdims=True)
        self.cf = table / np.maximum(norms, 1e-12)
        self.checker = FactChecker(facts)

    def neighbour(self, item, liked):
        """The liked item whose CF embedding is closest (cosine) to ``item``'s."""
        liked = [i for i in liked if i != item]
        return max(liked, key=lambda i: float(self.cf[i] @ self.cf[item])) if liked else None

    def describe(self, item):
        """``"Fargo (1996) is a crime, drama, thriller movie."``: the catalogue entry as a sentence."""
        f = self.facts[item]
        kind = f"{', '.join(t.lower() for t in f.tags)} {self.noun}" if f.tags else self.noun
        return f"{_label(f)} is {'an' if kind[:1] in 'aeiou' else 'a'} {kind}."

    def compare(self, a, b):
        return f"{self.describe(a)[:-1]}; {self.describe(b)}"

    def _reasons(self, item, liked):
        """``(i, tags)``: the latest liked item sharing tags with ``item`` (None when none does), and the liked item
        nearest to it in CF (None without one)."""
        sharing = [(i, [t for t in self.facts[item].tags if t in self.facts[i].tags]) for i in liked if i != item]
        sharing = [(i, shared) for i, shared in sharing if shared]
        return (sharing[-1] if sharing else None), self.neighbour(item, liked)

    def text(self, item, liked, reasons=None):
        """One or two sentences of facts about why ``item`` fits ``liked``; every claim is in the catalogue.
        ``reasons``: :meth:`_reasons` when the caller has them already."""
        parts = [self.describe(item)]
        sharing, near = reasons or self._reasons(item, liked)
        if sharing:
            i, shared = sharing
            parts.append(f"Like {self.facts[i].title}, which you liked, it is {' and '.join(t.lower() for t in shared)}.")
        if near is not None:
            parts.append(f"Of the {self.noun}s you like, {self.facts[near].title} is the one whose audience it "
                         f"shares most.")
        return " ".join(parts)

    def why_prompt(self, item, liked):
        """The chat's prompt for "why ``item``": the LLM is asked to phrase the evidence (:meth:`text`)."""
        return (f"In one sentence, tell someone why they might like the {self.noun} {{0}}. "
                f"Use only these facts: {self.text(item, liked)}")

    def delivered(self, task, answer, items):
        """What the chat says for ``task`` (describe / compare / why) about ``items`` (why: the liked items, then the
        one in question), given the LLM's ``answer`` to the chat's prompt for it: the answer when it holds
        (:meth:`verified`, :meth:`why`), else the facts."""
        if task == "describe":
            return self.verified(answer, items, items, self.describe(items[0]))
        if task == "compare":
            return self.verified(answer, items, items, self.compare(*items))
        if task == "why":
            return self.why(answer, items[-1], items[:-1])
        raise ValueError(f"the chat answers describe, compare and why, not {task}")

    def why(self, answer, item, liked):
        """The LLM's ``answer`` to "why ``item``" when it holds (:meth:`verified`) and gives a reason, i.e. names a
        liked item of the evidence; else the evidence itself (:meth:`text`)."""
        sharing, near = self._reasons(item, liked)
        facts = self.text(item, liked, (sharing, near))
        answer = self.verified(answer, [item], liked, facts)
        reasons = [i for i in (sharing[0] if sharing else None, near) if i is not None]
        if not any(self.checker.check(answer, [i], [item, *liked])["title"] == 1.0 for i in reasons):
            return facts
        return answer

    def _holds(self, text, subjects, allowed):
        check = self.checker.check(text, subjects, allowed=allowed)
        return check["tag_precision"] in (None, 1.0) and check["year"] in (None, 1.0) and not check["unverifiable"]

    def _one_is_another(self, answer, subjects):
        """Whether ``answer`` says one subject is another ("Heat (1995) is Fargo (1996)"): always false."""
        words = f" {normalise(answer)} "
        titles = [self.facts[i].title for i in subjects if self.facts[i] is not None]
        return any(re.search(rf" {re.escape(a)} (?:\d{{4}} )?(?:is|are|was) (?:a |an |the )?{re.escape(b)} ", words)
                   for x in titles for y in titles if x != y for a in title_forms(x) for b in title_forms(y))

    def verified(self, answer, subjects, allowed, fallback):
        """``answer`` when it is complete, names its items, and holds no wrong title, tag or year, no name the
        catalogue cannot confirm (a director, an actor) and no item said to be another — checked per sentence for
        the item a sentence names; else ``fallback`` (the facts as a sentence)."""
        answer = answer.strip()
        if not answer.endswith((".", "!")) or self.checker.check(answer, subjects, allowed)["title"] != 1.0:
            return fallback
        if not self._holds(answer, subjects, allowed) or self._one_is_another(answer, subjects):
            return fallback
        for sentence in re.split(r"(?<=[.!?])\s+|\n", answer):
            named = [i for i in subjects if self.checker.check(sentence, [i], allowed)["title"] == 1.0]
            if len(named) == 1 and not self._holds(sentence, named, allowed):
                return fallback  # a tag or year of one item attributed to another
        return answer


class ItemSearch:
    def __init__(self, facts, encoder, noun="item", tag_noun="tags"):
        """``encoder(texts) -> [n, d]`` L2-normalised embeddings (all-MiniLM-L6-v2 in the chat)."""
        self.facts, self.encoder = facts, encoder
        self.items = [i for i, f in enumerate(facts) if f is not None]
        texts = [f"{_label(facts[i])}. A {noun}. {tag_noun}: {', '.join(facts[i].tags)}." for i in self.items]
        self.embeddings = np.asarray(encoder(texts), dtype=np.float32)

    @staticmethod
    def years(query):
        """The year range a request names ("from the 90s", "1980s", "in 1995"), or None."""
        decade = _DECADE.search(query)
        if decade:
            century = decade.group(1) or ("20" if decade.group(2) in "012" else "19")
            start = int(f"{century}{decade.group(2)}0")
            return start, start + 9
        year = _YEAR.search(query)
        return (int(year.group(1)),) * 2 if year else None

    def __call__(self, query, exclude=(), k=3, ranking=None, candidates=20):
        """``[(item, reason)]``: the best ``k`` items for ``query``. With ``ranking`` (item ids, best first: the
        recommender's list for the user's history) the ``candidates`` best text matches are re-ordered by
        reciprocal-rank fusion with it: retrieve, then rank, so a recommended item that does not fit the request
        ("The Fugitive" for "something funny") is never offered."""
        scores = self.embeddings @ np.asarray(self.encoder([query]), dtype=np.float32)[0]
        span = self.years(query)
        if span is not None:
            for row, i in enumerate(self.items):
                detail = str(self.facts[i].detail)
                if not (detail.isdigit() and span[0] <= int(detail) <= span[1]):
                    scores[row] = -np.inf
        order = [self.items[r] for r in np.argsort(-scores) if np.isfinite(scores[r])]
        order = [i for i in order if i not in set(exclude)]
        if ranking:
            fused = {i: 1.0 / (60 + r) for r, i in enumerate(order[: max(k, candidates)])}
            for r, i in enumerate(ranking):
                if i in fused:
                    fused[i] += 1.0 / (60 + r)
            order = sorted(fused, key=lambda i: -fused[i])
        return [(i, self.reason(i)) for i in order[:k]]

    def reason(self, item):
        f = self.facts[item]
        return f"{', '.join(f.tags)}" + (f"; {f.detail}" if f.detail else "")
