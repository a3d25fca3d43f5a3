"""Bo1 expansion as arrays (index/storage/keyword_feedback.py) must give exactly what whoosh's
`classify.Expander` gives: the same terms, in the same order, with the same float weights, on
any documents and collection statistics, and from threads that meet new terms at once."""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st
from whoosh import classify

from index.storage.keyword_feedback import Bo1Expansion

TERMS = [f"t{n}" for n in range(60)]


class _Expander(classify.Expander):
    """whoosh's Expander over given collection statistics instead of an index reader."""

    def __init__(self, documents: int, field_length: float, frequencies: dict[str, float | None]) -> None:
        self.model = classify.Bo1Model(documents, field_length)
        self.topN_weight: dict[str, float] = {}
        self.top_total = 0
        self.frequencies = frequencies

    def expanded_terms(self, number: int, normalize: bool = True) -> list[tuple[str, float]]:
        # classify.Expander.expanded_terms with the reader's `in` and `frequency` replaced by
        # the given statistics; the arithmetic is whoosh's, line for line.
        tlist = []
        maxweight = 0
        if not self.topN_weight:
            return []
        for word, weight in self.topN_weight.items():
            cf = self.frequencies[word]
            if cf is not None:
                score = self.model.score(weight, cf, self.top_total)
                if score > maxweight:
                    maxweight = score
                tlist.append((score, word))
        norm = self.model.normalizer(maxweight, self.top_total)
        tlist = [(weight / norm, t) for weight, t in tlist]
        tlist.sort(key=lambda x: (0 - x[0], x[1]))
        return [(t, float(weight)) for weight, t in tlist[:number]]

    def add(self, vector) -> None:
        total_weight = 0
        for word, weight in vector:
            total_weight += weight
            self.topN_weight[word] = self.topN_weight.get(word, 0.0) + weight
        self.top_total += total_weight


def _whoosh(documents: Sequence[dict[str, float]], count: int, n: int, length: float,
            frequencies: dict[str, float | None]) -> list[tuple[str, float]]:
    expander = _Expander(n, length, frequencies)
    for document in documents:
        expander.add(document.items())
    return expander.expanded_terms(count)


def _reader(frequencies: dict[str, float | None], asked: list[str] | None = None):
    def read(terms: Sequence[str]) -> list[float | None]:
        if asked is not None:
            asked.extend(terms)
        return [frequencies[t] for t in terms]
    return read


weights = st.one_of(st.integers(1, 40).map(float), st.floats(0.1, 9.0, allow_nan=False))
documents = st.lists(st.dictionaries(st.sampled_from(TERMS), weights, max_size=25), min_size=1, max_size=6)
frequency = st.one_of(st.none(), st.integers(1, 5000).map(float), st.floats(0.5, 5000.0))


@settings(max_examples=400, deadline=None)
@given(documents, st.fixed_dictionaries({t: frequency for t in TERMS}), st.integers(1, 30),
       st.integers(100, 50_000))
def test_any_documents_expand_exactly_as_whooshs_expander(docs, frequencies, count, n):
    expansion = Bo1Expansion(n, 40.0 * n)
    got = expansion.expanded([(list(d), list(d.values())) for d in docs], count, _reader(frequencies))
    assert got == _whoosh(docs, count, n, 40.0 * n, frequencies)


def test_close_scores_at_the_cut_are_ordered_as_whoosh_orders_them():
    # Many terms with the same statistics tie exactly; their order and which of them make the
    # cut come from the term text, as in whoosh.
    frequencies: dict[str, float | None] = {t: 7.0 for t in TERMS}
    docs = [dict.fromkeys(TERMS[:40], 2.0), dict.fromkeys(TERMS[20:], 1.0)]
    for count in (1, 5, 19, 20, 21, 40, 60, 100):
        expansion = Bo1Expansion(1000, 40_000.0)
        got = expansion.expanded([(list(d), list(d.values())) for d in docs], count, _reader(frequencies))
        assert got == _whoosh(docs, count, 1000, 40_000.0, frequencies)


def test_each_terms_frequency_is_read_once_and_unknown_terms_are_left_out():
    frequencies: dict[str, float | None] = {t: float(n + 1) for n, t in enumerate(TERMS)}
    frequencies["t3"] = None  # not in the field
    asked: list[str] = []
    expansion = Bo1Expansion(500, 10_000.0)
    docs = [{"t1": 2.0, "t2": 1.0, "t3": 5.0}, {"t2": 3.0, "t4": 1.0}]
    first = expansion.expanded([(list(d), list(d.values())) for d in docs], 10, _reader(frequencies, asked))
    again = expansion.expanded([(list(d), list(d.values())) for d in docs], 10, _reader(frequencies, asked))
    assert first == again == _whoosh(docs, 10, 500, 10_000.0, frequencies)
    assert "t3" not in [t for t, _w in first]
    assert sorted(asked) == ["t1", "t2", "t3", "t4"]
    assert expansion.expanded([([], [])], 10, _reader(frequencies)) == []
    assert expansion.expanded([(["t3"], [4.0])], 10, _reader(frequencies)) == []


