"""Every process's settings are TIDEMARK_* environment variables (the chart's ConfigMaps set
them) or, for a secret, a file named as its variable in SECRETS_DIR (the chart mounts the
Secrets there): how --help lists them and how a bad one is named when the process stops."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings

ENV_PREFIX = "TIDEMARK_"
# Where the chart mounts a process's Secrets, one file per setting named as its variable
# (TIDEMARK_KAFKA_PASSWORD): no password in the environment, where `kubectl describe`, a crash
# dump or a child process would see it. A variable of the same name still wins.
SECRETS_DIR = Path("/etc/tidemark/secrets")


def secrets_dir() -> str | None:
    """The directory of secret files to read settings from, when there is one."""
    return str(SECRETS_DIR) if SECRETS_DIR.is_dir() else None


def given(data: Any) -> dict[str, Any]:
    """The settings a model is given, by their field-like names (lower case, no prefix): the
    TIDEMARK_* variables in any case, as pydantic reads the others, under keyword arguments.
    For fields a `mode="before"` validator fills from variables that are not fields."""
    values = {k[len(ENV_PREFIX) :].lower(): v for k, v in os.environ.items() if k.upper().startswith(ENV_PREFIX)}
    values.update({k: v for k, v in dict(data).items() if isinstance(k, str)})
    return values


def settings_help(
    model: type[BaseSettings], extra: Sequence[tuple[str, Any]] = (), nested: Mapping[str, tuple[str, ...]] = {}
) -> str:
    """The settings a process reads, for its --help: variable, default and meaning. `extra`:
    further (name, default) pairs read through the `nested` fields, which are not listed."""
    lines = ["settings (environment variables):"]
    for name, field in model.model_fields.items():
        if name in nested:
            continue
        default = field.default
        shown = "***" if isinstance(default, SecretStr) and default.get_secret_value() else repr(default)
        meaning = f"  {field.description}" if field.description else ""
        lines.append(f"  {ENV_PREFIX}{name.upper():<40} default {shown}{meaning}")
    lines.extend(f"  {ENV_PREFIX}{name.upper():<40} default {default!r}" for name, default in extra)
    return "\n".join(lines)


def describe(error: ValidationError, nested: Mapping[str, tuple[str, ...]] = {}) -> str:
    """Each invalid setting by its variable. A field in `nested` holds settings by key, and an
    error at (field, key, …) names TIDEMARK_<KEY>_…<SUFFIX>, the suffix `nested[field]`."""
    lines = ["invalid settings:"]
    for item in error.errors():
        loc = tuple(str(p) for p in item["loc"])
        if loc and loc[0] in nested:
            loc = (*loc[1:], *nested[loc[0]])
        name = ENV_PREFIX + "_".join(loc).upper() if loc else "settings"
        lines.append(f"  {name}: {item['msg']} (got {item.get('input')!r})")
    return "\n".join(lines)
