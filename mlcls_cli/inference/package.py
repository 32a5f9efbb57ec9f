"""An inference package on disk: where its files are, what ``inference.yml`` says, and a content fingerprint.

A package is a folder holding the static graph (``inference.json``, or the legacy
``inference.pdmodel``), the weights (``inference.pdiparams``), ``inference.yml``
(preprocessing, post-processing, label list) and, optionally, ``inference.onnx``
(the same graph for ONNX Runtime and OpenVINO). Every backend reads the package
through :class:`InferencePackage`; none of this imports paddle.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlcls_cli.errors import InputMissingError
from mlcls_cli.models.export import (
    GRAPH_FILES,
    ONNX_FILE,
    PARAMS_FILE,
    find_model_files,
    read_inference_config,
)


def _is_package(folder: Path) -> bool:
    return (folder / PARAMS_FILE).is_file() and any((folder / g).is_file() for g in GRAPH_FILES)


def locate_package(path: str | os.PathLike[str]) -> Path:
    """The inference package folder for ``path``: itself, or ``inference/`` (or ``best_model/inference/``) inside it.

    So a training output folder (``output/``, ``output/best_model``) works as well
    as the package folder itself. Raises InputMissingError when none is found.
    """
    folder = Path(path).expanduser()
    if not folder.exists():
        raise InputMissingError(
            f"model folder {folder} does not exist",
            hint="pass an inference package folder (inference.json|.pdmodel, .pdiparams, .yml) or a training output folder",
        )
    for candidate in (folder, folder / "inference", folder / "best_model" / "inference"):
        if candidate.is_dir() and _is_package(candidate):
            return candidate
    find_model_files(folder)  # raises the precise "missing ..." error
    return folder


@dataclass
class InferencePackage:
    """The files and settings of one package (see the module docstring)."""

    folder: Path
    graph_file: Path
    params_file: Path
    config: dict[str, Any]
    _fingerprint: str | None = field(default=None, repr=False)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> InferencePackage:
        """Find the package at or under ``path`` and read its ``inference.yml``."""
        folder = locate_package(path)
        graph, params = find_model_files(folder)
        return cls(folder=folder, graph_file=graph, params_file=params, config=read_inference_config(folder))

    @property
    def onnx_file(self) -> Path | None:
        """``inference.onnx`` shipped in the package, if any."""
        path = self.folder / ONNX_FILE
        return path if path.is_file() else None

    @property
    def model_name(self) -> str | None:
        """``Global.model_name`` of ``inference.yml``."""
        glob = self.config.get("Global") or {}
        name = glob.get("model_name") if isinstance(glob, dict) else None
        return str(name) if name is not None else None

    def input_size(self) -> int | tuple[int, int] | None:
        """The square side, or ``(width, height)``, of the model input: what the last ``ResizeImage`` to a
        size or ``CropImage`` gives; None when only a short-side resize fixes it."""
        ops = (self.config.get("PreProcess") or {}).get("transform_ops") or []
        size = None
        for op in ops:
            if isinstance(op, dict) and isinstance(op.get("ResizeImage"), dict):
                params = op["ResizeImage"]
                size = params.get("size") if params.get("resize_short") is None else None
            elif isinstance(op, dict) and isinstance(op.get("CropImage"), dict):
                size = op["CropImage"].get("size")
        if isinstance(size, int):
            return size
        if isinstance(size, (list, tuple)) and len(size) == 2:
            return int(size[0]) if size[0] == size[1] else (int(size[0]), int(size[1]))
        return None

    def fingerprint(self) -> str:
        """sha256 over the graph and the weights: the key of what is derived from them (a converted ONNX file).

        The digest is remembered in a small index in the model cache, keyed by path,
        size and modification time, so a package of hundreds of MB is hashed once, not
        at every load (and again when it changes).
        """
        if self._fingerprint is None:
            self._fingerprint = _cached_digest(self.graph_file, self.params_file)
        return self._fingerprint


def _stat_key(*files: Path) -> str:
    parts = []
    for f in files:
        st = f.stat()
        parts.append(f"{f.resolve()}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def _digest(*files: Path) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _cached_digest(*files: Path) -> str:
    """:func:`_digest`, remembered in ``<cache>/onnx/fingerprints.json`` by path, size and mtime."""
    from mlcls_cli.hub.cache import onnx_dir
    from mlcls_cli.utils.atomic import atomic_write_text

    index_path = onnx_dir() / "fingerprints.json"
    key = _stat_key(*files)
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
        if not isinstance(index, dict):
            index = {}
    except (OSError, ValueError):
        index = {}
    known = index.get(key)
    if isinstance(known, str) and len(known) == 64:
        return known
    digest = _digest(*files)
    index = {k: v for k, v in index.items() if Path(k.split(":", 1)[0]).exists()}  # forget deleted packages
    index[key] = digest
    try:
        index_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(index_path, json.dumps(index, indent=1) + "\n")
    except Exception:  # a read-only cache: the digest is still right, only not remembered
        pass
    return digest


__all__ = ["ONNX_FILE", "InferencePackage", "locate_package"]
