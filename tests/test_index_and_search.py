"""Building an index and searching it through the API, with the fake encoder."""

from __future__ import annotations

import json

import pytest
from filelock import FileLock

from index.errors import (
    ArticleNotFound,
    IndexIncompatible,
    IndexLocked,
    IndexNotFound,
    InvalidArgument,
    QuerySyntaxError,
)
from index.pipeline.builder import build
from index.storage.manifest import FORMAT_VERSION, BuildSettings, read_manifest
from search.engine import Engine, RankingConfig
from tests.conftest import FAKE_MODEL, HashingEncoder


def ids(hits):
    return [h.id for h in hits]


def test_build_reports_counts_and_writes_a_self_describing_manifest(tmp_path, corpus_dir, encoder):
    report = build([corpus_dir], tmp_path / "ix", encoder=encoder)
    assert (report.articles, report.added, report.skipped) == (4, 4, [])
    assert report.embedded == report.passages == encoder.calls
    manifest = read_manifest(tmp_path / "ix")
    assert (manifest.model, manifest.dim, manifest.format_version) == (FAKE_MODEL, 64, FORMAT_VERSION)
    assert (manifest.articles, manifest.passages) == (4, report.passages)
    assert manifest.sources == [str(corpus_dir.resolve())]


def test_keyword_search_finds_exact_articles(built_index, encoder):
    with Engine.open(built_index, encoder=encoder) as engine:
        assert ids(engine.search("wheat harvest", mode="keyword")) == ["wheat"]
        assert ids(engine.search("title:libya", mode="keyword")) == ["libya"]
        assert ids(engine.search('"naval exercise"', mode="keyword")) == ["exercise-1"]
        assert ids(engine.search("wheat AND NOT kansas", mode="keyword")) == []
        # All capitals (old wire copy, test collections): AND and NOT are words, not operators.
        assert ids(engine.search("WHEAT AND NOT KANSAS", mode="keyword")) == ["wheat"]
        # Stemming: "agreements" matches "agreement", "resuming" matches "resume".
        assert ids(engine.search("agreements", mode="keyword")) == ["iran"]
        assert ids(engine.search("resuming", mode="keyword")) == ["libya"]


def test_semantic_search_ranks_by_best_passage(built_index, encoder):
    with Engine.open(built_index, encoder=encoder) as engine:
        hits = engine.search("grain silos plains", mode="semantic", k=4)
        assert hits[0].id == "wheat"
        assert hits[0].keyword is None and hits[0].semantic.rank == 1
        assert len(hits) == 4  # every article has some cosine score


def test_hybrid_hits_carry_breakdown_and_snippet(built_index, encoder):
    with Engine.open(built_index, encoder=encoder) as engine:
        hits = engine.search("Libya arms contracts", k=2)
    top = hits[0]
    assert top.id == "libya"
    assert top.keyword.rank == 1 and top.semantic.rank == 1
    assert top.score == pytest.approx(1.0)  # first in both legs: 0.3 * 1 + 0.7 * 1
    assert "Libya" in top.snippet
    assert (top.title, top.date, top.source) == ("Russia may resume military cooperation with Libya", "2012-08-22", "Xinhua")


def test_fusion_is_configurable(built_index, encoder):
    with Engine.open(built_index, encoder=encoder, ranking=RankingConfig(fusion="convex", weight=1.0)) as engine:
        hits = engine.search("wheat", k=1)
    assert ids(hits) == ["wheat"] and hits[0].score == pytest.approx(1.0)
    with Engine.open(built_index, encoder=encoder, ranking=RankingConfig(fusion="rrf")) as engine:
        top = engine.search("Libya arms contracts", k=1)[0]
    assert top.id == "libya" and top.score == pytest.approx(2 / 61)


def test_hits_are_frozen(built_index, encoder):
    with Engine.open(built_index, encoder=encoder) as engine:
        hit = engine.search("wheat", k=1)[0]
    with pytest.raises(AttributeError):
        hit.score = 0  # type: ignore[misc]


def test_rebuild_reuses_cached_embeddings(tmp_path, corpus_dir, built_index):
    fresh = HashingEncoder()
    report = build([], built_index, encoder=fresh)
    assert (report.unchanged, report.embedded, fresh.calls) == (4, 0, 0)


