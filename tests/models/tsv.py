"""Reference state_dict listings (``key<TAB>[shape]``) dumped from the PaddleClas models."""

from __future__ import annotations

import json
from pathlib import Path

# Committed with the tests (see state_dict/README.md for where they come from).
STATE_DICT_DIR = Path(__file__).resolve().parent / "state_dict"
STATE_DICT_CLS_DIR = Path(__file__).resolve().parent / "state_dict_cls"


def read_tsv(model_name: str) -> list[tuple[str, list[int]]]:
    """Return ``[(key, shape), ...]`` in state_dict order for the zoo model ``model_name`` (either task)."""
    rows = []
    folder = STATE_DICT_DIR if (STATE_DICT_DIR / f"{model_name}.tsv").is_file() else STATE_DICT_CLS_DIR
    for line in (folder / f"{model_name}.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip():
            key, shape = line.split("\t")
            rows.append((key, [int(d) for d in json.loads(shape)]))
    return rows


def state_dict_rows(model) -> list[tuple[str, list[int]]]:
    """``[(key, shape), ...]`` of ``model.state_dict()`` in order, comparable with :func:`read_tsv`."""
    return [(key, [int(d) for d in value.shape]) for key, value in model.state_dict().items()]


def total_numel(model) -> int:
    """Sum of element counts over the whole state_dict (parameters and buffers)."""
    total = 0
    for value in model.state_dict().values():
        n = 1
        for d in value.shape:
            n *= int(d)
        total += n
    return total
