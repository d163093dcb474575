"""Finding the items a user mentions by title: exact, then whole-word containment, then fuzzy (difflib).

Titles are compared normalised: lower case, punctuation dropped, a trailing article moved to the front
("Shawshank Redemption, The" -> "the shawshank redemption"), a trailing "(1995)" removed; shown to people with
the article in front (:func:`display_title`).
"""

import difflib
import re

_YEAR = re.compile(r"\s*\(\d{4}\)\s*$")
_ARTICLE = re.compile(r"^(.*?),\s*(the|a|an|les|la|le|il|el|der|die|das)(\s*\([^()]*\))?$", re.IGNORECASE)
_ALIAS = re.compile(r"\s*\([^()]*\)$")  # "Nikita (La Femme Nikita)": the other title a film is known by
_NON_WORD = re.compile(r"[^0-9a-z]+")
_NUMBER = re.compile(r"\b\d+\b")


def _front_article(stem):
    """ "Remains of the Day, The" -> "The Remains of the Day"; "Night Porter, The (Il Portiere di notte)" -> "The
    Night Porter (Il Portiere di notte)" (the article before an alias moves too)."""
    moved = _ARTICLE.match(stem)
    return f"{moved.group(2)} {moved.group(1)}{moved.group(3) or ''}" if moved else stem


def display_title(title):
    """A title as people write it: MovieLens's "Remains of the Day, The" -> "The Remains of the Day" (a trailing
    "(1993)" is kept at the end)."""
    title = str(title).strip()
    year = _YEAR.search(title)
    stem = title[: year.start()] if year else title
    return _front_article(stem) + title[len(stem):]


def _words(text):
    return _NON_WORD.sub(" ", text.lower()).strip()


def _without_year(title):
    return _YEAR.sub("", str(title).strip())


def main_title(title):
    """The title without its year and without a trailing alias: "Nikita (La Femme Nikita) (1990)" -> "Nikita"."""
    stem = _front_article(_without_year(title))
    return _ALIAS.sub("", stem).strip() or stem


def normalise(title):
    return _words(_front_article(_without_year(title)))


def title_forms(title):
    """The normalised ways a title is written: article in front, as stored ("Postino, Il"), without its alias
    ("Nikita"), each also without a leading English article ("Shawshank Redemption")."""
    forms = {normalise(title), _words(_without_year(title)), normalise(main_title(title))} - {""}
    return forms | {re.sub(r"^(the|a|an) ", "", form) for form in forms}


class Catalogue:
    """``titles[item_id]`` (None or "" for items without one, e.g. the padding id 0)."""

    def __init__(self, titles, details=None):
        self.titles = list(titles)
        self.details = list(details) if details is not None else [""] * len(self.titles)
        self.keys = {}
        for i, t in enumerate(self.titles):
            if t:
                self.keys.setdefault(normalise(t), []).append(i)

    def is_title(self, text):
        """Whether ``text`` is exactly (after normalising) some item's title."""
        return normalise(text) in self.keys

    def label(self, item):
        detail, title = self.details[item], display_title(self.titles[item])
        return f"{title} ({detail})" if detail else title

    def find(self, text, limit=6):
        """Item ids that ``text`` may mean, best first; one id when it is unambiguous, [] when nothing fits."""
        query = normalise(text)
        if not query:
            return []
        if query in self.keys:
            return list(self.keys[query])[:limit]
        padded = f" {query} "
        within = [i for key, ids in self.keys.items() if padded in f" {key} " for i in ids]
        if within:  # "star wars" -> every title containing those words; shortest (closest) first
            return sorted(within, key=lambda i: (len(self.titles[i]), i))[:limit]
        numbers = set(_NUMBER.findall(query))  # "Terminator 2" must not become "The Terminator"
        keys = [k for k in self.keys if numbers <= set(_NUMBER.findall(k))]
        close = difflib.get_close_matches(query, keys, n=limit, cutoff=0.75)
        if len(close) > 1 and difflib.SequenceMatcher(None, query, close[0]).ratio() >= 0.92:
            close = close[:1]  # a typo of one title, not a choice between several
        return [i for key in close for i in self.keys[key]][:limit]
