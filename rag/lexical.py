"""BM25 over German-stemmed chunk terms that a write updates in proportion to what it changed.

Rows of term counts are appended to shared storage (`Rows`) and never changed; a `LexicalIndex` is one snapshot of
it: the first `size` rows, those of them still alive, and their BM25 statistics. A write makes a new snapshot from
the old one in O(changed chunks) plus a few array copies, and appends one line to a log beside the compacted base
on disk. Once the rows written since the base outnumber a share of it, the live rows are compacted into a new base.
Scores are BM25 as bm25s computes it ("lucene": k1 1.5, b 0.75), read from the postings of the query's terms only.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cologne_phonetics
import numpy as np
from scipy import sparse

from rag.ingest import Chunk
from rag.text import TERMS_VERSION, Span, terms
from rag.timescope import DateRange, Period

K1, B = 1.5, 0.75
_FORMAT = "rows-1"  # of the files below; with TERMS_VERSION part of every stamp


class Rows:
    """Append-only chunk rows (chunk, term ids, counts, length) with postings per term: column slices of a
    compacted base matrix, then (row, count) pairs for the rows appended after it. Snapshots share one `Rows`;
    each reads only the rows it had when it was made, so appending never disturbs a question in flight."""

    def __init__(
        self, vocabulary: list[str], chunks: list[Chunk], term_ids: list[np.ndarray], counts: list[np.ndarray]
    ) -> None:
        self.vocabulary = vocabulary
        self.term_id = {t: i for i, t in enumerate(vocabulary)}
        self.chunks = chunks
        self.term_ids = term_ids
        self.counts = counts
        self.lengths = np.zeros(max(1024, 2 * len(chunks)))
        self.lengths[: len(chunks)] = [max(1, int(c.sum())) for c in counts]  # an empty chunk counts one token
        self.base = _columns(len(vocabulary), term_ids, counts)
        self.base_rows = len(chunks)
        self.tail: dict[int, list[tuple[int, int]]] = {}  # term id -> (row, count) for rows after the base
        self.by_length: dict[int, list[str]] = {}
        self.sounds: dict[str, list[str]] | None = None  # phonetic code -> terms, built when first needed
        for term in vocabulary:
            self._index_spelling(term)

    def append(self, chunk: Chunk, found: Counter[str]) -> int:
        row = len(self.chunks)
        ids = np.array([self._term(t) for t in found], dtype=np.int32)
        counts = np.array(list(found.values()), dtype=np.int32)
        if row == len(self.lengths):
            self.lengths = np.concatenate([self.lengths, np.zeros(len(self.lengths))])
        self.lengths[row] = max(1, int(counts.sum()))
        for term, count in zip(ids.tolist(), counts.tolist()):
            self.tail.setdefault(term, []).append((row, count))
        self.term_ids.append(ids)
        self.counts.append(counts)
        self.chunks.append(chunk)  # last: a row is readable once its chunk is there
        return row

    def postings(self, term: str, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, counts) of the rows below `size` that hold `term`."""
        term_id = self.term_id.get(term)
        if term_id is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        rows, counts = [], []
        if term_id < self.base.shape[1]:
            start, end = self.base.indptr[term_id], self.base.indptr[term_id + 1]
            rows.append(self.base.indices[start:end])
            counts.append(self.base.data[start:end])
        tail = self.tail.get(term_id)
        if tail:
            pairs = np.array(tail[: _below(tail, size)], dtype=np.int64).reshape(-1, 2)
            rows.append(pairs[:, 0])
            counts.append(pairs[:, 1])
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        found_rows = np.concatenate(rows).astype(np.int64)
        keep = found_rows < size
        return found_rows[keep], np.concatenate(counts)[keep].astype(float)

    def row_terms(self, row: int) -> set[str]:
        return {self.vocabulary[i] for i in self.term_ids[row].tolist()}

    def sounding_like(self) -> dict[str, list[str]]:
        if self.sounds is None:
            self.sounds = {}
            for term in self.vocabulary:
                self._index_sound(term)
        return self.sounds

    def _term(self, term: str) -> int:
        if term not in self.term_id:
            self.term_id[term] = len(self.vocabulary)
            self.vocabulary.append(term)
            self._index_spelling(term)
            if self.sounds is not None:
                self._index_sound(term)
        return self.term_id[term]

    def _index_spelling(self, term: str) -> None:
        if len(term) >= 4 and not term.isdigit():
            self.by_length.setdefault(len(term), []).append(term)

    def _index_sound(self, term: str) -> None:
        if len(term) >= 4 and not term.isdigit():
            self.sounds.setdefault(_sound(term), []).append(term)