def test_update_sees_added_changed_and_deleted_files(corpus_dir, built_index):
    (corpus_dir / "wheat.txt").unlink()
    (corpus_dir / "iran.txt").write_text("Iran and Russia talk\nIran and Russia discussed air defence systems today.\n")
    (corpus_dir / "new.txt").write_text("Egypt buys jets\nEgypt agreed to buy fighter jets from France.\n")
    encoder = HashingEncoder()
    report = build([], built_index, encoder=encoder)
    assert (report.added, report.updated, report.removed, report.unchanged) == (1, 1, 1, 2)
    with Engine.open(built_index, encoder=encoder) as engine:
        assert len(engine.search("wheat", mode="keyword")) == 0
        assert ids(engine.search("fighter jets", mode="keyword")) == ["new"]
        assert "air defence" in engine.article("iran").body


def test_paths_are_added_to_the_known_sources(tmp_path, built_index, encoder):
    more = tmp_path / "more.jsonl"
    more.write_text(json.dumps({"id": "m1", "title": "Submarine deal", "body": "Australia signed a submarine deal."}) + "\n")
    report = build([more], built_index, encoder=encoder)
    assert report.articles == 5 and report.added == 1
    assert len(read_manifest(built_index).sources) == 2


def test_an_id_another_file_holds_is_source_qualified_not_skipped(tmp_path, corpus_dir, encoder):
    # dupe.jsonl comes first in path order, so it keeps "libya"; libya.txt is not dropped.
    (corpus_dir / "dupe.jsonl").write_text(json.dumps({"id": "libya", "body": "Other text."}) + "\n")
    report = build([corpus_dir], tmp_path / "ix", encoder=encoder)
    assert report.articles == 5 and report.skipped == []
    assert any("'libya'" in w and "'corpus:libya'" in w for w in report.warnings)
    with Engine.open(tmp_path / "ix", encoder=encoder) as engine:
        assert engine.article("libya").body == "Other text."
        assert "Libyan delegation" in engine.article("corpus:libya").body


def test_bad_path_raises_and_leaves_index_untouched(tmp_path, built_index, encoder):
    before = read_manifest(built_index)
    with pytest.raises(Exception, match="no such file"):
        build([tmp_path / "nope"], built_index, encoder=encoder)
    assert read_manifest(built_index) == before


def test_killed_build_leftovers_are_ignored_and_removed(built_index, encoder):
    live = read_manifest(built_index).generation
    abandoned = built_index / "gen-999999"
    abandoned.mkdir()
    (abandoned / "junk").write_text("half written")
    with Engine.open(built_index, encoder=encoder) as engine:
        assert ids(engine.search("wheat", mode="keyword")) == ["wheat"]
    build([], built_index, encoder=encoder)
    assert not abandoned.exists()
    assert read_manifest(built_index).generation > live


def test_old_generations_are_pruned_keeping_the_previous(built_index, encoder):
    for _ in range(3):
        build([], built_index, encoder=encoder)
    generations = sorted(p.name for p in built_index.glob("gen-*"))
    assert len(generations) == 2 and generations[-1] == read_manifest(built_index).generation


def test_second_writer_fails_clearly(built_index, encoder):
    with FileLock(str(built_index / ".lock")):
        with pytest.raises(IndexLocked, match="being updated by another process"):
            build([], built_index, encoder=encoder)


def test_open_errors(tmp_path, built_index, encoder):
    with pytest.raises(IndexNotFound, match="no index at"):
        Engine.open(tmp_path / "nothing")

    class OtherModel(HashingEncoder):
        name = "other/model"

    with pytest.raises(IndexIncompatible, match="built with test/hashing"):
        Engine.open(built_index, encoder=OtherModel())
    with pytest.raises(IndexIncompatible, match="pass --rebuild"):
        build([], built_index, encoder=OtherModel())

    manifest = json.loads((built_index / "manifest.json").read_text())
    manifest["format_version"] = 99
    (built_index / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexIncompatible, match="format 99"):
        Engine.open(built_index)


def test_rebuild_keeps_sources_and_replaces_model_and_settings(built_index):
    class OtherModel(HashingEncoder):
        name = "other/model"

    report = build([], built_index, encoder=OtherModel(), rebuild=True, settings=BuildSettings(passage_tokens=32))
    manifest = read_manifest(built_index)
    assert (manifest.model, manifest.settings.passage_tokens, report.articles) == ("other/model", 32, 4)
    assert report.embedded == report.passages  # vectors of another model are never reused


