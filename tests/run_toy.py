"""Child process for reliability tests: ``python run_toy.py <json config> <out json>`` runs one model."""

import json
import sys

import recbole_ilm  # noqa: F401
from recbole_ilm.experiments.cell_stats import examples_seen
from recbole_ilm.quick_start import run_recbole_ilm


def main():
    spec = json.loads(sys.argv[1])
    sys.argv = sys.argv[:1]
    result = run_recbole_ilm(model=spec.pop("model"), dataset=spec.pop("dataset"), config_dict=spec,
                             after_test=lambda trainer, train_data, test_data: examples_seen(trainer, train_data))
    with open(spec.get("out") or "/dev/stdout", "w") as f:
        json.dump({**{k: float(v) for k, v in result["test_result"].items()},
                   "examples_seen": result["after_test"], "saved_model_file": result["saved_model_file"]}, f)


if __name__ == "__main__":
    main()
