"""Random indexing of items and users (OpenP5's "random indexing"): internal id -> ``item_0412``.

Every internal id 1..n gets a distinct random code in 1..n (a seeded permutation). Codes are written with a fixed
number of digits, a multiple of ``digits_per_token``, so an id is always ``prefix`` + the same number of digit
chunks. With the plugin's tokenizer the prefix and every chunk ("00".."99" for 2 digits per token) are single
tokens, hence every item id is exactly ``1 + digits / digits_per_token`` tokens.
"""

import json
import math

import numpy as np


class IdIndex:
    def __init__(self, prefix, codes, digits, digits_per_token):
        self.prefix = prefix
        self.codes = np.asarray(codes, dtype=np.int64)  # codes[internal_id]; codes[0] = 0 is padding
        self.digits = int(digits)
        self.digits_per_token = int(digits_per_token)
        self._by_code = {int(c): i for i, c in enumerate(self.codes) if i > 0}

    @classmethod
    def random(cls, prefix, num_ids, seed, digits_per_token=2):
        """Index ``num_ids - 1`` real ids (row 0 is RecBole's padding) with a seeded random permutation."""
        count = num_ids - 1
        rng = np.random.default_rng(seed)
        codes = np.zeros(num_ids, dtype=np.int64)
        codes[1:] = rng.permutation(count) + 1
        digits = max(1, len(str(count)))
        digits = int(math.ceil(digits / digits_per_token) * digits_per_token)
        return cls(prefix, codes, digits, digits_per_token)

    @classmethod
    def ordered(cls, prefix, order, num_ids, digits_per_token=2):
        """Index the real ids so that ``order[k]`` gets code ``k + 1`` (neighbours in the order share leading
        digit chunks; see :mod:`recbole_ilm.data.item_order`)."""
        order = np.asarray(order, dtype=np.int64)
        if sorted(order.tolist()) != list(range(1, num_ids)):
            raise ValueError("an id order must list every real id 1..n once")
        codes = np.zeros(num_ids, dtype=np.int64)
        codes[order] = np.arange(1, num_ids)
        digits = int(math.ceil(max(1, len(str(num_ids - 1))) / digits_per_token) * digits_per_token)
        return cls(prefix, codes, digits, digits_per_token)

    def __len__(self):
        return len(self.codes)

    @property
    def num_chunks(self):
        return self.digits // self.digits_per_token

    def text(self, internal_id):
        """``item_0412`` for an internal id."""
        return f"{self.prefix}{int(self.codes[internal_id]):0{self.digits}d}"

    def chunks(self, internal_id):
        """The digit chunks of an id, e.g. ``["04", "12"]``."""
        s = f"{int(self.codes[internal_id]):0{self.digits}d}"
        w = self.digits_per_token
        return [s[k : k + w] for k in range(0, len(s), w)]

    def parse(self, text):
        """Internal id for ``item_0412`` (or None when the text is not a valid id of this index)."""
        text = text.strip()
        if not text.startswith(self.prefix):
            return None
        digits = text[len(self.prefix) :]
        if len(digits) != self.digits or not digits.isdigit():
            return None
        return self._by_code.get(int(digits))

    def to_dict(self):
        return {"prefix": self.prefix, "codes": self.codes.tolist(), "digits": self.digits,
                "digits_per_token": self.digits_per_token}

    @classmethod
    def from_dict(cls, d):
        return cls(d["prefix"], d["codes"], d["digits"], d["digits_per_token"])

    def save(self, path):
        from recbole_ilm.cache import atomic_output

        with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f)

    @classmethod
    def load(cls, path):
        with open(path, "r", encoding="utf-8") as f:
            return cls.from_dict(json.load(f))
