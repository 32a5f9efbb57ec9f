"""Resolve a config: packaged defaults < user file (-c) < first-class options < ``-o Key.sub=value``.

Values from the command line are typed with YAML rules (never ``eval``) and then
coerced to the key's schema type; a value may contain ``=``. Unknown keys and
wrong types are collected and reported together as one :class:`ConfigError`.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mlcls_cli.config.schema import MODULE_SCHEMA, PIPELINE_SCHEMAS, Spec, SpecError
from mlcls_cli.errors import ConfigError, InputMissingError, UsageError

DEFAULT_MODEL = "PP-LCNet_x1_0_ML"
PIPELINE_NAME = "image_multilabel_classification"
CLS_PIPELINE_NAME = "image_classification"
#: Pipeline names -> the packaged pipeline they use (both spellings PaddleX has used for the multi-label one).
PIPELINE_ALIASES = {
    "image_multilabel_classification": PIPELINE_NAME,
    "multi_label_image_classification": PIPELINE_NAME,
    CLS_PIPELINE_NAME: CLS_PIPELINE_NAME,
}

_SOURCE_DEFAULT = "packaged defaults"


def _defaults_dir(kind: str) -> Any:
    return resources.files("mlcls_cli.config").joinpath(
        "defaults", "models" if kind == "model" else "pipelines"
    )


def config_kind(name: str) -> str:
    """Return ``"model"`` or ``"pipeline"`` for a packaged config name, or raise a usage error."""
    from mlcls_cli.models.registry import MODELS

    if name in MODELS:
        return "model"
    if name in PIPELINE_ALIASES:
        return "pipeline"
    from mlcls_cli.models.registry import suggest_name

    candidates = [*MODELS, *PIPELINE_ALIASES]
    hint = suggest_name(
        name, candidates, "run `mlcls models` for the models; pipelines: " + ", ".join(PIPELINE_ALIASES)
    )
    raise UsageError(f"no packaged config named {name!r}", hint=hint)


def default_config_text(name: str) -> str:
    """The packaged YAML (with its comments) for a model or pipeline name.

    A model with its own file under ``defaults/models/`` gets that file; the other
    single-label models get the task's template filled from the registry.
    """
    kind = config_kind(name)
    if kind == "pipeline":
        canonical = PIPELINE_ALIASES[name]
        text = _defaults_dir(kind).joinpath(f"{canonical}.yaml").read_text(encoding="utf-8")
        if name != canonical:
            text = text.replace(f"pipeline_name: {canonical}", f"pipeline_name: {name}", 1)
        return text
    own = _defaults_dir(kind).joinpath(f"{name}.yaml")
    if own.is_file():
        return own.read_text(encoding="utf-8")
    return _template_text(name)


def _yaml_float(value: float) -> str:
    """``value`` as a YAML 1.1 float (``3.0e-05``: PyYAML reads ``3e-05`` as a string)."""
    text = repr(float(value))
    mantissa, e, exponent = text.partition("e")
    return f"{mantissa}.0e{exponent}" if e and "." not in mantissa else text


def _template_text(name: str) -> str:
    """The single-label template filled with ``name``'s registry values."""
    from string import Template

    from mlcls_cli.engine.recipes import recipe_for
    from mlcls_cli.models.registry import get_model_info

    info = get_model_info(name)
    recipe = recipe_for(name, info.family)
    template = resources.files("mlcls_cli.config").joinpath(
        "defaults", "templates", "image_classification.yaml"
    )
    url = info.pretrained_url or "null"
    return Template(template.read_text(encoding="utf-8")).substitute(
        family=info.family,
        optimizer=recipe.optimizer,
        schedule=recipe.schedule,
        weight_decay=_yaml_float(recipe.weight_decay),
        label_smoothing=_yaml_float(recipe.label_smoothing),
        randaugment=recipe.randaugment or "false",
        random_erasing=_yaml_float(recipe.random_erasing),
        mixup_alpha=_yaml_float(recipe.mixup_alpha),
        cutmix_alpha=_yaml_float(recipe.cutmix_alpha),
        interpolation=recipe.interpolation,
        crop_scale_min=_yaml_float(recipe.crop_scale_min),
        ema_decay=_yaml_float(recipe.ema_decay) if recipe.ema_decay else "null",
        model=name,
        epochs=info.epochs,
        batch_size=info.batch_size,
        learning_rate=_yaml_float(info.learning_rate),
        pretrained=url,
        image_size=info.input_size,
        export_weights=url if info.pretrained_url else "output/best_model/best_model.pdparams",
    )