def test_threads_meeting_new_terms_at_once_agree_with_one_thread():
    rng = random.Random(5)
    words = [f"w{n}" for n in range(3000)]
    frequencies: dict[str, float | None] = {w: float(rng.randint(1, 900)) for w in words}
    cases = [[{rng.choice(words): float(rng.randint(1, 5)) for _ in range(80)} for _d in range(5)] for _c in range(60)]
    expected = [_whoosh(docs, 10, 5000, 9e5, frequencies) for docs in cases]
    expansion = Bo1Expansion(5000, 9e5)
    found: dict[int, list] = {}
    start = threading.Barrier(4)

    def work(offset: int) -> None:
        start.wait()
        for i in range(offset, offset + len(cases)):
            number = i % len(cases)
            docs = cases[number]
            found[(offset, number)] = expansion.expanded([(list(d), list(d.values())) for d in docs], 10,
                                                         _reader(frequencies))

    threads = [threading.Thread(target=work, args=(offset,)) for offset in (0, 15, 30, 45)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(found[(offset, number)] == expected[number] for offset, number in found)
    assert len(found) == 4 * len(cases)


def test_documents_read_by_key_are_kept_and_expand_as_whooshs_expander(monkeypatch):
    from index.storage import keyword_feedback

    monkeypatch.setattr(keyword_feedback, "CACHED_DOCUMENTS", 4)
    rng = random.Random(8)
    frequencies: dict[str, float | None] = {t: float(rng.randint(1, 300)) for t in TERMS}
    frequencies["t7"] = None
    docs = {key: {rng.choice(TERMS): float(rng.randint(1, 6)) for _ in range(12)} for key in range(8)}
    docs[8] = {}  # an article without terms is left out, as `expanded` leaves it
    reads: list[int] = []

    def read(key: int) -> tuple[list[str], list[float]] | None:
        reads.append(key)
        return (list(docs[key]), list(docs[key].values())) if key in docs else None

    expansion = Bo1Expansion(2000, 80_000.0)
    # The last four read are kept, the least recently used out first.
    for keys in ([0, 1, 2], [1, 2, 3], [0, 4, 5, 6, 7], [7, 6], [0, 8], [8, 0]):
        expected = _whoosh([docs[key] for key in keys], 10, 2000, 80_000.0, frequencies)
        assert expansion.expanded_kept(keys, read, 10, _reader(frequencies)) == expected != []
    assert reads == [0, 1, 2, 3, 4, 5, 6, 7, 0, 8]
    assert expansion.expanded_kept([1, 99], read, 10, _reader(frequencies)) is None  # 99: nothing stored
    assert reads[-2:] == [1, 99]


def test_threads_sharing_kept_documents_agree_with_one_thread(monkeypatch):
    from index.storage import keyword_feedback

    monkeypatch.setattr(keyword_feedback, "CACHED_DOCUMENTS", 7)  # kept and evicted all the time
    rng = random.Random(9)
    words = [f"w{n}" for n in range(800)]
    frequencies: dict[str, float | None] = {w: float(rng.randint(1, 900)) for w in words}
    docs = {key: {rng.choice(words): float(rng.randint(1, 5)) for _ in range(60)} for key in range(20)}
    cases = [rng.sample(range(20), 5) for _ in range(50)]
    expected = [_whoosh([docs[key] for key in keys], 10, 5000, 9e5, frequencies) for keys in cases]
    expansion = Bo1Expansion(5000, 9e5)
    start = threading.Barrier(4)
    found: dict[tuple[int, int], list | None] = {}

    def read(key: int) -> tuple[list[str], list[float]]:
        return list(docs[key]), list(docs[key].values())

    def work(offset: int) -> None:
        start.wait()
        for i in range(offset, offset + 3 * len(cases)):
            number = i % len(cases)
            found[(offset, number)] = expansion.expanded_kept(cases[number], read, 10, _reader(frequencies))

    threads = [threading.Thread(target=work, args=(offset,)) for offset in (0, 12, 25, 37)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 4 * len(cases)
    assert all(found[(offset, number)] == expected[number] for offset, number in found)
