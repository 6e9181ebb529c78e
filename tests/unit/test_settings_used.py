"""Every declared setting changes something: a setting no code reads is a promise the
process silently breaks."""

from __future__ import annotations

import re

import pytest
from pydantic_settings import BaseSettings

from jobs.settings import JobSettings
from producer.settings import ProducerSettings
from tests.conftest import ROOT


def code_outside(settings_file: str) -> str:
    sources = [*ROOT.glob("jobs/**/*.py"), *ROOT.glob("producer/**/*.py"), *ROOT.glob("wire/**/*.py")]
    return "\n".join(p.read_text() for p in sources if not str(p).endswith(settings_file))


@pytest.mark.parametrize("model", [JobSettings, ProducerSettings], ids=lambda m: m.__name__)
def test_should_read_every_declared_setting(model: type[BaseSettings]) -> None:
    code = code_outside("settings.py")
    unread = [name for name in model.model_fields if not re.search(rf"\.{name}\b", code)]
    assert not unread, f"{model.__name__} declares settings no code reads: {unread}"
