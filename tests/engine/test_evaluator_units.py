"""Evaluation helpers: locating weights and the run's settings, thresholds, PR points, plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlcls_cli.engine.evaluator import (
    find_training_config,
    locate_weights,
    multilabel_map,
    parse_threshold,
    trained_settings,
)
from mlcls_cli.engine.plots import ap_bar_chart, pr_curve, pr_curves
from mlcls_cli.errors import ConfigError, InputMissingError, UsageError
from mlcls_cli.metrics import average_precision_per_class, mean_average_precision, sigmoid

PNG = b"\x89PNG\r\n\x1a\n"


def test_locate_weights_accepts_files_prefixes_packages_and_output_folders(tmp_path: Path) -> None:
    best = tmp_path / "output" / "best_model"
    package = best / "inference"
    package.mkdir(parents=True)
    (best / "best_model.pdparams").write_bytes(b"w")
    for name in ("inference.json", "inference.pdiparams", "inference.yml"):
        (package / name).write_text("x")
    assert locate_weights(best / "best_model.pdparams") == ("pdparams", best / "best_model.pdparams")
    assert locate_weights(best / "best_model") == ("pdparams", best / "best_model.pdparams")  # PaddleX prefix
    assert locate_weights(package) == ("inference", package)
    assert locate_weights(tmp_path / "output") == ("inference", package)
    assert locate_weights(best) == ("inference", package)
    with pytest.raises(InputMissingError, match="weights not found"):
        locate_weights(tmp_path / "nope.pdparams")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no inference package"):
        locate_weights(tmp_path / "empty")


def test_training_config_is_found_beside_or_above_the_weights(tmp_path: Path) -> None:
    (tmp_path / "run" / "best_model" / "inference").mkdir(parents=True)
    (tmp_path / "run" / "config.yaml").write_text(
        "Global: {model: ResNet50_ML}\nTrain: {image_size: 96, batch_size: 4}\n"
    )
    path, data = find_training_config(tmp_path / "run" / "best_model" / "best_model.pdparams")
    assert path == tmp_path / "run" / "config.yaml"
    assert trained_settings(data) == {"model": "ResNet50_ML", "image_size": 96, "batch_size": 4}
    path, _ = find_training_config(tmp_path / "run" / "best_model" / "inference")
    assert path == tmp_path / "run" / "config.yaml"  # grandparent of the package files
    assert find_training_config(tmp_path / "elsewhere" / "w.pdparams") == (None, {})
    # PaddleX writes a PaddleClas-format config.yaml
    paddleclas = {"Global": {"pdx_model_name": "PP-LCNet_x1_0_ML", "image_shape": [3, 448, 448]}}
    assert trained_settings(paddleclas) == {"model": "PP-LCNet_x1_0_ML", "image_size": 448}


def test_threshold_option_accepts_a_number_or_a_thresholds_file(tmp_path: Path) -> None:
    from mlcls_cli.metrics import save_thresholds

    assert parse_threshold(None, ["a", "b"]) == (0.5, None)
    assert parse_threshold("0.3", ["a", "b"]) == (0.3, None)
    with pytest.raises(UsageError, match="within"):
        parse_threshold("1.5", ["a", "b"])
    path = tmp_path / "thresholds.json"
    save_thresholds(path, [0.2, 0.7], label_names=["a", "b"])
    value, source = parse_threshold(str(path), ["a", "b"])
    assert source == str(path) and value == {"default": 0.5, 0: 0.2, 1: 0.7}
    with pytest.raises(ConfigError, match="other labels"):
        parse_threshold(str(path), ["x", "y"])


def test_pr_curve_points_by_hand() -> None:
    recall, precision = pr_curve(np.array([0.9, 0.8, 0.7, 0.1]), np.array([1, 0, 1, 0]))
    # one point per positive; precision 1 at recall 0.5, 2/3 at recall 1; starts at recall 0
    np.testing.assert_allclose(recall, [0, 0.5, 1])
    np.testing.assert_allclose(precision, [1, 1, 2 / 3])
    # AP is the mean precision at the positives' ranks: (1 + 2/3) / 2
    ap = average_precision_per_class(np.array([[0.9], [0.8], [0.7], [0.1]]), np.array([[1], [0], [1], [0]]))
    assert ap[0] == pytest.approx((1 + 2 / 3) / 2)


def test_pr_curve_is_interpolated_when_the_top_score_is_a_negative() -> None:
    # raw precision is 0 at rank 1 (recall 0): the curve must not start at (0, 0)
    recall, precision = pr_curve(np.array([0.9, 0.8, 0.7, 0.2]), np.array([0, 1, 0, 1]))
    np.testing.assert_allclose(recall, [0, 0.5, 1])
    np.testing.assert_allclose(precision, [0.5, 0.5, 0.5])  # max precision at recall >= r
    assert pr_curve(np.array([0.3, 0.1]), np.array([0, 0])) == (pytest.approx([]), pytest.approx([]))


def test_pr_curve_has_no_spikes() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        truth = (rng.random(60) > 0.7).astype(int)
        truth[0] = 1
        scores = rng.random(60) * 0.5 + truth * rng.random(60) * 0.5
        recall, precision = pr_curve(scores, truth)
        assert recall[0] == 0 and recall[-1] == 1 and precision[0] == precision[1]
        assert np.all(np.diff(recall) > 0)  # one point per recall level, no vertical segments of its own
        assert np.all(np.diff(precision) <= 0)  # never jumps back up
        # each level's precision is the best precision reached at that recall or beyond
        order = np.argsort(-scores, kind="stable")
        hits = truth[order] > 0
        raw = np.cumsum(hits) / np.arange(1, 61)
        levels = np.cumsum(hits) / hits.sum()
        for r, p in zip(recall[1:], precision[1:], strict=True):
            assert p == pytest.approx(raw[levels >= r - 1e-12].max())


def test_training_map_is_the_report_map_of_the_logits() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(40, 5)).astype(np.float32) * 30  # large logits: sigmoid ties at 1.0
    targets = (rng.random((40, 5)) > 0.6).astype(np.float32)
    targets[:, 4] = 0  # a class without positives is left out
    expected = mean_average_precision(sigmoid(logits), targets)
    assert multilabel_map(logits, targets) == expected


def test_plots_are_pngs_for_few_and_many_classes(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for k in (3, 40):
        probs = rng.random((30, k))
        targets = (rng.random((30, k)) > 0.5).astype(float)
        targets[:, 0] = 0
        names = [f"class {i}" for i in range(k)]
        ap = average_precision_per_class(probs, targets)
        per_class = [
            {"id": i, "name": names[i], "ap": None if np.isnan(ap[i]) else float(ap[i])} for i in range(k)
        ]
        for path in (
            pr_curves(probs, targets, names, tmp_path / f"pr{k}.png"),
            ap_bar_chart(per_class, tmp_path / f"ap{k}.png"),
        ):
            assert path.read_bytes()[:8] == PNG
