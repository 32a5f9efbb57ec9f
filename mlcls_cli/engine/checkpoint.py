"""Training checkpoints: ``<output>/<name>/<name>.{pdparams,pdopt,pdstates,pdema}`` plus ``<name>.info.json``.

The layout and suffixes are PaddleClas/PaddleX's. What each file holds here:

- ``.pdparams``: model weights. In ``best_model/`` these are the weights that scored
  best (the EMA average when it beat the raw model); in ``epoch_N/`` and ``latest/``
  the raw training weights. ``info.json`` says which (``"weights": "ema" | "raw"``).
- ``.pdema``: the EMA weights (when EMA is on).
- ``.pdopt``: the optimizer state (AdamW moments and the learning-rate schedule), its
  entries keyed ``@<structured parameter name>@<accumulator>`` rather than by paddle's
  generated names (``linear_3.w_0``), which change with the order layers are built.
- ``.pdstates``: a dict: completed epoch, batches done in the next epoch (after a
  Ctrl-C), global step, best metric, RNG states, schedule, AMP scaler, EMA updates.

A checkpoint is written into a hidden staging folder and renamed into place, so an
interrupted save never leaves a folder mixing two epochs. An ``epoch_N/`` saved at the
end of an epoch holds what ``latest/`` holds then, so it is made of hard links to
``latest/``'s files (a copy where links are not supported): no second write, no second
copy on disk. Files are never changed in place (a new ``latest/`` is a new folder), so
the links stay valid.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlcls_cli.errors import InputMissingError, IOFailure
from mlcls_cli.utils.atomic import replace_dir

TAGS = ("pdparams", "pdopt", "pdstates", "pdema")
LATEST = "latest"
BEST = "best_model"
_EPOCH_RE = re.compile(r"^epoch_(\d+)$")


@dataclass
class Checkpoint:
    """A loaded checkpoint; ``prefix`` is ``<folder>/<name>`` (no suffix)."""

    prefix: Path
    model: dict[str, Any]
    states: dict[str, Any] = field(default_factory=dict)
    optimizer: dict[str, Any] | None = None
    ema: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)


def checkpoint_path(output_dir: str | os.PathLike[str], name: str, tag: str) -> Path:
    """``<output_dir>/<name>/<name>.<tag>``."""
    return Path(output_dir) / name / f"{name}.{tag}"


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


@contextlib.contextmanager
def _staged_folder(out: Path, name: str) -> Iterator[Path]:
    """A temp folder beside ``<out>/<name>/`` to fill; it replaces that folder atomically when the block ends."""
    target = out / name
    try:
        out.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(prefix=f".{name}.save-", dir=out))
    except OSError as exc:
        raise IOFailure(f"cannot write checkpoint {target}: {exc.strerror or exc}") from exc
    try:
        yield staged
        os.chmod(staged, 0o755)  # mkdtemp creates 0700
        replace_dir(staged, target)
    except OSError as exc:
        raise IOFailure(
            f"cannot write checkpoint {target}: {exc.strerror or exc}",
            hint="check free disk space and permissions of the output folder",
        ) from exc
    finally:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)


def save_checkpoint(
    output_dir: str | os.PathLike[str],
    name: str,
    *,
    model_state: dict[str, Any],
    optimizer_state: dict[str, Any] | None = None,
    states: dict[str, Any] | None = None,
    ema_state: dict[str, Any] | None = None,
    info: dict[str, Any] | None = None,
) -> Path:
    """Write the checkpoint folder ``<output_dir>/<name>/`` atomically; returns the folder."""
    import paddle

    out = Path(output_dir)
    with _staged_folder(out, name) as staged:
        parts: dict[str, Any] = {"pdparams": model_state, "pdopt": optimizer_state, "pdstates": states}
        if ema_state is not None:
            parts["pdema"] = ema_state
        for tag, value in parts.items():
            if value is None:
                continue
            path = staged / f"{name}.{tag}"
            paddle.save(value, str(path))
            _fsync_file(path)
        info_path = staged / f"{name}.info.json"
        info_path.write_text(json.dumps(info or {}, indent=2) + "\n", encoding="utf-8")
        _fsync_file(info_path)
    return out / name


def link_checkpoint(output_dir: str | os.PathLike[str], source: str, name: str) -> Path:
    """Make ``<output_dir>/<name>/`` a copy of checkpoint ``<source>/`` (hard links where possible); returns it."""
    out = Path(output_dir)
    origin = out / source
    with _staged_folder(out, name) as staged:
        for path in origin.iterdir():
            if not path.name.startswith(f"{source}."):
                continue
            copy = staged / (name + path.name[len(source) :])
            try:
                os.link(path, copy)
            except OSError:  # a file system without hard links
                shutil.copy2(path, copy)
    return out / name


def epoch_folders(output_dir: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """``(epoch, folder)`` of every complete ``epoch_N`` checkpoint, oldest first."""
    found = []
    base = Path(output_dir)
    if not base.is_dir():
        return []
    for child in base.iterdir():
        m = _EPOCH_RE.match(child.name)
        if m and (child / f"{child.name}.pdstates").is_file():
            found.append((int(m.group(1)), child))
    return sorted(found)


def find_auto_checkpoint(output_dir: str | os.PathLike[str]) -> Path | None:
    """The prefix ``--resume auto`` continues: ``latest/`` in ``output_dir``, else its newest ``epoch_N/``; or None."""
    latest = Path(output_dir) / LATEST
    if (latest / f"{LATEST}.pdstates").is_file():
        return latest / LATEST
    epochs = epoch_folders(output_dir)
    if epochs:
        folder = epochs[-1][1]
        return folder / folder.name
    return None


def resolve_resume_path(spec: str | os.PathLike[str], output_dir: str | os.PathLike[str]) -> Path:
    """The checkpoint prefix (``<folder>/<name>``) to resume from.

    ``spec`` is ``auto`` (``latest/`` in ``output_dir``, else its newest ``epoch_N/``),
    a checkpoint folder, a prefix such as ``output/epoch_5/epoch_5`` (PaddleX's form)
    or any of the checkpoint's files.
    """
    if str(spec).strip().lower() == "auto":
        found = find_auto_checkpoint(output_dir)
        if found is not None:
            return found
        raise InputMissingError(
            f"--resume auto: no checkpoint to resume in {output_dir} (no latest/ or epoch_N/)",
            hint="start a new run without --resume, or pass the output folder of the run to continue with --output",
        )
    path = Path(spec).expanduser()
    if path.is_dir():
        prefix = path / path.name
    elif path.suffix.lstrip(".") in (*TAGS, "json") or path.name.endswith(".info.json"):
        prefix = path.with_name(path.name.split(".")[0])
    else:
        prefix = path
    if not prefix.with_name(prefix.name + ".pdparams").is_file():
        raise InputMissingError(
            f"no checkpoint at {spec} ({prefix}.pdparams not found)",
            hint="pass a checkpoint folder such as output/latest or output/epoch_5, or --resume auto",
        )
    if not prefix.with_name(prefix.name + ".pdstates").is_file():
        raise InputMissingError(
            f"{prefix}.pdparams has no training state ({prefix.name}.pdstates missing): cannot resume from it",
            hint="to start a new run from these weights use -o Train.pretrain_weight_path=<file> instead",
        )
    return prefix


def read_states(prefix: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(states, info)`` of the checkpoint at ``prefix``, without its weights (``info`` may be empty)."""
    import paddle

    base = Path(prefix)
    path = base.with_name(f"{base.name}.pdstates")
    try:
        states = paddle.load(str(path))
    except Exception as exc:  # unpickling raises many types; all mean a damaged file
        raise IOFailure(
            f"cannot read checkpoint file {path}: {type(exc).__name__}: {exc}",
            hint="the file is damaged; resume from another checkpoint (e.g. an epoch_N folder)",
        ) from exc
    info: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        info = json.loads(base.with_name(f"{base.name}.info.json").read_text(encoding="utf-8"))
    return (states if isinstance(states, dict) else {}), (info if isinstance(info, dict) else {})


def load_checkpoint(prefix: str | os.PathLike[str]) -> Checkpoint:
    """Read every file of the checkpoint at ``prefix`` (``.pdparams`` and ``.pdstates`` are required)."""
    import paddle

    base = Path(prefix)

    def read(tag: str, required: bool) -> Any:
        path = base.with_name(f"{base.name}.{tag}")
        if not path.is_file():
            if required:
                raise InputMissingError(f"checkpoint file {path} is missing")
            return None
        try:
            return paddle.load(str(path))
        except Exception as exc:  # unpickling raises many types; all mean a damaged file
            raise IOFailure(
                f"cannot read checkpoint file {path}: {type(exc).__name__}: {exc}",
                hint="the file is damaged; resume from another checkpoint (e.g. an epoch_N folder)",
            ) from exc

    info: dict[str, Any] = {}
    info_path = base.with_name(f"{base.name}.info.json")
    if info_path.is_file():
        with contextlib.suppress(OSError, ValueError):
            info = json.loads(info_path.read_text(encoding="utf-8"))
    return Checkpoint(
        prefix=base,
        model=read("pdparams", True),
        states=read("pdstates", True) or {},
        optimizer=read("pdopt", False),
        ema=read("pdema", False),
        info=info,
    )


# --------------------------------------------------------------------------- optimizer state portability


def _param_names(net: Any) -> dict[str, str]:
    return {p.name: n for n, p in net.named_parameters()}


def _split_key(key: str, names: dict[str, str]) -> tuple[str, str] | None:
    """Split an optimizer key ``<param.name>_<accumulator>`` at the right underscore."""
    pos = len(key)
    while True:
        pos = key.rfind("_", 0, pos)
        if pos <= 0:
            return None
        if key[:pos] in names:
            return key[:pos], key[pos + 1 :]


def portable_optimizer_state(state: dict[str, Any], net: Any) -> dict[str, Any]:
    """Rename accumulators from paddle's generated parameter names to structured names (stable across processes)."""
    names = _param_names(net)
    out: dict[str, Any] = {}
    for key, value in state.items():
        split = _split_key(key, names) if isinstance(key, str) else None
        out[f"@{names[split[0]]}@{split[1]}" if split else key] = value
    return out


def local_optimizer_state(state: dict[str, Any], net: Any) -> dict[str, Any]:
    """Undo :func:`portable_optimizer_state` for this process's parameter names."""
    by_structured = {n: p.name for n, p in net.named_parameters()}
    out: dict[str, Any] = {}
    for key, value in state.items():
        if isinstance(key, str) and key.startswith("@") and key.count("@") >= 2:
            structured, _, accumulator = key[1:].rpartition("@")
            if structured in by_structured:
                out[f"{by_structured[structured]}_{accumulator}"] = value
                continue
        out[key] = value
    return out