class LexicalIndex:
    """One snapshot of the BM25 index: its chunks, searchable by terms and period; immutable once made."""

    def __init__(
        self,
        rows: Rows,
        size: int,
        alive: np.ndarray,
        by_id: dict[str, int],
        doc_rows: dict[str, tuple[int, ...]],
        stamp: int,
    ) -> None:
        self._rows = rows
        self._size = size
        self._alive = alive
        self._row_of = by_id  # chunk id -> row
        self._doc_rows = doc_rows
        self._stamp = stamp
        self.count = len(by_id)
        self._avg_length = float(rows.lengths[:size][alive].mean()) if self.count else 1.0
        self._df: dict[str, int] = {}
        self._closest = lru_cache(maxsize=4096)(self._closest_term)  # bounded: queries are unbounded
        self._article_terms = lru_cache(maxsize=1024)(self._terms_of_rows)
        # a question's terms are looked up twice (spelling, then search): read each term's postings once
        self._live_postings = lru_cache(maxsize=64)(self._read_live_postings)
        self.by_id = _ChunksById(self)

    @property
    def stamp(self) -> str:
        return _hex(self._stamp)

    @property
    def chunks(self) -> list[Chunk]:
        """Every live chunk (reads them all: for tests and tools, not for questions)."""
        return [self._rows.chunks[r] for r in sorted(self._row_of.values())]

    # -- building ------------------------------------------------------------------------------------------

    @classmethod
    def build(cls, chunks: Iterable[Chunk]) -> LexicalIndex:
        return cls.empty().changed(added=list(chunks), removed_docs=()).compacted()

    @classmethod
    def empty(cls) -> LexicalIndex:
        rows = Rows([], [], [], [])
        return cls(rows, 0, np.zeros(0, dtype=bool), {}, {}, 0)

    def changed(self, added: list[Chunk], removed_docs: Iterable[str]) -> LexicalIndex:
        """A new snapshot: every chunk of `removed_docs` out, then `added` in (a rewritten document is in both)."""
        dead_rows = [row for doc in removed_docs for row in self._doc_rows.get(doc, ())]
        return self._with(added, dead_rows, [Counter(terms(c.text)) for c in added])

    def _with(self, added: list[Chunk], dead_rows: list[int], found: list[Counter[str]]) -> LexicalIndex:
        by_id = dict(self._row_of)
        doc_rows = dict(self._doc_rows)
        stamp = self._stamp
        for row in dead_rows:
            chunk = self._rows.chunks[row]
            if by_id.get(chunk.id) == row:
                del by_id[chunk.id]
                stamp -= _id_hash(chunk.id)
            doc_rows.pop(chunk.doc_id, None)
        new_rows = []
        for chunk, counts in zip(added, found, strict=True):
            if chunk.id in by_id:  # the same chunk twice: the later one stands
                dead_rows.append(by_id[chunk.id])
                stamp -= _id_hash(chunk.id)
            row = self._rows.append(chunk, counts)
            by_id[chunk.id] = row
            stamp += _id_hash(chunk.id)
            new_rows.append(row)
            doc_rows[chunk.doc_id] = (*[r for r in doc_rows.get(chunk.doc_id, ()) if r not in dead_rows], row)
        size = len(self._rows.chunks)
        alive = np.zeros(size, dtype=bool)
        alive[: self._size] = self._alive
        alive[dead_rows] = False
        alive[new_rows] = True
        return LexicalIndex(self._rows, size, alive, by_id, doc_rows, stamp % 2**256)

    def needs_compaction(self, share: float) -> bool:
        """True once the rows written since the base (added or dead) pass `share` of the live rows."""
        written = self._size - self._rows.base_rows + int(self._size - self._alive.sum())
        return written > max(256, share * self.count)

    def compacted(self) -> LexicalIndex:
        """The same chunks in fresh rows: one base matrix, no dead rows (reads every row once)."""
        live = sorted(self._row_of.values(), key=lambda r: (self._rows.chunks[r].doc_id, self._rows.chunks[r].start))
        old = self._rows
        used = np.unique(np.concatenate([old.term_ids[r] for r in live])) if live else np.zeros(0, np.int32)
        vocabulary = [old.vocabulary[i] for i in used.tolist()]  # only the terms of live chunks
        remap = np.full(len(old.vocabulary), -1, dtype=np.int32)
        remap[used] = np.arange(len(used), dtype=np.int32)
        term_ids = [remap[old.term_ids[r]] for r in live]
        rows = Rows(vocabulary, [old.chunks[r] for r in live], term_ids, [old.counts[r] for r in live])
        return LexicalIndex._over(rows, self._stamp)

    @classmethod
    def _over(cls, rows: Rows, stamp: int) -> LexicalIndex:
        size = len(rows.chunks)
        doc_rows: dict[str, tuple[int, ...]] = {}
        for row, chunk in enumerate(rows.chunks):
            doc_rows[chunk.doc_id] = (*doc_rows.get(chunk.doc_id, ()), row)
        by_id = {c.id: row for row, c in enumerate(rows.chunks)}
        return cls(rows, size, np.ones(size, dtype=bool), by_id, doc_rows, stamp)

    # -- reading -------------------------------------------------------------------------------------------

    def search(
        self, query_terms: list[str], n: int, time_key: str | None = None, dated: DateRange | None = None
    ) -> list[str]:
        """Ids of the `n` best chunks by BM25 (score > 0), filed under `time_key` and of an article `dated` in a
        range, if given. Reads the postings of the query's terms, never every chunk."""
        found_rows, found_scores = [], []
        for term in query_terms:
            rows, counts = self._live_postings(term)
            if len(rows):
                length = self._rows.lengths[rows]
                tfc = counts / (K1 * ((1 - B) + B * length / self._avg_length) + counts)
                found_rows.append(rows)
                found_scores.append(self._idf(len(rows)) * tfc)
        if not found_rows:
            return []
        rows, where = np.unique(np.concatenate(found_rows), return_inverse=True)
        scores = np.bincount(where, weights=np.concatenate(found_scores), minlength=len(rows))
        chosen = []
        for i in np.argsort(-scores, kind="stable").tolist():  # best first; walks past chunks of other periods
            chunk = self._rows.chunks[rows[i]]
            if scores[i] <= 0:
                break
            if (time_key is None or time_key in chunk.time_keys) and (dated is None or dated.admits(chunk.date)):
                chosen.append(chunk.id)
                if len(chosen) == n:
                    break
        return chosen

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency over chunks: rare terms weigh more as evidence."""
        return self._idf(self.df(term))

    def df(self, term: str) -> int:
        if term not in self._df:
            self._df[term] = len(self._live_postings(term)[0])
        return self._df[term]

    def correct(self, term: str) -> str:
        """The indexed term closest in spelling to an unknown one ("blinkn" -> "blink"); known terms stay."""
        if len(term) < 4 or term.isdigit() or self.df(term):
            return term
        return self._closest(term)

    def _closest_term(self, term: str) -> str:
        """A typo ("merkl") is close in spelling; a transliteration ("yeltsin", "medvedev") sounds the same
        (Kölner Phonetik) and is the closest of those in spelling. Only terms of live chunks count."""
        spelled = [t for n in range(len(term) - 2, len(term) + 3) for t in self._rows.by_length.get(n, ())]
        for known, cutoff in ((spelled, 0.8), (self._rows.sounding_like().get(_sound(term), []), 0.5)):
            close = [t for t in difflib.get_close_matches(term, known, n=5, cutoff=cutoff) if self.df(t)]
            if close:
                return close[0]
        return term

    def terms_of_article(self, doc_id: str) -> frozenset[str]:
        """The terms of a document's chunks (none for a document the index does not hold)."""
        return self._article_terms(self._doc_rows.get(doc_id, ()))

    def _terms_of_rows(self, rows: tuple[int, ...]) -> frozenset[str]:
        return frozenset().union(*(self._rows.row_terms(r) for r in rows))

    def _idf(self, df: int) -> float:
        return math.log(1.0 + (self.count - df + 0.5) / (df + 0.5))

    def _read_live_postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        rows, counts = self._rows.postings(term, self._size)
        keep = self._alive[rows]
        return rows[keep], counts[keep]

    # -- persisting ----------------------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write the compacted base beside, then swap: a crash leaves the old index, the new one or none, and a
        missing or mis-stamped index is rebuilt from Chroma on the next open. The log starts empty."""
        index = self if self._size == self._rows.base_rows == self.count else self.compacted()
        rows = index._rows
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        lengths = np.array([len(ids) for ids in rows.term_ids], dtype=np.int64)
        np.savez(
            tmp / "base.npz",
            row_ends=np.cumsum(lengths),
            term_ids=np.concatenate(rows.term_ids) if rows.term_ids else np.zeros(0, dtype=np.int32),
            counts=np.concatenate(rows.counts) if rows.counts else np.zeros(0, dtype=np.int32),
        )
        chunks = [[c.id, c.text, chunk_metadata(c)] for c in rows.chunks]
        head = {"format": _FORMAT, "stamp": index.stamp, "vocabulary": rows.vocabulary, "chunks": chunks}
        _write_synced(tmp / "base.json", json.dumps(head, ensure_ascii=False))
        _write_synced(tmp / "log.jsonl", "")
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)

    def log(self, folder: Path, added: list[Chunk], removed_docs: Iterable[str]) -> None:
        """Append one write to the log; replayed on load over the base, it gives this snapshot again."""
        record = {"removed": sorted(removed_docs), "added": [[c.id, c.text, chunk_metadata(c)] for c in added]}
        with open(folder / "log.jsonl", "a", encoding="utf-8") as log:
            log.write(json.dumps(record, ensure_ascii=False) + "\n")
            log.flush()
            os.fsync(log.fileno())

    @classmethod
    def load(cls, folder: Path, stamp: str) -> LexicalIndex | None:
        """The persisted index if it covers exactly the chunks `stamp` names, else None (then rebuild)."""
        try:
            head = json.loads((folder / "base.json").read_text(encoding="utf-8"))
            if head.get("format") != _FORMAT:
                return None
            with np.load(folder / "base.npz") as arrays:  # each read of a name reads it from the file again
                ends, all_ids, all_counts = arrays["row_ends"], arrays["term_ids"], arrays["counts"]
            term_ids = np.split(all_ids, ends[:-1]) if len(ends) else []
            counts = np.split(all_counts, ends[:-1]) if len(ends) else []
            chunks = [chunk_from_chroma(*row) for row in head["chunks"]]
            index = cls._over(Rows(head["vocabulary"], chunks, term_ids, counts), int(head["stamp"], 16))
            for line in _lines(folder / "log.jsonl"):
                record = json.loads(line)
                index = index.changed([chunk_from_chroma(*row) for row in record["added"]], record["removed"])
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None
        return index if index.stamp == stamp else None


def stamp_of(ids: Iterable[str]) -> str:
    """A hash of a set of chunk ids (and of how terms are made) that a write can update by the ids it changed."""
    return _hex(sum(map(_id_hash, ids)) % 2**256)


class _ChunksById(Mapping[str, Chunk]):
    def __init__(self, index: LexicalIndex) -> None:
        self._index = index

    def __getitem__(self, chunk_id: str) -> Chunk:
        return self._index._rows.chunks[self._index._row_of[chunk_id]]

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self._index._row_of

    def __iter__(self) -> Iterator[str]:
        return iter(self._index._row_of)

    def __len__(self) -> int:
        return len(self._index._row_of)


def chunk_metadata(chunk: Chunk) -> dict:
    metadata: dict = {
        "doc_id": chunk.doc_id,
        "date": str(chunk.date) if chunk.date else "",
        "start": chunk.start,
        "end": chunk.end,
        "sentences": json.dumps([[s.start, s.end] for s in chunk.sentences]),
    }
    metadata.update({key: True for key in chunk.time_keys})
    return metadata


def chunk_from_chroma(chunk_id: str, text: str, metadata: dict) -> Chunk:
    return Chunk(
        id=chunk_id,
        doc_id=metadata["doc_id"],
        text=text,
        start=metadata["start"],
        end=metadata["end"],
        date=Period.parse(metadata["date"]),
        sentences=tuple(Span(s, e) for s, e in json.loads(metadata["sentences"])),
        time_keys=frozenset(k for k, v in metadata.items() if k.startswith("t_") and v is True),
    )


def _columns(width: int, term_ids: list[np.ndarray], counts: list[np.ndarray]) -> sparse.csc_matrix:
    """Rows x terms counts, column-compressed: a term's postings are one slice."""
    if not term_ids:
        return sparse.csc_matrix((0, width), dtype=np.int32)
    rows = np.repeat(np.arange(len(term_ids)), [len(ids) for ids in term_ids])
    cells = (np.concatenate(counts), (rows, np.concatenate(term_ids)))
    matrix = sparse.csc_matrix(cells, shape=(len(term_ids), width))
    matrix.sort_indices()
    return matrix


def _below(pairs: list[tuple[int, int]], size: int) -> int:
    """How many of `pairs` (in row order) have a row below `size`."""
    n = len(pairs)
    while n and pairs[n - 1][0] >= size:
        n -= 1
    return n


def _lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if not line.endswith("\n"):  # a write cut off by a crash: the stamp will not match
                raise ValueError("a partial log line")
            yield line


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())


def _id_hash(chunk_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{TERMS_VERSION}\x1f{_FORMAT}\x1f{chunk_id}".encode()).digest())


def _hex(stamp: int) -> str:
    return f"{stamp:064x}"


@lru_cache(maxsize=65536)
def _sound(term: str) -> str:
    return "".join(code for _, code in cologne_phonetics.encode(term))
