"""Growing parts of a strategy state, saved at a cost that does not grow with them.

The engine journals a strategy's whole state after every trial. A list that grows by one
entry per trial (the fingerprints of the genotypes seen, a history of updates) then makes
each save O(n) and a search of n trials O(n²): at 2,000 NAS-Bench-201 queries the saves
took longer than everything else together. :class:`ChunkedList` saves such a list as
JSON strings: frozen chunks, each written once and then kept as the same ``str`` object,
and the tail not yet frozen. A chunk is frozen as soon as it reaches the journal's blob
size (:data:`~automl_codegen.journal.BLOB_MIN_CHARS`, 4 kB): the journal stores such
strings once by content and recognises an unchanged one by identity, so a frozen chunk
costs next to nothing on later saves, while the tail, always shorter, is saved inline.
Two frozen chunks of the same size class merge into one of the next (as the digits of a
binary counter carry), so a list of n items is O(log n) chunks, which a save still walks,
and each item is written O(log n) times::

    self._history_log = ChunkedList()                          # in __init__
    state["history"] = self._history_log.dump(self.history)    # in state_dict
    self.history = ChunkedList.load(state["history"])          # in load_state_dict

:class:`FingerprintSet` does the same for the fingerprints of the genotypes a strategy
has seen, with a set for membership.

The items must be JSON-compatible and never change once appended (a chunk, once frozen,
is not looked at again). ``load`` also takes a plain list, the form older states used.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from .journal import BLOB_MIN_CHARS

__all__ = ["ChunkedList", "FingerprintSet"]


class ChunkedList:
    """Serialises one append-only list as ``{"chunks": [json, ...], "tail": json}``.

    Args:
        chunk_chars: a chunk is frozen once its JSON is this long (default: the
            journal's blob size, so that frozen chunks are stored once and the tail inline).
    """

    def __init__(self, chunk_chars: int = BLOB_MIN_CHARS) -> None:
        if isinstance(chunk_chars, bool) or not isinstance(chunk_chars, int) or chunk_chars < 1:
            msg = f"ChunkedList needs chunk_chars >= 1, got {chunk_chars!r}"
            raise ValueError(msg)
        self.chunk_chars = chunk_chars
        self._frozen: list[str] = []
        self._classes: list[int] = []  # per frozen chunk: merged from 2**class chunks
        self._frozen_items = 0  # how many items the frozen chunks hold
        self._source: Sequence[Any] | None = None
        self._tail = (-1, "[]")  # (length of the list, its tail's JSON) at the last dump

    def dump(self, items: Sequence[Any]) -> dict[str, Any]:
        """The JSON form of ``items``: the same list object as before, only appended to.

        Another list object (say, one :meth:`load` made when a state was restored)
        starts the chunks afresh.
        """
        if items is not self._source or len(items) < self._frozen_items:
            self._frozen, self._classes, self._frozen_items, self._source = [], [], 0, items
            self._tail = (-1, "[]")
        if self._tail[0] != len(items):  # a history changes once per update, not per save
            dumped, tail = self._tail
            if self._frozen_items <= dumped < len(items):  # only appended to: extend the tail's JSON
                tail = _joined(tail, _compact(items[dumped:]))
            else:
                tail = _compact(items[self._frozen_items :])
            if len(tail) >= self.chunk_chars and len(items) > self._frozen_items:
                self._freeze(tail)
                self._frozen_items = len(items)
                tail = "[]"
            self._tail = (len(items), tail)
        return {"chunks": list(self._frozen), "tail": self._tail[1]}

    def _freeze(self, chunk: str) -> None:
        self._frozen.append(chunk)
        self._classes.append(0)
        while len(self._classes) >= 2 and self._classes[-1] == self._classes[-2]:
            later, size_class = self._frozen.pop(), self._classes.pop()
            self._frozen[-1] = _joined(self._frozen[-1], later)
            self._classes[-1] = size_class + 1

    @staticmethod
    def load(data: Any) -> list[Any]:
        """The list that :meth:`dump` described (a plain list is returned as a copy)."""
        if isinstance(data, list):
            return list(data)
        if not isinstance(data, dict) or not isinstance(data.get("chunks"), list) or "tail" not in data:
            msg = f'a chunked list is {{"chunks": [...], "tail": ...}} or a list, got {type(data).__name__}'
            raise ValueError(msg)
        items: list[Any] = []
        for chunk in data["chunks"]:
            items.extend(json.loads(chunk))
        tail = data["tail"]
        items.extend(json.loads(tail) if isinstance(tail, str) else tail)
        return items


def _compact(items: Sequence[Any]) -> str:
    return json.dumps(list(items), separators=(",", ":"), allow_nan=False)


def _joined(first: str, second: str) -> str:
    """Two JSON arrays as one: "[a,b]" and "[c]" make "[a,b,c]"."""
    if first == "[]":
        return second
    if second == "[]":
        return first
    return first[:-1] + "," + second[1:]


class FingerprintSet:
    """The fingerprints of genotypes a strategy has seen, saved in chunks.

    A set for membership tests plus the insertion order, which the JSON form keeps so
    that each fingerprint is written once (see :class:`ChunkedList`).
    """

    def __init__(self, fingerprints: Sequence[str] = ()) -> None:
        self._order: list[str] = []
        self._set: set[str] = set()
        self._log = ChunkedList()
        for fingerprint in fingerprints:
            self.add(fingerprint)

    def add(self, fingerprint: str) -> None:
        if fingerprint not in self._set:
            self._set.add(fingerprint)
            self._order.append(fingerprint)

    def __contains__(self, fingerprint: object) -> bool:
        return fingerprint in self._set

    def __len__(self) -> int:
        return len(self._order)

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)  # in the order they were added

    def dump(self) -> dict[str, Any]:
        return self._log.dump(self._order)

    @classmethod
    def load(cls, data: Any) -> FingerprintSet:
        """What :meth:`dump` wrote, or a plain list of fingerprints (older states)."""
        return cls([str(f) for f in ChunkedList.load(data)])
