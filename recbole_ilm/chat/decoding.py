"""Greedy decoding that copies item titles from the prompt (issue 13, "title correct").

A 135M LLM reads a title in its prompt and writes it back garbled ("Gumby, Gumball" for "Gumby: The Movie") or
leaves it out. Copying is lexically constrained decoding in its simplest form: once the answer's last tokens spell
the start of a title the prompt shows — at least ``min_chars`` characters from the start of a word, and no other
title of the prompt starts that way — the rest of that title is written as the prompt has it, token by token.
Three more options, chosen on validation items, never on test (``docs/results.md``). The chat's setting is
:data:`CHAT` (copy, ``cover_bias`` 6, ``hold_end``): the command lines default to it; a bare :class:`Decoding()`
only copies titles:

* ``cover_bias`` is added to the logits of the tokens that start a subject title the answer has not named yet, or
  continue one it has begun, so that an answer about three items tends to name all three;
* ``no_repeat_ngram`` forbids a token that would repeat an n-gram of the answer ("Brio, Brio, Brio");
* ``hold_end`` forbids the end of the answer while a title it is about is still missing (within the length limit).

Only titles that appear in the prompt's text are copied (:func:`prompt_titles`): with ``chat_grounding:
tokens_only`` the prompt has none, and copying changes nothing.
"""

import argparse
from dataclasses import dataclass

from recbole_ilm.chat.facts import is_named


@dataclass(frozen=True)
class Decoding:
    copy_titles: bool = True
    min_chars: int = 4
    cover_bias: float = 0.0
    no_repeat_ngram: int = 0
    hold_end: bool = False


# the chat's decoding, chosen on validation items (docs/results.md): the default of both command lines
CHAT = Decoding(cover_bias=6.0, hold_end=True)


def add_arguments(parser):
    """The decoding options of ``python -m recbole_ilm.chat`` and ``python -m recbole_ilm.experiments.chat_train``."""
    parser.add_argument("--decoding", choices=("greedy", "copy"), default="copy",
                        help="greedy, or copy: a title the prompt shows is completed as the prompt has it once its "
                             "first --min_chars characters are written (recbole_ilm/chat/decoding.py)")
    parser.add_argument("--min_chars", type=int, default=CHAT.min_chars,
                        help="copy: characters of a title written before the rest is copied")
    parser.add_argument("--cover_bias", type=float, default=CHAT.cover_bias,
                        help="copy: logit bonus for the tokens that start, or continue what the answer has begun of, "
                             "each title the answer is about and has not named yet")
    parser.add_argument("--no_repeat_ngram", type=int, default=CHAT.no_repeat_ngram,
                        help="copy: forbid a token that repeats an n-gram of the answer (0: allow)")
    parser.add_argument("--hold_end", action=argparse.BooleanOptionalAction, default=CHAT.hold_end,
                        help="copy: an answer may not end while a title it is about is missing (--no-hold_end: it may)")


def from_arguments(args):
    """The :class:`Decoding` the command line asks for (None: greedy)."""
    if args.decoding == "greedy":
        return None
    return Decoding(min_chars=args.min_chars, cover_bias=args.cover_bias, no_repeat_ngram=args.no_repeat_ngram,
                    hold_end=args.hold_end)


def prompt_titles(prompt, items, facts):
    """The titles an answer to ``prompt`` may copy: those of its slot ``items`` that the prompt's text shows (the
    grounded entries), then every other catalogue title of two or more words written in it (the evidence of a
    "why"), each once."""
    shown = [facts[i].title for i in items if facts[i] is not None and facts[i].title in prompt]
    others = [f.title for f in facts if f is not None and " " in f.title and f.title in prompt]
    return list(dict.fromkeys(shown + others))


