"""Errors raised on bad input: each names the field, the value and what is allowed."""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """An invalid user-supplied value, detected before any work starts.

    The message always has the form ``invalid <field>: <value!r> (<allowed>)`` so that the
    command line can print it as is and exit with status 2.
    """

    def __init__(self, field: str, value: Any, allowed: str):
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"invalid {field}: {value!r} ({allowed})")
