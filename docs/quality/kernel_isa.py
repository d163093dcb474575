"""Does a training's result depend on the CPU's vector instructions? A toy phase-0 backbone and a toy GRU4Rec,
trained in one process; prints a hash of each one's weights and its test NDCG@10.

    python docs/quality/kernel_isa.py                          # torch's kernels for this CPU (e.g. AVX512)
    ATEN_CPU_CAPABILITY=avx2 python docs/quality/kernel_isa.py # the AVX2 kernels, as on a CPU without AVX512

Same hash twice in a row: the run is deterministic on this machine. A different hash under another
``ATEN_CPU_CAPABILITY``: the weights depend on which kernels torch picked, so two boxes with different CPUs train
different weights from the same seed (a long training, like the 20-epoch phase-0 backbone, carries the rounding
into a different model; cells record ``machine.cpu_capability`` since the twenty-seventh session).
"""

import hashlib
import json
import os
import sys
import tempfile

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

import recbole_ilm  # noqa: E402,F401
from conftest import toy_config, write_toy_dataset  # noqa: E402
from recbole_ilm.quick_start import run_recbole_ilm  # noqa: E402


def weights_hash(path):
    state = torch.load(path, weights_only=False)  # the plugin's own checkpoint
    state = state.get("state_dict", state)
    digest = hashlib.sha1()
    for key in sorted(state):
        if torch.is_tensor(state[key]):
            digest.update(state[key].detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:12]


def main():
    folder = tempfile.mkdtemp()
    os.chdir(folder)  # RecBole's log folders
    write_toy_dataset(folder, n_users=80, n_items=40, per_user=16)
    out = {"cpu_capability": torch.backends.cpu.get_cpu_capability()}
    for model, extra in (("BackboneOnly", {"backbone_epochs": 3, "epochs": 0, "llm_hidden_size": 64, "llm_layers": 2}),
                         ("GRU4Rec", {"epochs": 5})):
        config = toy_config(folder, os.path.join(folder, "saved"), ilm_cache_dir=os.path.join(folder, "cache"), **extra)
        result = run_recbole_ilm(model=model, dataset="toy", config_dict=config)
        out[model] = {"weights": weights_hash(result["saved_model_file"]),
                      "ndcg@10": float(result["test_result"]["ndcg@10"])}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
