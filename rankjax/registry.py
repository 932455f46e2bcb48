"""Name -> object tables: the extension points of rankjax.

Tasks, datasets, distortion types and pair strategies are each one table. Adding
one is one `register` call next to its code; config validation reads the same
tables, so a misspelt name fails when the config is made, with the known names.

>>> colours = Registry("colour")
>>> _ = colours.register("red", (255, 0, 0))
>>> colours.get("red")
(255, 0, 0)
>>> colours.get("blue")
Traceback (most recent call last):
...
rankjax.registry.UnknownName: unknown colour 'blue'; known: red
"""

from __future__ import annotations

from typing import Any, Iterator


class UnknownName(KeyError, ValueError):
    """A name that is not in a registry (a KeyError, and a ValueError for config checks)."""

    def __str__(self) -> str:
        return str(self.args[0])


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Any] = {}

    def register(self, name: str, entry: Any = None, *, replace: bool = False) -> Any:
        """Adds `entry` under `name`; without `entry`, works as a decorator."""
        def add(value):
            if name in self._entries and not replace:
                raise KeyError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = value
            return value

        return add if entry is None else add(entry)

    def get(self, name: str) -> Any:
        if name not in self._entries:
            raise UnknownName(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
        return self._entries[name]

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._entries))

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self):
        return sorted(self._entries.items())

