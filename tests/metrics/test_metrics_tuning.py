"""Per-class threshold tuning and thresholds.json (write, read, checks, PaddleX form)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlcls_cli.errors import ConfigError, ExitCode, InputMissingError
from mlcls_cli.metrics import (
    THRESHOLDS_SCHEMA,
    binarize,
    load_thresholds,
    resolve_thresholds,
    save_thresholds,
    threshold_metrics,
    thresholds_document,
    thresholds_to_paddlex,
    tune_thresholds,
    validate_thresholds,
)

# class 0: positives at 0.30/0.45, negatives at 0.10/0.20 -> nothing passes 0.5 (F1 0);
#          best cut halfway between 0.30 and 0.20 = 0.25 -> F1 1.
# class 1: positives at 0.90/0.85, negatives at 0.60/0.70 -> at 0.5 precision 1/2 (F1 2/3);
#          best cut halfway between 0.85 and 0.70 = 0.775 -> F1 1.
# class 2: no positive -> keeps the default.
PROBS = np.array(
    [
        [0.30, 0.90, 0.10],
        [0.45, 0.60, 0.20],
        [0.10, 0.85, 0.70],
        [0.20, 0.70, 0.40],
    ]
)
TARGETS = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 0]])
NAMES = ["cat", "dog", "bird"]


def test_tuning_improves_f1_over_the_default() -> None:
    thr = tune_thresholds(PROBS, TARGETS)
    assert thr[0] == pytest.approx(0.25)
    assert thr[1] == pytest.approx(0.775)
    assert thr[2] == 0.5
    before = threshold_metrics(PROBS, TARGETS, 0.5)
    after = threshold_metrics(PROBS, TARGETS, thr)
    assert before.f1[:2].tolist() == pytest.approx([0.0, 2 / 3])
    assert after.f1[:2].tolist() == [1.0, 1.0]
    assert after.macro_F1 > before.macro_F1
    assert after.CF1 == 1.0 and before.CF1 < 1.0


def test_default_for_classes_without_positives_is_configurable() -> None:
    assert tune_thresholds(PROBS, TARGETS, default=0.3)[2] == 0.3


def test_equal_best_f1_takes_the_highest_threshold() -> None:
    # ranking 0.9 P, 0.8 N, 0.7 N, 0.6 P with 2 positives; F1 = 2TP/(Np + 2):
    # cut after 0.9 -> 2/3; after 0.8 -> 1/2; after 0.7 -> 2/5; after 0.6 -> 4/6 = 2/3 (tie with the first)
    probs = np.array([[0.9], [0.8], [0.7], [0.6]])
    targets = np.array([[1], [0], [0], [1]])
    thr = tune_thresholds(probs, targets)
    assert thr[0] == pytest.approx(0.85)
    assert binarize(probs, thr).ravel().tolist() == [True, False, False, False]


def test_grid_candidates() -> None:
    grid = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    thr = tune_thresholds(PROBS, TARGETS, grid=grid)
    # class 0: any grid value in [0.2, 0.3) gives F1 1: only 0.2 -> 0.2
    # class 1: 0.7 and 0.8 both give F1 1 -> the highest, 0.8
    assert thr.tolist() == [0.2, 0.8, 0.5]
    with pytest.raises(ValueError, match="grid"):
        tune_thresholds(PROBS, TARGETS, grid=[0.5, 1.5])
    with pytest.raises(ValueError, match="grid"):
        tune_thresholds(PROBS, TARGETS, grid=[])


def test_grid_equal_f1_takes_the_highest_threshold() -> None:
    # same ranking as the tie test above: 0.85 and 0.5 both give F1 2/3 on the grid
    probs = np.array([[0.9], [0.8], [0.7], [0.6]])
    targets = np.array([[1], [0], [0], [1]])
    assert tune_thresholds(probs, targets, grid=[0.5, 0.85])[0] == 0.85


def _best_f1_brute_force(scores: np.ndarray, truth: np.ndarray) -> float:
    """Best F1 over every threshold t in {0} + distinct scores, predicting `score > t`."""
    best = 0.0
    for t in {0.0, *scores.tolist()}:
        tp = sum(1 for s, y in zip(scores, truth, strict=True) if s > t and y)
        predicted = sum(1 for s in scores if s > t)
        best = max(best, 2 * tp / (predicted + truth.sum()))
    return best


@pytest.mark.parametrize("seed", range(20))
def test_tuned_threshold_reaches_the_best_possible_f1(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, c = int(rng.integers(2, 40)), 4
    probs = np.round(rng.random((n, c)), 2).astype(np.float32)  # float32 and ties on purpose
    targets = (rng.random((n, c)) < 0.4).astype(int)
    thr = tune_thresholds(probs, targets)
    got = threshold_metrics(probs, targets, thr).f1
    for k in range(c):
        if targets[:, k].any():
            assert got[k] == pytest.approx(_best_f1_brute_force(probs[:, k], targets[:, k]), abs=1e-12)
        else:
            assert thr[k] == 0.5


def test_adjacent_float32_scores_still_split() -> None:
    # The two scores are neighbouring float32 values; their float64 midpoint rounds onto one of them in
    # float32, so the tuner must fall back to the lower score to keep `prob > t` selecting the positive only.
    low = np.float32(0.6)
    high = np.nextafter(low, np.float32(1.0))
    probs = np.array([[high], [low]], dtype=np.float32)
    thr = tune_thresholds(probs, [[1], [0]])
    assert binarize(probs, thr).ravel().tolist() == [True, False]
    assert binarize(probs.astype(np.float64), thr).ravel().tolist() == [True, False]


def test_positives_only_at_zero_keep_the_default() -> None:
    # No threshold >= 0 can select a score of exactly 0 with the strict rule.
    assert tune_thresholds([[0.0], [0.0]], [[1], [0]])[0] == 0.5


def test_lowest_cut_predicts_everything_when_best() -> None:
    # every sample positive: the best cut is halfway to 0 below the lowest score
    thr = tune_thresholds([[0.4], [0.2]], [[1], [1]])
    assert thr[0] == pytest.approx(0.1)


def test_thresholds_json_round_trip_and_paddlex_form(tmp_path: Path) -> None:
    thr = tune_thresholds(PROBS, TARGETS)
    path = tmp_path / "out" / "thresholds.json"
    written = save_thresholds(
        path, thr, label_names=NAMES, classes_without_positives=[2], metadata={"source": "val.txt"}
    )
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert raw == written
    assert raw["schema"] == THRESHOLDS_SCHEMA and raw["metric"] == "f1" and raw["default"] == 0.5
    assert raw["label_names"] == NAMES and raw["num_classes"] == 3 and raw["source"] == "val.txt"
    assert raw["classes_without_positives"] == [2]
    assert list(raw["per_class"]) == ["0", "1", "2"]
    assert [p.name for p in path.parent.iterdir()] == ["thresholds.json"]  # no temporary file left

    loaded = load_thresholds(path, label_names=NAMES)
    assert resolve_thresholds(loaded, 3).tolist() == thr.tolist()

    paddlex = thresholds_to_paddlex(loaded)
    assert paddlex == {"default": 0.5, 0: thr[0], 1: thr[1], 2: 0.5}
    assert all(type(v) is float for v in paddlex.values())
    assert all(type(k) is int for k in paddlex if k != "default")
    assert resolve_thresholds(paddlex, 3).tolist() == thr.tolist()


def test_paddlex_form_from_a_bare_paddlex_dict() -> None:
    assert thresholds_to_paddlex({"default": 0.5, "3": 0.7, 1: 0.2}) == {"default": 0.5, 3: 0.7, 1: 0.2}
    assert thresholds_to_paddlex({"default": 1}) == {"default": 1.0}
    with pytest.raises(ValueError, match="default"):
        thresholds_to_paddlex({"3": 0.7})
    with pytest.raises(ValueError, match="within"):
        thresholds_to_paddlex({"default": 0.5, "3": 7})


def test_load_accepts_a_bare_paddlex_form_file(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"default": 0.6, "1": 0.2}', encoding="utf-8")
    loaded = load_thresholds(path, label_names=NAMES)
    assert resolve_thresholds(loaded, 3).tolist() == [0.6, 0.2, 0.6]


def test_load_refuses_thresholds_for_other_labels(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.json"
    save_thresholds(path, [0.1, 0.2, 0.3], label_names=NAMES)
    with pytest.raises(ConfigError, match="tuned for other labels"):
        load_thresholds(path, label_names=["cat", "dog", "fish"])
    with pytest.raises(ConfigError, match="tuned for other labels"):
        load_thresholds(path, label_names=["cat", "dog"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "cannot read"),
        ("[0.5]", "JSON object"),
        ('{"per_class": {"0": 0.5}}', "default"),
        ('{"default": 0.5, "per_class": {"0": 2.0}}', "within"),
        ('{"default": 0.5, "per_class": 5}', "per_class"),
        ('{"default": 0.5, "per_class": {"5": 0.2}, "label_names": ["a", "b"]}', "out of range"),
        ('{"default": 0.5, "label_names": "a,b"}', "label_names"),
        ('{"default": 0.5, "label_names": ["a"], "num_classes": 2}', "num_classes"),
        ('{"schema": "mlcls.thresholds/9", "default": 0.5}', "schema"),
        ('{"default": 0.5, "metric": "f1"}', "invalid class key"),
    ],
)
def test_load_rejects_bad_files_with_config_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "thresholds.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as info:
        load_thresholds(path)
    assert info.value.exit_code == ExitCode.CONFIG
    assert info.value.hint


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputMissingError, match="not found") as info:
        load_thresholds(tmp_path / "nope.json")
    assert info.value.exit_code == ExitCode.NOINPUT


def test_document_checks_its_inputs() -> None:
    with pytest.raises(ValueError, match="3 values"):
        thresholds_document([0.1, 0.2], label_names=NAMES)
    doc = thresholds_document(0.4, label_names=NAMES, default=0.45, metric="f1")
    assert doc["per_class"] == {"0": 0.4, "1": 0.4, "2": 0.4} and doc["default"] == 0.45
    assert validate_thresholds(doc, label_names=NAMES) == doc


def test_written_file_is_readable_by_a_fresh_process(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.json"
    save_thresholds(path, tune_thresholds(PROBS, TARGETS), label_names=NAMES)
    code = (
        "import sys; from mlcls_cli.metrics import load_thresholds, thresholds_to_paddlex;"
        f"print(thresholds_to_paddlex(load_thresholds({str(path)!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "{'default': 0.5, 0: 0.25, 1: 0.775, 2: 0.5}"