def load_yaml_file(path: str | Path) -> dict[str, Any]:
    """Load a YAML config file that must hold a mapping; errors name the file and line."""
    p = Path(path)
    if not p.exists() or p.is_dir():  # pipes are fine: `-c <(...)`
        raise InputMissingError(
            f"config file {p} does not exist", hint="check the path given with -c/--config"
        )
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p}:{mark.line + 1}:{mark.column + 1}" if mark else str(p)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"{where}: invalid YAML: {problem}", hint="fix the YAML syntax (indentation, colons)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {p}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a config must be a mapping of sections, got {type(data).__name__}")
    return data


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``Key.sub=value`` (split at the first ``=``; the value is typed by YAML rules)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UsageError(
            f"invalid override {text!r}", hint="write -o Section.key=value, e.g. -o Train.epochs_iters=10"
        )
    if raw.strip() == "":
        return key, ""
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    return key, value


def get_dotted(data: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """Return ``data[a][b][c]`` for ``key='a.b.c'``, or ``default``."""
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``data[a][b][c] = value`` for ``key='a.b.c'``, creating sections; a scalar in the way is an error."""
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise ConfigError(f"cannot set {key}: {'.'.join(parts[: i + 1])} is a value, not a section")
        node = child
    node[parts[-1]] = value


def deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``extra`` into a copy of ``base``; mappings merge recursively, other values replace."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclass
class Config:
    """A resolved, validated config (plain nested dicts) and where each set key came from."""

    data: dict[str, Any]
    kind: str
    name: str
    sources: dict[str, str] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        """The value of a dotted key, e.g. ``cfg.get("Train.epochs_iters")``."""
        return get_dotted(self.data, key, default)

    def __getitem__(self, key: str) -> Any:
        sentinel = object()
        value = get_dotted(self.data, key, sentinel)
        if value is sentinel:
            raise KeyError(key)
        return value

    def to_yaml(self) -> str:
        """The config as YAML text, keys in their natural order."""
        return yaml.safe_dump(self.data, sort_keys=False, allow_unicode=True, default_flow_style=False)


def _leaves(
    data: Mapping[str, Any], schema: Mapping[str, Spec], prefix: str = ""
) -> Iterable[tuple[str, Any]]:
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        spec = schema.get(dotted)
        if isinstance(value, Mapping) and not (
            spec is not None and (spec.subtree or spec.kind in ("any", "threshold"))
        ):
            if not value and spec is None:
                yield dotted, value
            yield from _leaves(value, schema, dotted + ".")
        else:
            yield dotted, value


#: Common short spellings of keys, by leaf name.
_LEAF_ALIASES = {
    "lr": "learning_rate",
    "epochs": "epochs_iters",
    "bs": "batch_size",
    "warmup": "warmup_steps",
}


def _leaf_score(typed: str, known: str) -> float:
    """How alike two leaf names are; a typo near the start of a longer name (epochz, epochs_iters) counts."""
    full = difflib.SequenceMatcher(None, typed, known).ratio()
    head = (
        difflib.SequenceMatcher(None, typed, known[: len(typed)]).ratio() if len(known) > len(typed) else 0.0
    )
    return max(full, head)


def _suggest(key: str, schema: Mapping[str, Spec]) -> str:
    section, _, leaf = key.rpartition(".")
    siblings = [k for k in schema if k.rpartition(".")[0] == section]
    if siblings:
        # the section is right: a truncated, extended or mistyped leaf (epoch, epochz -> epochs_iters)
        alias = _LEAF_ALIASES.get(leaf.lower())
        close = [k for k in siblings if alias and k.rpartition(".")[2] == alias]
        scored = sorted(
            ((_leaf_score(leaf.lower(), k.rpartition(".")[2].lower()), k) for k in siblings), reverse=True
        )
        close = close or [k for score, k in scored[:1] if leaf and score >= 0.6]
        if close:
            return f"did you mean {close[0]}?"
        leaves = ", ".join(sorted(k.rpartition(".")[2] for k in siblings))
        return f"the keys of {section} are: {leaves}"
    close = difflib.get_close_matches(key, list(schema), n=1, cutoff=0.75)
    if not close:
        # correct the key one level at a time against the keys valid at that level
        prefix, ok = "", True
        for part in key.split("."):
            children = sorted({k[len(prefix) :].split(".")[0] for k in schema if k.startswith(prefix)})
            match = (
                part
                if part in children
                else next(iter(difflib.get_close_matches(part, children, n=1, cutoff=0.6)), None)
            )
            if match is None:
                ok = False
                break
            prefix += match + "."
        candidate = prefix.rstrip(".")
        close = (
            [candidate]
            if ok and candidate in schema
            else difflib.get_close_matches(key, list(schema), n=1, cutoff=0.5)
        )
    return f"did you mean {close[0]}?" if close else "run `mlcls get-config NAME` to see every key"


def validate(data: dict[str, Any], schema: Mapping[str, Spec], sources: Mapping[str, str]) -> list[str]:
    """Coerce every leaf in place to its schema type; return the problems found (empty if valid)."""
    problems: list[str] = []
    for key, value in list(_leaves(data, schema)):
        spec = schema.get(key)
        origin = _origin(key, sources)
        if spec is None:
            parent = next((k for k in schema if key.startswith(k + ".") and schema[k].subtree), None)
            if parent is None:
                section = next((k for k in schema if k.startswith(key + ".")), None)
                if section is not None:
                    problems.append(f"{key} is a section, not a value{origin}")
                else:
                    problems.append(f"unknown key {key}{origin}; {_suggest(key, schema)}")
            continue
        try:
            set_dotted(data, key, spec.coerce(value))
        except SpecError as exc:
            problems.append(f"{key} {exc}{origin}")
    return problems


def _origin(key: str, sources: Mapping[str, str]) -> str:
    src = sources.get(key)
    if src is None:
        src = next((s for k, s in sources.items() if key.startswith(k + ".")), None)
    return f" (from {src})" if src and src != _SOURCE_DEFAULT else ""


def _record(sources: dict[str, str], data: Mapping[str, Any], label: str, prefix: str = "") -> None:
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            _record(sources, value, label, dotted + ".")
        else:
            sources[dotted] = label


def resolve_config(
    name: str | None = None,
    *,
    config_file: str | Path | None = None,
    options: Mapping[str, Any] | None = None,
    overrides: Iterable[str] | None = None,
    kind: str | None = None,
) -> Config:
    """Merge packaged defaults, a user file, first-class options and ``-o`` overrides, then validate.

    ``name`` picks the packaged defaults (a model or pipeline name); for module
    configs the model named by ``Global.model`` (override > option > file) wins.
    ``options`` maps dotted keys to values; ``None`` values mean "not given".
    """
    user = load_yaml_file(config_file) if config_file is not None else {}
    parsed = [parse_override(o) for o in (overrides or [])]
    opts = {k: v for k, v in (options or {}).items() if v is not None}
    if kind is None:
        if name is not None:
            kind = config_kind(name)
        elif "pipeline_name" in user or "SubModules" in user or "Pipeline" in user:
            kind = "pipeline"
        else:
            kind = "model"

    if kind == "model":
        chosen = next((v for k, v in reversed(parsed) if k == "Global.model"), None)
        chosen = (
            chosen or opts.get("Global.model") or get_dotted(user, "Global.model") or name or DEFAULT_MODEL
        )
        from mlcls_cli.models.registry import MODELS, suggest_name

        if str(chosen) not in MODELS:
            raise ConfigError(
                f"Global.model {chosen!r} is not a zoo model", hint=suggest_name(str(chosen), list(MODELS))
            )
        base_name, schema = str(chosen), MODULE_SCHEMA
    else:
        declared = user.get("pipeline_name") or get_dotted(user, "Global.pipeline_name")
        base_name = PIPELINE_ALIASES.get(name or str(declared or ""), PIPELINE_NAME)
        schema = PIPELINE_SCHEMAS[base_name]

    data = yaml.safe_load(default_config_text(base_name)) or {}
    sources: dict[str, str] = {}
    _record(sources, data, _SOURCE_DEFAULT)
    if user:
        data = deep_merge(data, user)
        _record(sources, user, str(config_file))
    problems: list[str] = []
    given = [(k, v, "command-line option") for k, v in opts.items()]
    given += [(k, v, f"-o {text}") for (k, v), text in zip(parsed, overrides or [], strict=False)]
    for key, value, label in given:
        if isinstance(get_dotted(data, key), dict) and not isinstance(value, dict):
            problems.append(f"{key} is a section, not a value (from {label})")
            continue
        set_dotted(data, key, value)
        sources[key] = label

    problems += validate(data, schema, sources)
    if problems:
        head = (
            "invalid config: " + problems[0]
            if len(problems) == 1
            else f"invalid config ({len(problems)} problems):"
        )
        body = "" if len(problems) == 1 else "\n" + "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(
            head + body, hint="fix the keys above; `mlcls get-config NAME` prints every key with its default"
        )
    return Config(data=data, kind=kind, name=base_name, sources=sources)


def ignored_keys_set(cfg: Config) -> list[str]:
    """Keys the user set that mlcls accepts for PaddleX compatibility but does not use."""
    schema = MODULE_SCHEMA if cfg.kind == "model" else PIPELINE_SCHEMAS[cfg.name]
    return sorted(
        k
        for k, src in cfg.sources.items()
        if src != _SOURCE_DEFAULT
        and any((k == s or k.startswith(s + ".")) and spec.ignored for s, spec in schema.items())
    )
