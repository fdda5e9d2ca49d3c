"""Growing state parts saved in frozen chunks: round trips, and the journal writes a chunk once."""

from __future__ import annotations

import json
import sqlite3

import pytest

from automl_codegen import ChunkedList, FingerprintSet
from automl_codegen.journal import BLOB_MIN_CHARS, DATABASE, RunJournal
from automl_codegen.trial import Trial


def test_round_trip_and_chunks_freeze_at_the_size_given():
    items, dumps = [], []
    log = ChunkedList(chunk_chars=60)
    for i in range(10):  # the same list grows, dumped after every item (as states are)
        items.append({"step": i, "loss": i / 3})
        dumps.append(log.dump(items))
    saved = dumps[-1]
    assert all(len(chunk) >= 60 for chunk in saved["chunks"])
    assert all(len(d["tail"]) < 60 for d in dumps)
    assert len(saved["chunks"]) >= 1
    assert all(ChunkedList.load(json.loads(json.dumps(d))) == items[: i + 1] for i, d in enumerate(dumps))
    assert ChunkedList.load(ChunkedList().dump([])) == []
    assert ChunkedList.load(ChunkedList(chunk_chars=1).dump([])) == []  # nothing to freeze


def test_chunks_of_a_size_merge_so_that_a_long_list_is_few_chunks():
    # Each item freezes a chunk of its own (chunk_chars=1); equal neighbours merge like
    # the digits of a binary counter: 11 items = 0b1011 make chunks of 8, 2 and 1.
    items, log = [], ChunkedList(chunk_chars=1)
    counts = []
    for i in range(1, 12):
        items.append(i)
        saved = log.dump(items)
        assert saved["tail"] == "[]"
        assert ChunkedList.load(saved) == items
        counts.append(len(saved["chunks"]))
    assert [len(json.loads(chunk)) for chunk in saved["chunks"]] == [8, 2, 1]
    assert counts == [bin(n).count("1") for n in range(1, 12)]
    for i in range(12, 1001):
        items.append(i)
        saved = log.dump(items)
    assert len(saved["chunks"]) == bin(1000).count("1") == 6
    assert ChunkedList.load(saved) == items


def test_frozen_chunks_are_the_same_strings_on_every_dump():
    items = list(range(100))
    log = ChunkedList(chunk_chars=50)
    first = log.dump(items)
    items += range(100, 103)  # a tail only
    second = log.dump(items)
    assert second["chunks"] == first["chunks"]
    assert second["chunks"][0] is first["chunks"][0]
    items += range(103, 130)  # a second chunk, merged with the first
    third = log.dump(items)
    assert len(third["chunks"]) == 1
    assert third["chunks"][0] is not first["chunks"][0]
    assert log.dump(items)["chunks"][0] is third["chunks"][0]
    assert ChunkedList.load(third) == list(range(130))


def test_another_list_starts_the_chunks_afresh():
    log = ChunkedList(chunk_chars=4)
    log.dump([1, 2, 3, 4])
    assert ChunkedList.load(log.dump([9, 8, 7, 6, 5])) == [9, 8, 7, 6, 5]


def test_a_plain_list_loads_and_bad_data_is_named():
    assert ChunkedList.load(["a", "b"]) == ["a", "b"]
    with pytest.raises(ValueError, match=r'a chunked list is \{"chunks": \[\.\.\.\], "tail": \.\.\.\} or a list'):
        ChunkedList.load({"tail": []})
    with pytest.raises(ValueError, match="chunk_chars >= 1, got 0"):
        ChunkedList(chunk_chars=0)


def test_fingerprint_set_keeps_order_and_ignores_repeats():
    seen = FingerprintSet(["b", "a"])
    seen.add("b")
    seen.add("c")
    assert list(seen) == ["b", "a", "c"]
    assert len(seen) == 3
    assert "a" in seen
    assert "z" not in seen
    assert list(FingerprintSet.load(seen.dump())) == ["b", "a", "c"]
    assert list(FingerprintSet.load(["x", "y"])) == ["x", "y"]  # older states: a sorted list


def test_the_journal_writes_each_chunk_once(tmp_path):
    # 1,000 trials' fingerprints: the state saved per trial stays a few kB while the
    # chunks (blobs, stored by content) are written once each.
    run = tmp_path / "run"
    seen = FingerprintSet()
    sizes = []
    with RunJournal.create(run, {}) as journal:
        for number in range(1000):
            seen.add(f"{number:016x}")
            journal.start_trial(number, [number])
            trial = Trial(number=number, genotype=[number], objectives={"score": 1.0})
            journal.finish_trial(trial, {"seen": seen.dump()}, 0.0)
            if number % 100 == 99:
                with sqlite3.connect(run / DATABASE) as db:
                    sizes.append(len(db.execute("SELECT state FROM strategy_state").fetchone()[0]))
        with sqlite3.connect(run / DATABASE) as db:
            chunks = db.execute("SELECT text FROM blobs").fetchall()
    # A fingerprint is 19 characters ("0123456789abcdef",): a chunk freezes at 216 of them
    # (19 * 216 + 1 >= 4096). 1,000 make 4 chunks, merged into one; the blobs the state
    # no longer refers to are gone.
    assert BLOB_MIN_CHARS == 4096
    assert len(chunks) == 1
    assert len(json.loads(chunks[0][0])) == 4 * 216
    assert max(sizes) < BLOB_MIN_CHARS + 500  # the tail, inline, and the chunks' digests
    with RunJournal.open(run) as again:
        _, state = again.strategy_state()
    assert list(FingerprintSet.load(state["seen"])) == [f"{n:016x}" for n in range(1000)]
