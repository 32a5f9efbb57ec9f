"""Thresholds in every accepted form, strict >, ordering, top-k, 5 decimals; --threshold text parsing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlcls_cli.errors import ConfigError, InputMissingError, UsageError
from mlcls_cli.inference.postprocess import Postprocessor, check_top_k, parse_threshold_text, thresholds_for
from mlcls_cli.metrics import save_thresholds

NAMES = ["cat", "dog", "car", "tree"]
PROBS = np.array([[0.9, 0.5, 0.70000123, 0.1], [0.2, 0.2, 0.2, 0.2]], dtype=np.float32)


def _kept(threshold=None, top_k=None, default=0.5):
    post = Postprocessor(NAMES, default_threshold=default)
    return post.apply(PROBS, post.thresholds(threshold), top_k)


def test_default_threshold_is_strict_and_ordered_by_score() -> None:
    first, second = _kept()
    assert first.class_ids == [0, 2]  # 0.5 is not > 0.5
    assert first.label_names == ["cat", "car"]
    assert first.scores == [0.9, 0.7]  # rounded to 5 decimals
    assert second.class_ids == [] and second.scores == [] and second.label_names == []


def test_float32_comparison_like_paddlex() -> None:
    # 0.7 as float32 is 0.69999999; PaddleX compares in the probabilities' float32, so 0.7 > 0.7 is False
    post = Postprocessor(NAMES)
    probs = np.array([[np.float32(0.7)] * 4], dtype=np.float32)
    assert post.apply(probs, post.thresholds(0.7))[0].class_ids == []


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (0.05, [0, 2, 1, 3]),
        (0, [0, 2, 1, 3]),  # an int is accepted (PaddleX rejects it)
        (1, []),
        ([0.95, 0.4, 0.8, 0.0], [1, 3]),
        ((0.95, 0.4, 0.8, 0.0), [1, 3]),
        (np.array([0.95, 0.4, 0.8, 0.0]), [1, 3]),
        ({"default": 0.8, 1: 0.3, "3": 0.05}, [0, 1, 3]),
        ({"default": 0.95}, []),
    ],
)
def test_threshold_forms(threshold, expected) -> None:
    assert _kept(threshold)[0].class_ids == expected


def test_equal_scores_keep_the_lower_class_id_first_and_top_k() -> None:
    post = Postprocessor(NAMES)
    probs = np.array([[0.6, 0.8, 0.6, 0.8]], dtype=np.float32)
    assert post.apply(probs, post.thresholds(0.5))[0].class_ids == [1, 3, 0, 2]
    assert post.apply(probs, post.thresholds(0.5), top_k=3)[0].class_ids == [1, 3, 0]
    assert _kept(0.0, top_k=1)[0].class_ids == [0]
    assert _kept(0.0, top_k=10)[0].class_ids == [0, 2, 1, 3]


def test_scores_are_rounded_to_five_decimals() -> None:
    post = Postprocessor(["a"])
    kept = post.apply(np.array([[0.123456789]], dtype=np.float32), post.thresholds(0.0))[0]
    assert kept.scores == [0.12346]
    assert isinstance(kept.scores[0], float) and isinstance(kept.class_ids[0], int)


@pytest.mark.parametrize(
    ("threshold", "fragment"),
    [
        ({0: 0.3}, "'default'"),
        ({"default": 0.5, 7: 0.1}, "out of range"),
        ({"default": 0.5, "dog": 0.1}, "invalid class key"),
        ([0.5, 0.5], "must have 4 values"),
        (1.5, "within [0, 1]"),
        (True, "unsupported threshold"),
        ("0.5x", None),  # read as a thresholds.json path
    ],
)
def test_bad_thresholds(threshold, fragment) -> None:
    post = Postprocessor(NAMES)
    if fragment is None:
        with pytest.raises(InputMissingError, match="thresholds file not found"):
            post.thresholds(threshold)
        return
    with pytest.raises(UsageError) as info:
        post.thresholds(threshold)
    assert fragment in info.value.message


def test_thresholds_json_from_eval(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.json"
    save_thresholds(path, [0.95, 0.4, 0.8, 0.0], label_names=NAMES)
    assert _kept(str(path))[0].class_ids == [1, 3]
    assert _kept(path)[0].class_ids == [1, 3]
    assert _kept(json.loads(path.read_text()))[0].class_ids == [1, 3]
    # the default of a model can be a thresholds file too
    assert _kept(default=str(path))[0].class_ids == [1, 3]
    other = tmp_path / "other.json"
    save_thresholds(other, [0.5] * 4, label_names=["a", "b", "c", "d"])
    with pytest.raises(ConfigError, match="tuned for other labels"):
        _kept(str(other))
    with pytest.raises(UsageError, match="tuned for other labels"):
        _kept(json.loads(other.read_text()))


def test_thresholds_for_returns_per_class_values() -> None:
    np.testing.assert_array_equal(thresholds_for({"default": 0.5, "2": 0.25}, NAMES), [0.5, 0.5, 0.25, 0.5])


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0.3", 0.3),
        (" 1 ", 1.0),
        ("0.1,0.2,0.3,0.4", [0.1, 0.2, 0.3, 0.4]),
        ("[0.1, 0.2]", [0.1, 0.2]),
        ('{"default": 0.5, "3": 0.7}', {"default": 0.5, "3": 0.7}),
        ("{default: 0.5, 3: 0.7}", {"default": 0.5, 3: 0.7}),
        ("out/thresholds.json", "out/thresholds.json"),
    ],
)
def test_parse_threshold_text(text: str, value) -> None:
    assert parse_threshold_text(text) == value


@pytest.mark.parametrize("text", ["0.1,x", "{default: [", "[unclosed"])
def test_parse_threshold_text_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_threshold_text(text)


def test_top_k_and_label_checks() -> None:
    assert check_top_k(None) is None and check_top_k(np.int64(3)) == 3
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(UsageError):
            check_top_k(bad)
    with pytest.raises(UsageError, match="no label names"):
        Postprocessor([])
    post = Postprocessor(NAMES)
    with pytest.raises(UsageError, match="outputs 3 classes"):
        post.apply(np.zeros((1, 3), np.float32), post.thresholds())
