"""One conversation: what the user likes, rejected and was shown, and a reply for every line they type.

The session knows nothing about models: ``recommend(history, exclude, k)`` returns item ids (the trained ILM's
generative retrieval) and ``say(prompt, items)`` returns free text (the frozen LLM with item slots ``{0}``, ``{1}``
in the prompt). That keeps the dialogue logic testable on its own.
"""

import re

from recbole_ilm.chat.phrases import REQUEST, a_noun, count_in, help_text, index_in, title_spans
from recbole_ilm.errors import ILMConfigError

MAX_CHARS = 500
DEFAULT_COUNT = 3
class ChatSession:
    def __init__(self, catalogue, recommend, say, noun="item", load=None, evidence=None, search=None):
        """``evidence`` (a :class:`~recbole_ilm.chat.grounding.Evidence`) grounds "why" answers in checkable
        facts; ``search(query, exclude, k, ranking)`` answers free-text requests (both optional)."""
        self.catalogue, self.recommend_fn, self.say_fn, self.noun, self.load_fn = catalogue, recommend, say, noun, load
        self.evidence, self.search_fn = evidence, search
        self.liked, self.rejected, self.shown = [], set(), []
        self.count = DEFAULT_COUNT
        self.focus = None  # the recommended item that "that one" / "it" refers to
        # ambiguous mentions, asked one at a time: (span, candidate ids, what to do with the picked id)
        self.queue = []

    # ------------------------------------------------------------------ entry point
    def reply(self, line):
        """The assistant's answer to one line of user input (never raises for bad input)."""
        text = (line or "").strip()
        if not text:
            return f"(empty message) {help_text(self.catalogue, self.noun)}"
        if len(text) > MAX_CHARS:
            return (f"That message is {len(text)} characters long; please keep it under {MAX_CHARS} "
                    f"(for example, one or two {self.noun} titles at a time).")
        low = text.lower().rstrip("?!. ")
        try:
            if self.queue and re.fullmatch(r"\d+", low):
                return self._pick(int(low))
            if low in ("/help", "help"):
                return help_text(self.catalogue, self.noun)
            if low.startswith("/load"):
                return self._load(text[5:].strip())
            if re.match(r"^(not that one|not this one|not it|no|nope|reject( it)?|not (the )?\w+ one)$", low):
                return self._reject(self._which(low))
            more = re.match(r"^(?:more|something|anything)\s+like\s+(.+)$", low)
            if more:
                return self._more_like(text[more.start(1):])
            if re.match(r"^why\b", low):
                return self._why(low)
            compare = re.match(r"^compare\s+(.+)$", low)
            if compare:
                return self._compare(text[compare.start(1):])
            describe = re.match(r"^(?:describe|tell me about|what is|what's)\s+(.+)$", low)
            if describe:
                return self._describe(text[describe.start(1):])
            request = REQUEST.match(text.rstrip(".!?"))
            if request and self.search_fn is not None and not self.catalogue.is_title(text):
                return self._search(request.group(1))
            if re.search(r"\b(recommend|suggest|what should i|what next|what else|another|again|more)\b", low):
                return self._recommend(self._count(low))
            return self._mentions(text)
        except ILMConfigError as e:
            return f"Sorry: {e}"

    # ------------------------------------------------------------------ mentions
    def _resolve(self, span, then=None):
        """One item id for a title, or a reply explaining why not. An ambiguous title is queued with ``then`` (what
        to do with the id the user picks; default: note it as liked) and the reply asks for the first queued one."""
        found = self.catalogue.find(span)
        if not found:
            return None, f"I don't know {a_noun(self.noun)} called '{span}'; check the spelling or try another title."
        if len(found) > 1:
            self.queue.append((span, found, then or self._noted))
            return None, self._ask()
        return found[0], None

    def _ask(self):
        span, found, _ = self.queue[0]
        options = "\n".join(f"  {k}. {self.catalogue.label(i)}" for k, i in enumerate(found, 1))
        later = ", ".join(f"'{s}'" for s, _, _ in self.queue[1:])
        return (f"'{span}' could be several {self.noun}s:\n{options}\nReply with a number."
                + (f" (Then I will ask about {later}.)" if later else ""))

    def _noted(self, item):
        self._like(item)
        return f"Noted: you like {self.catalogue.label(item)}."

    def _mentions(self, text):
        self.queue = []  # a new message replaces questions left unanswered
        added, notes = [], []
        for span in title_spans(text, self.catalogue.is_title):
            queued = len(self.queue)
            item, problem = self._resolve(span)
            if item is not None:
                self._like(item)
                added.append(item)
            elif len(self.queue) == queued:  # unknown (an ambiguous one is asked below, one at a time)
                notes.append(problem)
        lines = []
        if added:
            lines.append("Noted: you like " + ", ".join(self.catalogue.label(i) for i in added)
                         + ". Ask me to 'recommend 3' when you are ready.")
        lines += notes + ([self._ask()] if self.queue else [])
        return "\n".join(lines) or help_text(self.catalogue, self.noun)

    def _pick(self, number):
        span, found, then = self.queue[0]
        if not 1 <= number <= len(found):
            return f"Please pick a number from 1 to {len(found)}."
        self.queue.pop(0)
        answer = then(found[number - 1])
        return answer + ("\n" + self._ask() if self.queue else "")

    def _like(self, item):
        if item in self.liked:
            self.liked.remove(item)
        self.liked.append(item)  # most recent last, as in a RecBole history
        self.rejected.discard(item)

    # ------------------------------------------------------------------ recommendations
    def _count(self, low):
        self.count = count_in(low, self.count)
        return self.count

    def _recommend(self, count, history=None):
        history = history or self.liked
        if not history:
            return f"Tell me one or two {self.noun}s you like first."
        exclude = set(self.liked) | self.rejected
        self.shown = list(self.recommend_fn(history, exclude, count))
        self.focus = self.shown[0] if self.shown else None
        names = " and ".join(self.catalogue.label(i) for i in history[-2:])
        listing = "\n".join(f"  {k}. {self.catalogue.label(i)}" for k, i in enumerate(self.shown, 1))
        return f"Since you like {names}, you might enjoy:\n{listing}"

    def _which(self, low):
        """The shown item a phrase points at ('the second one', '#2', a title); the focus by default."""
        if not self.shown:
            return None
        index = index_in(low, len(self.shown))
        if index:
            return self.shown[index - 1]
        return self.focus

    def _reject(self, item):
        if item is None:
            return "There is nothing to reject yet: ask me to recommend something first."
        self.rejected.add(item)
        self.shown = [i for i in self.shown if i != item]
        return f"OK, not {self.catalogue.label(item)}.\n" + self._recommend(self.count)

    def _more_like(self, title):
        self.queue = []
        item, problem = self._resolve(title.strip().rstrip(".!?"), then=self._more_like_item)
        return problem if problem else self._more_like_item(item)

    def _more_like_item(self, item):
        self._like(item)
        answer = self._recommend(self.count, history=self.liked)
        return f"Noted: you like {self.catalogue.label(item)}.\n{answer}"

    # ------------------------------------------------------------------ free text from the frozen LLM
    def _named_or_shown(self, low):
        rest = re.sub(r"^why\s+(?:would i like|should i watch|is|did you pick|did you suggest|recommend)?\s*", "",
                      low)
        rest = re.sub(r"^(the\s+)?(\w+\s+one|#?\d+|last one)$", "", rest).strip()
        if rest and rest not in ("that", "it", "this", "that one", "this one"):
            return self._resolve(rest, then=self._why_item)
        return self._which(low), None

    def _why(self, low):
        self.queue = []
        item, problem = self._named_or_shown(low)
        if problem:
            return problem
        if item is None:
            return "Ask me to recommend something first, then ask why."
        return self._why_item(item)

    def _why_item(self, item):
        self.focus = item
        if self.evidence is not None and any(i != item for i in self.liked):
            return self._grounded_why(item)
        liked = [i for i in self.liked if i != item][-2:]
        if not liked:
            return self.say_fn(f"Describe the {self.noun} {{0}}.", [item])
        if len(liked) == 1:
            liked = liked * 2
        return self.say_fn(f"Someone enjoyed {{0}} and {{1}}. Why might they like the {self.noun} {{2}}?",
                           liked + [item])

    def _grounded_why(self, item):
        """The reason in facts (shared tags, nearest CF neighbour among the liked items); the LLM phrases it, and
        an answer that gives no reason or a claim the catalogue contradicts is replaced by the facts themselves."""
        liked = [i for i in self.liked if i != item]
        answer = self.say_fn(self.evidence.why_prompt(item, liked), [item])
        return self.evidence.delivered("why", answer, liked + [item])

    def _search(self, description):
        """A free-text request: dense retrieval over the item texts, fused with the recommender for a history."""
        exclude = set(self.liked) | self.rejected
        ranking = list(self.recommend_fn(self.liked, exclude, 100)) if self.liked else None
        found = self.search_fn(description, exclude=exclude, k=self.count, ranking=ranking)
        if not found:
            return f"I found no {self.noun} for '{description}'."
        self.shown = [i for i, _ in found]
        self.focus = self.shown[0]
        listing = "\n".join(f"  {k}. {self.catalogue.label(i)} — {reason}" for k, (i, reason) in enumerate(found, 1))
        return f"For '{description}', you might try:\n{listing}"

    def _describe(self, title):
        self.queue = []
        item, problem = self._resolve(title.strip().rstrip(".!?"), then=self._describe_item)
        return problem if problem else self._describe_item(item)

    def _describe_item(self, item):
        answer = self.say_fn(f"Describe the {self.noun} {{0}}.", [item])
        if self.evidence is None:
            return answer
        return self.evidence.delivered("describe", answer, [item])

    def _compare(self, text):
        parts = [p for p in re.split(r"\s+(?:and|with|vs\.?|versus)\s+|\s*,\s*", text.strip().rstrip(".!?")) if p]
        if len(parts) != 2:
            return f"Name two {self.noun}s to compare, e.g. 'compare Heat and Fargo'."
        self.queue = []
        return self._compare_parts(parts, [])

    def _compare_parts(self, parts, items):
        """Resolve the remaining titles of a comparison (an ambiguous one is asked, then the rest continues)."""
        for k, part in enumerate(parts):
            item, problem = self._resolve(part, then=lambda it, rest=parts[k + 1:], done=items: self._compare_parts(
                rest, done + [it]))
            if problem:
                return problem
            items = items + [item]
        answer = self.say_fn(f"Compare the {self.noun}s {{0}} and {{1}}.", items)
        if self.evidence is None:
            return answer
        return self.evidence.delivered("compare", answer, items)

    def _load(self, path):
        if not path:
            return "Usage: /load <checkpoint>"
        if self.load_fn is None:
            return "Loading another checkpoint is not available here."
        return self.load_fn(path)
