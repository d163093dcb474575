"""The chat's reading of what people type: title mentions, counts, ordinals, free-text requests; and its help line.

Plain functions of the text (and, for titles, of the catalogue's ``is_title``), so the dialogue in
:mod:`recbole_ilm.chat.session` stays about what to do, not how to parse.
"""

import re

HELP = ("Tell me {noun}s you like (e.g. 'I liked {a} and {b}'), then ask 'recommend 3'. You can also say "
        "'why the first one', 'not that one', 'more like <title>', 'describe <title>', 'compare <title> and <title>',"
        " ask for '{request}', '/load <checkpoint>' or '/quit'.")
REQUEST_EXAMPLES = {"movie": "something funny from the 90s", "product": "a moisturiser for dry skin"}


def help_text(catalogue, noun):
    """The help line: two short titles of this catalogue as examples, a free-text request in its words."""
    a, b = ([*sorted((t for t in catalogue.titles[:300] if t), key=lambda t: (len(t), t)), "<title>", "<title>"])[:2]
    return HELP.format(noun=noun, a=a, b=b, request=REQUEST_EXAMPLES.get(noun, f"something like {a}"))


_NUMBERS = {w: k for k, w in enumerate("zero one two three four five six seven eight nine ten".split())}
_ORDINALS = {w: k for k, w in enumerate(
    "zeroth first second third fourth fifth sixth seventh eighth ninth tenth".split())}
_LIKE = re.compile(r"^(?:i\s+)?(?:really\s+|also\s+)?(?:like|liked|love|loved|enjoy|enjoyed|watched|saw|seen|"
                   r"have seen|adore|adored)\s+", re.IGNORECASE)
_SPLIT = re.compile(r"(\s*(?:,|;|&|\band\b|\bor\b)\s*)", re.IGNORECASE)
_QUOTED = re.compile(r"\"([^\"]+)\"|'([^']+)'")
REQUEST = re.compile(r"^(?:please\s+)?(?:(?:recommend|suggest|find|show|give|get)\s+(?:me\s+)?|i(?:'m|\s+am)?\s+"
                     r"(?:want|would like|am looking for|looking for|in the mood for)\s+|looking for\s+)?"
                     r"(?:something|anything|some|an?)\s+(.+)$", re.IGNORECASE)


def a_noun(noun):
    return f"an {noun}" if noun[:1].lower() in "aeiou" else f"a {noun}"


def title_spans(text, is_title):
    """Item mentions in free text: quoted titles, else the longest runs that name one title exactly."""
    quoted = [a or b for a, b in _QUOTED.findall(text)]
    if quoted:
        return quoted
    parts = _SPLIT.split(_LIKE.sub("", text.strip()).rstrip(".!"))
    words, seps = parts[0::2], parts[1::2]
    spans, i = [], 0
    while i < len(words):
        for j in range(len(words), i, -1):  # "Sense and Sensibility" survives splitting on "and"
            candidate = "".join(w + s for w, s in zip(words[i:j], seps[i:j - 1] + [""]))
            if j == i + 1 or is_title(candidate):  # joined parts only when exactly a title
                break
        if candidate.strip():
            spans.append(candidate.strip())
        i = j
    return spans


def count_in(low, default):
    """How many items 'recommend 5' / 'recommend five' asks for (1-20); ``default`` when it names none."""
    digits = re.search(r"\b(\d+)\b", low)
    words = [_NUMBERS[w] for w in re.findall(r"[a-z]+", low) if w in _NUMBERS]
    count = int(digits.group(1)) if digits else (words[0] if words else default)
    return max(1, min(count, 20))


def index_in(low, shown):
    """The 1-based position that 'the second one', '#2' or 'the last one' points at among ``shown`` items, or
    None."""
    number = re.search(r"#?\b(\d+)\b", low)
    ordinal = [_ORDINALS[w] for w in re.findall(r"[a-z]+", low) if w in _ORDINALS]
    index = int(number.group(1)) if number else (ordinal[0] if ordinal else None)
    if "last" in low.split():
        index = shown
    return index if index and 1 <= index <= shown else None
