"""The passage settings measured for index throughput (docs/tuning.md, T table): the defaults are
unchanged, the opt-in overlap limit embeds a long sentence once, and an index keeps the
settings it was built with (a manifest from before the limit reads as no limit)."""

from __future__ import annotations

import json

from index.embedding.encoder import MINILM_NAME, encoder_for
from index.pipeline.builder import build
from index.pipeline.read import embedding_text, split_article
from index.storage.manifest import BuildSettings, read_manifest
from index.text.articles import Article, read_articles
from index.text.passages import split_passages
from tests.conftest import SEEDS

# The passage defaults (unchanged by the T table), and the same with the opt-in overlap limit.
DEFAULT = BuildSettings(passage_tokens=64, overlap_sentences=1, title_in_passages=True, overlap_tokens=0)
LIMITED = BuildSettings(overlap_tokens=21)


def seed_article(name: str) -> Article:
    return next(a for a in read_articles(SEEDS / name) if isinstance(a, Article))


def test_with_the_overlap_limit_a_news_length_article_has_no_long_sentence_twice():
    assert BuildSettings() == DEFAULT
    encoder = encoder_for(MINILM_NAME)  # its tokenizer alone: no model is loaded to count
    article = seed_article("003_2b9cbe42a2e4ca54.txt")  # 507 word pieces, a real title
    old, new = split_article(article, encoder, DEFAULT), split_article(article, encoder, LIMITED)
    assert (len(old), len(new)) == (14, 11)
    embedded = [embedding_text(article, p, LIMITED) for p in new]
    assert sum(encoder.count_tokens(embedded)) < 0.8 * sum(encoder.count_tokens([embedding_text(article, p, DEFAULT) for p in old]))
    # Every sentence is still in some passage, and consecutive passages share at most a short one.
    assert {w for p in new for w in p.text.split()} == set(article.body.split())
    for before, after in zip(new, new[1:]):
        shared = article.body[after.start : before.end] if after.start < before.end else ""
        assert encoder.count_tokens([shared])[0] <= LIMITED.overlap_tokens


def test_an_index_keeps_the_passage_settings_it_was_built_with(tmp_path, encoder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    # Sentences of 25 words (the test encoder counts words): two to a 64-word passage, and each
    # over the overlap limit, so the two cuts differ.
    sentence = "Delegates from both ministries said in the capital on Monday that the talks on the new " \
               "supply agreement went on for many hours number {}."
    body = " ".join(sentence.format(i) for i in range(12))
    record = {"id": "a", "title": "Talks", "body": body}
    (corpus / "a.jsonl").write_text(json.dumps(record) + "\n")
    index_dir = tmp_path / "ix"
    build([corpus], index_dir, encoder=encoder, settings=LIMITED)
    assert read_manifest(index_dir).settings == LIMITED != BuildSettings()
    full_cut = len(split_passages(body, encoder.count_tokens, 64, 1))
    limited_cut = len(split_passages(body, encoder.count_tokens, 64, 1, overlap_tokens=LIMITED.overlap_tokens))
    assert (full_cut, limited_cut) == (11, 6)

    (corpus / "b.jsonl").write_text(json.dumps(dict(record, id="b")) + "\n")
    report = build([corpus], index_dir, encoder=encoder)
    # An update, cut as the index was: b's passages are a's texts, all in the embedding cache.
    assert (report.added, report.embedded, report.passages) == (1, 0, 2 * limited_cut)
    assert read_manifest(index_dir).settings == LIMITED

    report = build([], index_dir, encoder=encoder, rebuild=True)  # a rebuild takes today's defaults
    assert read_manifest(index_dir).settings == BuildSettings() and report.passages == 2 * full_cut
    # A manifest written before the overlap limit existed has no such key: it reads as no limit.
    raw = json.loads((index_dir / "manifest.json").read_text())
    del raw["settings"]["overlap_tokens"]
    (index_dir / "manifest.json").write_text(json.dumps(raw))
    assert read_manifest(index_dir).settings == DEFAULT