def test_query_and_argument_errors(built_index, encoder):
    with Engine.open(built_index, encoder=encoder) as engine:
        for bad in ('"open phrase', "(unbalanced", "author:smith", "arms AND"):
            with pytest.raises(QuerySyntaxError):
                engine.search(bad, strict=True)
            for mode in ("keyword", "semantic", "hybrid"):
                lenient = engine.search(bad, mode=mode)  # type: ignore[arg-type]
                assert lenient.notes and lenient.notes[0].startswith("read as plain words")
        with pytest.raises(InvalidArgument):
            engine.search("x", k=0)
        with pytest.raises(InvalidArgument):
            engine.search("x", mode="fuzzy")  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument):
            engine.search("   ")
        with pytest.raises(ArticleNotFound):
            engine.article("missing")
        assert len(engine.search("the of and", mode="keyword")) == 0  # stop words only


def test_stats(built_index, encoder):
    with Engine.open(built_index, encoder=encoder) as engine:
        stats = engine.stats()
    assert (stats.articles, stats.model, stats.dim) == (4, FAKE_MODEL, 64)
    assert stats.passages >= 4


def test_derived_titles_are_not_indexed_as_titles(tmp_path, encoder):
    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        json.dumps({"id": "untitled", "body": "Zanzibar ports reopened. Trade resumed."}) + "\n"
        + json.dumps({"id": "titled", "title": "Zanzibar trade", "body": "Ports reopened today."}) + "\n"
    )
    build([docs], tmp_path / "ix", encoder=encoder)
    with Engine.open(tmp_path / "ix", encoder=encoder) as engine:
        assert engine.article("untitled").title == "Zanzibar ports reopened."  # shown ...
        assert ids(engine.search("title:zanzibar", mode="keyword")) == ["titled"]  # ... not searched
    # A real title rides in front of its passages; a derived one is not repeated.
    assert sorted(encoder.texts) == ["Zanzibar ports reopened. Trade resumed.", "Zanzibar trade\nPorts reopened today."]


def test_an_explicit_title_is_real_even_when_the_body_repeats_it(tmp_path, encoder):
    # Cranfield's bodies start with their titles; the JSONL title field is still a real title.
    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        json.dumps({"id": "cran", "title": "wing flutter .", "body": "wing flutter . tests at mach two ."}) + "\n"
        + json.dumps({"id": "other", "body": "wing flutter . more tests at mach two ."}) + "\n"
    )
    build([docs], tmp_path / "ix", encoder=encoder)
    with Engine.open(tmp_path / "ix", encoder=encoder) as engine:
        assert ids(engine.search("title:flutter", mode="keyword")) == ["cran"]
        assert not engine.article("cran").title_is_derived
        assert engine.article("other").title_is_derived  # read back from the store as it was read
    assert "wing flutter .\nwing flutter . tests at mach two ." in encoder.texts


def test_same_file_names_in_subfolders_are_different_articles(tmp_path, encoder):
    for folder in ("business", "sport"):
        (tmp_path / "bbc" / folder).mkdir(parents=True)
        (tmp_path / "bbc" / folder / "001.txt").write_text(f"{folder.title()} news\nA {folder} story happened today.\n")
    report = build([tmp_path / "bbc"], tmp_path / "ix", encoder=encoder)
    assert (report.articles, report.skipped) == (2, [])
    with Engine.open(tmp_path / "ix", encoder=encoder) as engine:
        assert engine.article("sport/001").title == "Sport news"
        assert ids(engine.search("business", mode="keyword")) == ["business/001"]


@pytest.mark.parametrize("mode", ["hybrid", "semantic", "keyword"])
def test_excluded_articles_never_come_back_in_any_mode(built_index, encoder, mode):
    with Engine.open(built_index, encoder=encoder) as engine:
        everything = {h.id for h in engine.search("military cooperation navies", k=10, mode=mode)}
        assert "iran" in everything
        without = engine.search("military cooperation navies AND NOT iran", k=10, mode=mode)
        assert "iran" not in {h.id for h in without}
        assert all("iran" not in h.snippet.lower() for h in without)
        required = engine.search("military AND libya", k=10, mode=mode)
        assert {h.id for h in required} <= {"libya"}


