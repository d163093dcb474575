"""Is an answer right about the items? A factual-accuracy check computed from the catalogue alone.

Per answer about some items (``subjects``, with the items the prompt showed as ``allowed``):

* **title** — 1 when every subject's title is named (with or without a leading article or a trailing alias in
  parentheses) and no other catalogue title outside ``allowed`` is named
  (titles of one word are not checked for "named elsewhere": "Heat" or "Fargo" are also ordinary words);
* **tag precision / recall** — the catalogue's tag words (genres, categories) named in the answer that belong to a
  subject, over those named (None when none is named) / over the subjects' own tags;
* **year** — 1 when every year the answer gives (1900-2099) is a subject's year, 0 otherwise, None without one.

Matching is on normalised text (lower case, punctuation as spaces, whole words). ``unverifiable`` lists proper
names (two or more capitalised words) that are no title or tag of the allowed items — a director, an actor:
claims the catalogue cannot confirm.
"""

import re

from recbole_ilm.chat.catalogue import normalise, title_forms

_YEAR = re.compile(r"\b(19\d\d|20\d\d)\b")
_NAME = re.compile(r"\b[A-Z][\w'&.-]*(?:\s+(?:of|the|and|de|la|von|van)?\s*[A-Z][\w'&.-]*)+")


def _words(text):
    return f" {normalise(text)} "


def _named(phrase, answer_words):
    """Whole-word match of any of the title's forms (:func:`~recbole_ilm.chat.catalogue.title_forms`): a leading
    article may be left out ("Shawshank Redemption") and so may a trailing alias ("Nikita")."""
    return any(f" {key} " in answer_words for key in title_forms(phrase))


def is_named(title, text):
    """Whether ``text`` names ``title`` (any of its forms, whole words; see :func:`_named`)."""
    return _named(title, _words(text))


class FactChecker:
    """``facts[item]``: objects with ``title``, ``detail`` (a year for movies) and ``tags`` (None for no item)."""

    def __init__(self, facts):
        self.facts = facts
        self.multiword = [(i, normalise(f.title)) for i, f in enumerate(facts)
                          if f is not None and len(normalise(f.title).split()) > 1]
        self.tag_words = sorted({t.lower() for f in facts if f is not None for t in f.tags}, key=len, reverse=True)

    def _tags_named(self, answer_words):
        named = set()
        for tag in self.tag_words:
            if _named(tag, answer_words):
                named.add(tag)
        return named

    def _unverifiable(self, answer, allowed):
        """Proper names (two or more capitalised words, e.g. a director) that are not a title or tag of the
        allowed items: claims the catalogue cannot confirm. A sentence's capitalised first word does not count."""
        known = {w for i in allowed if self.facts[i] is not None
                 for text in [self.facts[i].title, *self.facts[i].tags] for w in normalise(text).split()}
        known |= {"the", "a", "an", "of", "and"}
        out = []
        for match in _NAME.finditer(answer):
            words = normalise(match.group(0)).split()
            before = answer[: match.start()].rstrip()
            if not before or before[-1] in ".!?:":  # "Like Star Wars, ..." starts a sentence
                words = words[1:]
            if any(w not in known for w in words):
                out.append(match.group(0).rstrip(".,;:!?"))
        return out

    def check(self, answer, subjects, allowed=()):
        """``{"title", "tag_precision", "tag_recall", "year"}`` for one answer (see the module doc)."""
        words = _words(answer)
        subjects = [i for i in subjects if self.facts[i] is not None]
        allowed = set(allowed) | set(subjects)
        allowed_keys = [normalise(self.facts[i].title) for i in allowed if self.facts[i] is not None]
        subject_named = all(_named(self.facts[i].title, words) for i in subjects)
        others = [key for i, key in self.multiword if i not in allowed and f" {key} " in words
                  and not any(f" {key} " in f" {own} " for own in allowed_keys)]
        own_tags = {t.lower() for i in subjects for t in self.facts[i].tags}
        named_tags = self._tags_named(words)
        right = named_tags & own_tags
        years = set(_YEAR.findall(answer))
        own_years = {str(self.facts[i].detail) for i in subjects}
        return {
            "unverifiable": self._unverifiable(answer, allowed),
            "title": float(subject_named and not others),
            "tag_precision": len(right) / len(named_tags) if named_tags else None,
            "tag_recall": len(right) / len(own_tags) if own_tags else None,
            "year": (float(years <= own_years) if years else None),
        }


def summarise(checks):
    """Means of each field over the answers where it is defined (None when it never is), plus their counts."""
    out = {}
    for key in ("title", "tag_precision", "tag_recall", "year"):
        values = [c[key] for c in checks if c[key] is not None]
        out[key] = sum(values) / len(values) if values else None
        out[f"{key}_n"] = len(values)
    return out
