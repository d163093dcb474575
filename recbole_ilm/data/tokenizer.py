"""Tokenizers for prompts: the plugin's own SentencePiece model, or the tokenizer of a local Hugging Face LLM.

Both expose the same small interface (``encode_text``, ``encode_id``, ``decode`` and the special ids) so that the
prompt builder does not care which LLM it feeds.

Id tokenization (documented choice): the SentencePiece model is trained with ``▁item_``, ``▁user_`` and every
``digits_per_token``-digit chunk ("00".."99" by default) as user-defined symbols, so ``item_0412`` is always the
three tokens ``▁item_ 04 12``: fixed length, 100-way branching per level. That keeps the id trie shallow
(exact scoring of all items and constrained beam search touch only a few hundred trie nodes) and gives the LLM
one output distribution per digit pair. A foreign tokenizer must also split every id into the same number of
tokens; :func:`id_token_table` checks it.
"""

import io

import numpy as np

from recbole_ilm.cache import atomic_output
from recbole_ilm.errors import ILMConfigError

SLOT_PIECE = "<emb>"


class SentencePieceTokenizer:
    """The plugin's tokenizer (trained offline on the text-only prompt corpus, saved with the run)."""

    kind = "sentencepiece"

    def __init__(self, model_file=None, model_proto=None):
        import sentencepiece as spm

        self.model_file = model_file or "<from checkpoint>"
        if model_proto is not None:
            self.sp = spm.SentencePieceProcessor(model_proto=bytes(model_proto))
        else:
            self.sp = spm.SentencePieceProcessor(model_file=model_file)
        self.pad_id = self.sp.pad_id()
        self.bos_id = self.sp.bos_id()
        self.eos_id = self.sp.eos_id()
        self.slot_id = self.sp.piece_to_id(SLOT_PIECE)
        self.vocab_size = self.sp.get_piece_size()

    @classmethod
    def train(cls, sentences, model_file, vocab_size, id_prefixes, digits_per_token):
        """Train on ``sentences`` (an iterable of str) and write ``model_file``."""
        import sentencepiece as spm

        chunks = [f"{i:0{digits_per_token}d}" for i in range(10**digits_per_token)]
        symbols = ["▁" + p for p in id_prefixes] + [SLOT_PIECE] + chunks
        buf = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), model_writer=buf, vocab_size=max(vocab_size, len(symbols) + 64),
            user_defined_symbols=symbols, hard_vocab_limit=False, model_type="unigram", character_coverage=1.0,
            pad_id=3, unk_id=0, bos_id=1, eos_id=2, minloglevel=2, num_threads=1, seed_sentencepiece_size=100000,
        )
        with atomic_output(model_file) as tmp, open(tmp, "wb") as f:
            f.write(buf.getvalue())
        return cls(model_file)

    def serialized(self):
        """The model as bytes (stored inside checkpoints)."""
        return self.sp.serialized_model_proto()

    def encode_text(self, text):
        return list(self.sp.encode(text.strip()))

    def encode_id(self, id_text):
        return list(self.sp.encode(id_text))

    def decode(self, ids):
        pieces = [self.sp.id_to_piece(int(i)) for i in ids if int(i) != self.pad_id]
        return "".join(pieces).replace("▁", " ").strip()


class HFTokenizer:
    """Adapter for the tokenizer shipped with a local Hugging Face causal LM (``llm_path``)."""

    kind = "huggingface"

    def __init__(self, path):
        from transformers import AutoTokenizer

        try:
            self.tok = AutoTokenizer.from_pretrained(path)
        except Exception as e:  # noqa: BLE001 - any failure means the folder is not a usable tokenizer
            raise ILMConfigError(f"llm_path: cannot load a tokenizer from '{path}' ({type(e).__name__}: {e})")
        self.model_file = path
        t = self.tok
        fallback = t.eos_token_id if t.eos_token_id is not None else 0
        self.pad_id = t.pad_token_id if t.pad_token_id is not None else fallback
        self.bos_id = t.bos_token_id
        self.eos_id = t.eos_token_id
        self.slot_id = t.unk_token_id if t.unk_token_id is not None else self.pad_id
        self.vocab_size = len(t)

    def encode_text(self, text):
        return self.tok(" " + text.strip(), add_special_tokens=False)["input_ids"]

    def encode_id(self, id_text):
        return self.tok(" " + id_text, add_special_tokens=False)["input_ids"]

    def decode(self, ids):
        return self.tok.decode([int(i) for i in ids if int(i) != self.pad_id]).strip()


def id_token_table(tokenizer, index):
    """``[len(index), L]`` token ids of every id of ``index`` (row 0, padding, is all pad).

    Raises :class:`ILMConfigError` when ids do not all tokenize to the same length.
    """
    rows = [tokenizer.encode_id(index.text(i)) for i in range(1, len(index))]
    lengths = {len(r) for r in rows}
    if len(lengths) != 1:
        by_len = {}
        for i, r in enumerate(rows, start=1):
            by_len.setdefault(len(r), index.text(i))
        examples = ", ".join(f"'{t}' -> {n} tokens" for n, t in sorted(by_len.items()))
        raise ILMConfigError(
            f"the {tokenizer.kind} tokenizer ({tokenizer.model_file}) splits {index.prefix}ids into different "
            f"lengths ({examples}); exact scoring and constrained decoding need fixed-length ids. Use the "
            f"plugin's tokenizer (llm_path: ~) or an LLM whose tokenizer splits digits one by one and set "
            f"id_digits_per_token: 1"
        )
    length = lengths.pop()
    table = np.full((len(index), length), tokenizer.pad_id, dtype=np.int64)
    if rows:
        table[1:] = np.asarray(rows, dtype=np.int64)
    return table
