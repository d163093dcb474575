"""Issue 14: one clean shape — no import loop, one source of truth for options, lookup by convention, variants as
YAML, small files."""

import ast
import glob
import os
from collections import defaultdict

import numpy as np
import pytest
import yaml

from conftest import ROOT
from recbole_ilm.errors import ILMConfigError

PACKAGE = os.path.join(ROOT, "recbole_ilm")


def _modules():
    mods = {}
    for path in glob.glob(os.path.join(PACKAGE, "**", "*.py"), recursive=True):
        rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
        mods[rel[: -len(".__init__")] if rel.endswith(".__init__") else rel] = path
    return mods


def _import_graph(mods):
    """module -> modules of the package it imports (imports inside functions count too)."""
    edges = defaultdict(set)
    for mod, path in mods.items():
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target not in (mod, "recbole_ilm"):
                    edges[mod].add(target)
    return edges


def _cycles(nodes, edges):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return found


def test_no_import_loop_between_modules_or_between_top_level_parts():
    mods = _modules()
    edges = _import_graph(mods)
    assert _cycles(mods, edges) == []
    part = lambda m: ".".join(m.split(".")[:2])  # noqa: E731  (a sub-package or top-level module)
    part_edges = defaultdict(set)
    for a, targets in edges.items():
        part_edges[part(a)] |= {part(b) for b in targets if part(b) != part(a)}
    assert _cycles({part(m) for m in mods}, part_edges) == []


