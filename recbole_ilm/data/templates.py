"""Prompt templates for the two OpenP5-style tasks (our own wording).

Each task has 10 training templates (indices 0-9) and one held-out template (index 10) used only for the
"unseen prompt" evaluation. ``{user}`` is replaced by the user's id (+ its slot), ``{history}`` by the history's
item ids (+ slots) joined by ", ". The answer, an item id, follows the prompt.
"""

SEQUENTIAL = "sequential"
STRAIGHTFORWARD = "straightforward"
TASKS = (SEQUENTIAL, STRAIGHTFORWARD)
NUM_SEEN = 10
UNSEEN = NUM_SEEN  # index of the held-out template

TEMPLATES = {
    SEQUENTIAL: [
        "Here is the history of {user} : {history} . Predict the next item .",
        "{user} interacted with {history} . Which item comes next ?",
        "Given that {user} chose {history} , recommend the next item .",
        "The items {history} were picked by {user} one after another . What is the next pick ?",
        "Interaction sequence of {user} : {history} . Next item :",
        "After {history} , what will {user} pick ?",
        "{user} recently engaged with {history} . Suggest one item to follow .",
        "Based on the sequence {history} from {user} , guess the following item .",
        "What should be recommended to {user} , whose history is {history} ?",
        "Chronological record for {user} : {history} . The next item is",
        # held out: never used in training
        "Considering everything {user} has consumed so far , namely {history} , name the single item they will "
        "want next .",
    ],
    STRAIGHTFORWARD: [
        "Which item should be recommended to {user} ?",
        "Recommend an item for {user} .",
        "Pick the item {user} is most likely to enjoy .",
        "What would {user} choose ?",
        "Suggest something for {user} .",
        "{user} is looking for a new item . Which one fits ?",
        "Find the best item for {user} .",
        "Item recommendation for {user} :",
        "Which item matches the taste of {user} ?",
        "Select an item that {user} will interact with .",
        # held out: never used in training
        "Name one item that you believe {user} would like to try .",
    ],
}

TEMPLATE_VERSION = 2  # 2: the held-out template left out of the tokenizer's corpus; bump when the wording changes: cached tokenizers and backbones depend on it


def split_template(template):
    """``"a {user} b {history} c"`` -> ``["a", "{user}", "b", "{history}", "c"]`` (empty text parts dropped)."""
    parts, rest = [], template
    while rest:
        starts = [(rest.find(p), p) for p in ("{user}", "{history}") if p in rest]
        if not starts:
            parts.append(rest)
            break
        pos, placeholder = min(starts)
        parts.extend([rest[:pos], placeholder])
        rest = rest[pos + len(placeholder) :]
    return [p.strip() for p in parts if p.strip()]