def row_decoders(encode, decode, prompts, items_list, about, facts, decoding, end_ids=()):
    """One :class:`RowDecoder` per prompt: the titles it shows (:func:`prompt_titles`) are its copy sources, the
    titles of its ``about`` items (default: its slot items) the subjects."""
    about = about or items_list
    return [RowDecoder(encode, decode, prompt_titles(p, items, facts) if facts is not None else [],
                       [facts[i].title for i in subjects if facts[i] is not None] if facts is not None else [],
                       decoding, end_ids)
            for p, items, subjects in zip(prompts, items_list, about)]


class RowDecoder:
    """The decoding state of one answer. ``encode(text) -> token ids``, ``decode(ids) -> text``; ``titles`` the
    prompt's titles (copy sources), ``subjects`` those of them the answer is about (for ``cover_bias``), ``end_ids``
    the tokens that end an answer (for ``hold_end``)."""

    def __init__(self, encode, decode, titles, subjects=(), decoding=Decoding(), end_ids=()):
        self.decode, self.decoding, self.end_ids = decode, decoding, list(end_ids)
        self.seqs = []  # (title, its tokens at the start of a text or after a space)
        for title in titles:
            for text in (title, " " + title):
                ids = list(encode(text))
                if ids and (title, ids) not in self.seqs:
                    self.seqs.append((title, ids))
        self.subjects = [t for t in subjects if t in titles]
        self.out, self.text = [], ""
        self.partial = []  # (index into seqs, tokens matched so far)
        self.forced = None  # (index into seqs, next position) while a title is being copied

    def step(self, logits):
        """The next token given the LLM's ``logits`` (1-D tensor over the vocabulary) for this answer."""
        if self.forced is not None:
            s, pos = self.forced
            token = self.seqs[s][1][pos]
            self.forced = (s, pos + 1) if pos + 1 < len(self.seqs[s][1]) else None
        else:
            d = self.decoding
            if d.cover_bias or d.no_repeat_ngram or d.hold_end:
                logits = logits.clone()
            missing = {t for t in self.subjects if not is_named(t, self.text)}
            if d.cover_bias:
                for token in self._cover(missing):
                    logits[token] += d.cover_bias
            if d.hold_end and missing:
                logits[self.end_ids] = -float("inf")
            if d.no_repeat_ngram:
                for token in self._repeats(d.no_repeat_ngram):
                    logits[token] = -float("inf")
            token = int(logits.argmax())
            if d.copy_titles:
                self._match(token)
        self.out.append(token)
        self.text = self.decode(self.out)
        return token

    def _cover(self, missing):
        """The tokens that start, or continue what the answer has begun of, a ``missing`` subject title (continuing
        matters: a bonus for "The" alone would write "The The The ...")."""
        tokens = {ids[m] for s, m in self.partial for title, ids in [self.seqs[s]] if title in missing}
        return tokens | {ids[0] for title, ids in self.seqs if title in missing and self._may_start(ids)}

    def _may_start(self, ids):
        """A title's tokens may start here: they begin with a space, or the answer is at the start of a word."""
        return not self.text or not self.text[-1].isalnum() or self.decode(ids[:1])[:1].isspace()

    def _repeats(self, n):
        """Tokens that would end an n-gram the answer already has."""
        if len(self.out) < n:
            return set()
        head = self.out[len(self.out) - n + 1 :]
        return {self.out[k + n - 1] for k in range(len(self.out) - n + 1) if self.out[k : k + n - 1] == head}

    def _match(self, token):
        partial = [(s, m + 1) for s, m in self.partial if self.seqs[s][1][m] == token]
        partial += [(s, 1) for s, (_, ids) in enumerate(self.seqs) if ids[0] == token and self._may_start(ids)]
        self.partial = [(s, m) for s, m in partial if m < len(self.seqs[s][1])]  # a title written in full is done
        titles = {self.seqs[s][0] for s, _ in self.partial}
        if len(titles) == 1:  # one title starts this way: copy its rest once enough of it is written
            s, m = max(self.partial, key=lambda p: p[1])
            if len(self.decode(self.seqs[s][1][:m]).strip()) >= self.decoding.min_chars:
                self.forced, self.partial = (s, m), []