def test_the_loop_checker_finds_a_loop():
    assert _cycles({"a", "b", "c"}, {"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]


def test_the_library_never_imports_the_experiments():
    edges = _import_graph(_modules())
    for mod, targets in edges.items():
        if not mod.startswith("recbole_ilm.experiments"):
            assert not any(t.startswith("recbole_ilm.experiments") for t in targets), mod


def test_no_file_over_300_lines():
    long = {os.path.relpath(p, ROOT): n for p in _modules().values()
            if (n := len(open(p, encoding="utf-8").read().splitlines())) > 300}
    assert long == {}


def _yaml_keys():
    keys = defaultdict(list)
    for path in glob.glob(os.path.join(ROOT, "properties", "**", "*.yaml"), recursive=True):
        for key in yaml.safe_load(open(path)) or {}:
            if not (key == "model" and os.sep + "variants" + os.sep in path):  # a variant names its model
                keys[key].append(os.path.relpath(path, ROOT))
    return keys


def test_every_option_in_the_yaml_files_has_a_spec_with_help():
    from recbole_ilm.options import CHECKS, SPEC

    missing = {k: files for k, files in _yaml_keys().items() if k not in SPEC}
    assert missing == {}
    for key, (kind, allowed, help_text) in SPEC.items():
        assert kind in CHECKS and help_text.strip(), key


def test_every_spec_has_a_default(toy):
    from recbole_ilm.config import Config
    from recbole_ilm.lookup import plugin_models
    from recbole_ilm.options import SPEC

    finals = {}
    for name in plugin_models():
        finals.update(Config(model=name, dataset="toy", config_dict={"data_path": toy()["data_path"]})
                      .final_config_dict)
    assert sorted(k for k in SPEC if k not in finals) == []


def test_plugin_models_are_found_by_file_and_trained_by_their_base_class(monkeypatch):
    from recbole_ilm import lookup
    from recbole_ilm.model.base import FrozenLLMRecommender
    from recbole_ilm.trainer import ILMTrainer

    assert set(lookup.plugin_models()) == {"ILM", "MLPAdapter", "BackboneOnly"}
    for name, cls in lookup.plugin_models().items():
        assert lookup.get_model(name) is cls and lookup.get_trainer(cls.type, name) is ILMTrainer

    class NewAdapter(FrozenLLMRecommender):  # a new model file that registers nothing anywhere
        pass

    class NotFrozen:
        pass

    monkeypatch.setattr(lookup, "plugin_model", lambda name: {"NewAdapter": NewAdapter, "X": NotFrozen}.get(name))
    assert lookup.get_trainer(None, "NewAdapter") is ILMTrainer
    with pytest.raises(ILMConfigError, match="has no trainer"):
        lookup.get_trainer(None, "X")


def test_variants_are_yaml_files_shared_by_every_command():
    from recbole_ilm.options import SPEC
    from recbole_ilm.variants import resolve_variant, variant_names

    assert {"ILM", "ILM-rand", "ILM-IT", "ILM-IT-II", "ILM-IT-UI"} <= set(variant_names())
    assert resolve_variant("ILM-rand") == ("ILM", {"phase1_epochs": 0})
    for name in variant_names():
        model, options = resolve_variant(name)
        assert model in ("ILM", "MLPAdapter", "BackboneOnly") and set(options) <= set(SPEC)
    assert resolve_variant("MLPAdapter", models=("MLPAdapter",)) == ("MLPAdapter", {})
    with pytest.raises(ILMConfigError, match="unknown variant 'ILM-nope'"):
        resolve_variant("ILM-nope", models=("ILM",))


def test_asking_for_a_phase_the_model_does_not_have_is_a_clear_error(toy):
    from recbole_ilm.quick_start import run_recbole_ilm

    with pytest.raises(ILMConfigError, match=r"phase: MLPAdapter has phases \[0, 2\], not 1"):
        run_recbole_ilm(model="MLPAdapter", dataset="toy", config_dict=toy(phase=1))


def test_cli_variant_flag(toy, tmp_path, capsys, monkeypatch):
    import sys

    import run_recbole_ilm

    config = tmp_path / "toy.yaml"
    config.write_text(yaml.safe_dump(toy()))
    argv = ["--variant", "ILM-rand", "-d", "toy", "--config_files", str(config)]
    monkeypatch.setattr(sys, "argv", ["run_recbole_ilm.py"] + argv)
    assert run_recbole_ilm.main(argv) == 0
    assert not glob.glob(str(tmp_path / "saved" / "ILM-toy-phase1-*.pth"))  # ILM-rand: no phase 1
    assert glob.glob(str(tmp_path / "saved" / "ILM-toy-phase2-*.pth"))
    assert run_recbole_ilm.main(["--variant", "ILM-nope", "-d", "toy"]) == 2
    assert "unknown variant 'ILM-nope'" in capsys.readouterr().err


def test_paper_profile_builds_and_takes_one_step_on_cpu(toy):
    """The GPU profile (paper sizes, bf16 on CUDA) builds on toy data and trains one phase-1 and one phase-2 step on
    a CPU in fp32, logging throughput."""
    import torch
    from recbole.utils import init_seed

    from recbole_ilm.config import Config
    from recbole_ilm.data.dataset import create_dataset, data_preparation
    from recbole_ilm.lookup import get_model
    from recbole_ilm.trainer.alignment_trainer import AlignmentTrainer
    from recbole_ilm.trainer.throughput import Meter, flops_per_token, precision
    from recbole_ilm.variants import profile_file

    sizes = {k: v for k, v in toy().items() if not k.startswith(("llm_", "qformer_", "itc_", "cf_kv"))}
    config = Config(model="ILM", dataset="toy", config_file_list=[profile_file("paper")],
                    config_dict={**sizes, "phase1_batch_size": 8, "train_batch_size": 4, "phase1_epochs": 1,
                                 "phase1_steps_per_epoch": 1})
    assert config["llm_layers"] == 8 and config["qformer_layers"] == 8 and config["mixed_precision"] == "bf16"
    init_seed(config["seed"], True)
    train, _, _ = data_preparation(config, create_dataset(config))
    model = get_model("ILM")(config, train._dataset)
    llm = sum(p.numel() for p in model.llm.parameters())
    qformer = sum(p.numel() for p in model.item_encoder.qformer.parameters())
    assert 110e6 < llm < 140e6 and 60e6 < qformer < 200e6  # the paper: ~128M backbone, ~168M Q-Former
    history = AlignmentTrainer(config, model.alignment_target(), train._dataset).fit()
    assert np.isfinite(history[-1]["train_itc"])
    model.set_phase(2)
    batch = next(iter(train))
    meter = Meter()
    model.meter = meter
    meter.start()
    with precision(config, "cpu"):  # CPU: fp32, whatever the profile says
        loss = model.calculate_loss(batch)
    loss.backward()
    stats = meter.stop(flops_per_token(model, 2))
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert stats["examples"] == len(batch) and stats["tokens"] > 0 and "mfu" not in stats  # no MFU without a GPU
    assert model.item_encoder.adaptor.weight.grad is not None and model.llm.lm_head.weight.grad is None
