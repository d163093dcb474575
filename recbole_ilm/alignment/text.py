"""Item text for the Q-Former's text tower, tokenized once with the BERT (all-MiniLM-L6-v2) WordPiece tokenizer.

Only the word pieces that occur in the catalogue's texts are kept (a compact vocabulary, plus [PAD] [UNK] [CLS]
[SEP] and a decoder-start token), so the text embedding table and the generation head stay small; with
``qformer_init: minilm`` the kept rows are copied from the pretrained embedding table.
"""

import numpy as np

from recbole_ilm.resources import minilm_dir

SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[unused0]")  # [unused0] plays BLIP-2's [DEC]
PAD, UNK, CLS, SEP, DEC = range(len(SPECIAL))


def load_bert_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_dir())


class ItemTextTable:
    """``tokens[item]`` ([CLS] text [SEP], compact ids, padded) and ``lengths[item]`` (0 = no text)."""

    def __init__(self, texts, max_length, tokenizer=None):
        tokenizer = tokenizer or load_bert_tokenizer()
        encoded = [tokenizer(t, add_special_tokens=False, truncation=True, max_length=max_length - 2)["input_ids"]
                   if t else [] for t in texts]
        special_ids = tokenizer.convert_tokens_to_ids(list(SPECIAL))
        used = sorted({i for row in encoded for i in row} - set(special_ids))
        self.bert_ids = np.asarray(special_ids + used, dtype=np.int64)  # compact id -> BERT id
        to_compact = {b: c for c, b in enumerate(self.bert_ids)}
        self.tokens = np.full((len(texts), max_length), PAD, dtype=np.int64)
        self.lengths = np.zeros(len(texts), dtype=np.int64)
        for i, row in enumerate(encoded):
            if not row:
                continue
            ids = [CLS] + [to_compact[b] for b in row] + [SEP]
            self.tokens[i, : len(ids)] = ids
            self.lengths[i] = len(ids)

    @property
    def vocab_size(self):
        return len(self.bert_ids)