@pytest.mark.parametrize("mode", ["hybrid", "semantic", "keyword"])
def test_a_query_that_only_excludes_returns_nothing_and_says_why(built_index, encoder, mode):
    with Engine.open(built_index, encoder=encoder) as engine:
        result = engine.search("NOT wheat", mode=mode)
    assert len(result) == 0 and result.notes == ("the query only excludes words; add words to search for",)


def test_excluded_terms_are_not_highlighted(built_index, encoder):
    with Engine.open(built_index, encoder=encoder) as engine:
        hits = engine.search("grain AND NOT kansas", mode="keyword")
        assert len(hits) == 0
        hits = engine.search("wheat NOT kansas", mode="keyword", k=5)
        marked = {h.snippet[a:b].lower() for h in hits for a, b in h.highlights}
    assert "kansas" not in marked


def test_sort_by_date_orders_the_relevant_hits_not_every_candidate(built_index, encoder):
    with Engine.open(built_index, encoder=encoder) as engine:
        relevant = engine.search("wheat harvest Kansas", k=1, mode="hybrid")
        by_date = engine.search("wheat harvest Kansas", k=1, mode="hybrid", sort="date")
    assert [h.id for h in by_date] == [h.id for h in relevant] == ["wheat"]


SPLIT_BODY = (
    "The U.S. Army signed a deal with Gen. Smith on Jan. 5 in Washington. Officials said the first "
    "batteries would arrive soon after. Nobody else commented on it at all."
)


def _passage_spans(index_dir, article_id):
    from index.storage.docstore import generation_docstore

    docs = generation_docstore(index_dir / read_manifest(index_dir).generation)
    try:
        return [(p.start, p.end) for p in docs.passages_of(article_id)]
    finally:
        docs.close()


def _expected_spans(index_dir, article_id, encoder, splitter):
    from dataclasses import replace

    from index.pipeline.builder import split_article

    with Engine.open(index_dir, encoder=encoder) as engine:
        article = engine.article(article_id)
    settings = replace(read_manifest(index_dir).settings, sentence_splitter=splitter)
    return [(p.start, p.end) for p in split_article(article, encoder, settings)]


def test_the_sentence_splitter_is_kept_by_updates_and_reset_by_a_rebuild(tmp_path, encoder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.jsonl").write_text(json.dumps({"id": "a", "title": "Old", "body": SPLIT_BODY}) + "\n")
    index_dir = tmp_path / "ix"
    build([corpus], index_dir, encoder=encoder, settings=BuildSettings(passage_tokens=16, sentence_splitter="syntok"))
    assert read_manifest(index_dir).settings.sentence_splitter == "syntok"

    (corpus / "b.jsonl").write_text(json.dumps({"id": "b", "title": "New", "body": SPLIT_BODY}) + "\n")
    report = build([corpus], index_dir, encoder=encoder)
    assert report.added == 1  # an update, not a rebuild, and it cuts as the index was cut
    assert read_manifest(index_dir).settings.sentence_splitter == "syntok"
    syntok = _expected_spans(index_dir, "b", encoder, "syntok")
    assert syntok != _expected_spans(index_dir, "b", encoder, "regex")
    assert _passage_spans(index_dir, "b") == syntok

    build([], index_dir, encoder=encoder, rebuild=True, settings=BuildSettings(passage_tokens=16))
    assert read_manifest(index_dir).settings.sentence_splitter == "regex"
    assert _passage_spans(index_dir, "b") == _expected_spans(index_dir, "b", encoder, "regex")


def test_a_manifest_from_before_the_splitter_setting_reads_as_regex(built_index):
    raw = json.loads((built_index / "manifest.json").read_text())
    assert raw["settings"]["sentence_splitter"] == "regex"
    del raw["settings"]["sentence_splitter"]
    (built_index / "manifest.json").write_text(json.dumps(raw))
    assert read_manifest(built_index).settings == BuildSettings()


def test_an_unknown_splitter_is_refused_before_anything_is_written(tmp_path, corpus_dir, encoder):
    with pytest.raises(ValueError, match="sentence_splitter must be one of regex, syntok"):
        build([corpus_dir], tmp_path / "ix", encoder=encoder, settings=BuildSettings(sentence_splitter="nltk"))
    assert not (tmp_path / "ix" / "manifest.json").exists()
