"""Config defaults, schema and merger shared by every subcommand."""

from mlcls_cli.config.merge import (
    DEFAULT_MODEL,
    PIPELINE_ALIASES,
    PIPELINE_NAME,
    Config,
    config_kind,
    default_config_text,
    get_dotted,
    ignored_keys_set,
    load_yaml_file,
    parse_override,
    resolve_config,
)

__all__ = [
    "DEFAULT_MODEL",
    "PIPELINE_ALIASES",
    "PIPELINE_NAME",
    "Config",
    "config_kind",
    "default_config_text",
    "get_dotted",
    "ignored_keys_set",
    "load_yaml_file",
    "parse_override",
    "resolve_config",
]
