"""The paired comparison behind every "B - A ± s.e." in docs/results.md (``python -m recbole_ilm.experiments.paired``)."""

import json
import math

import pytest

from recbole_ilm.errors import ILMConfigError
from recbole_ilm.experiments import paired


def _write(tmp_path, name, ranks, targets, as_cell):
    record = {"test_ranks": ranks, "test_targets": targets}
    path = tmp_path / name
    path.write_text(json.dumps({"stats": record} if as_cell else record))
    return str(path)


def test_hand_checked_paired_difference(tmp_path):
    # ranks 0 / 1 / 3 / 10 give NDCG@10 1, 1/log2(3), 1/log2(5), 0
    a = _write(tmp_path, "a.json", [0, 10, 1], [5, 6, 7], as_cell=True)       # a benchmark cell
    b = _write(tmp_path, "b.json", [0, 0, 3], [5, 6, 7], as_cell=False)       # a fusion --out file
    r = paired.paired_difference(paired.test_rows(a), paired.test_rows(b))
    ga, gb = [1.0, 0.0, 1 / math.log2(3)], [1.0, 1.0, 1 / math.log2(5)]
    d = [y - x for x, y in zip(ga, gb)]
    mean = sum(d) / 3
    se = math.sqrt(sum((v - mean) ** 2 for v in d) / 2 / 3)
    assert r["n"] == 3
    assert r["a"] == pytest.approx(sum(ga) / 3) and r["b"] == pytest.approx(sum(gb) / 3)
    assert r["diff"] == pytest.approx(mean) and r["diff"] == pytest.approx(0.266582, abs=1e-6)
    assert r["se"] == pytest.approx(se) and r["se"] == pytest.approx(0.371237, abs=1e-6)


def test_runs_on_different_test_rows_are_refused(tmp_path):
    a = _write(tmp_path, "a.json", [0, 1], [5, 6], as_cell=True)
    b = _write(tmp_path, "b.json", [0, 1], [6, 5], as_cell=True)
    with pytest.raises(ILMConfigError, match="same test rows"):
        paired.paired_difference(paired.test_rows(a), paired.test_rows(b))


def test_the_command_line_prints_the_difference_and_names_a_file_without_ranks(tmp_path, capsys):
    a = _write(tmp_path, "a.json", [0, 10, 1], [5, 6, 7], as_cell=True)
    b = _write(tmp_path, "b.json", [0, 0, 3], [5, 6, 7], as_cell=True)
    paired.main([a, b])
    assert "B - A +0.2666 ± 0.3712" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"test": {"ndcg@10": 0.1}}))
    with pytest.raises(SystemExit, match="no per-row test ranks"):
        paired.main([a, str(bad)])
