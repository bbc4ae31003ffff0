"""keep_freed_memory: glibc takes the settings where it runs (Linux, glibc)."""

import ctypes
import sys

import pytest

from steepest.memory import keep_freed_memory


def test_glibc_accepts_the_settings():
    try:
        ctypes.CDLL("libc.so.6").mallopt  # noqa: B018
    except (OSError, AttributeError):
        pytest.skip("not glibc: keep_freed_memory leaves malloc alone here")
    assert keep_freed_memory() is True


def test_elsewhere_it_changes_nothing(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert keep_freed_memory() is False
