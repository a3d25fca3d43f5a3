"""Regrouping near-duplicates: after a batch is written, the duplicate groups it touched are
made the connected components of the near-duplicate graph again."""

from __future__ import annotations

from index.storage.docstore import DocStoreWriter
from index.text.duplicates import component, signature_from_bytes, similar_enough


def regroup_duplicates(docs: DocStoreWriter, seeds: set[str], added: set[str]) -> None:
    """Keep the duplicate groups the connected components of the near-duplicate graph.

    The components holding any of `seeds` (members of groups that lost or changed an article)
    are found again by a walk over the graph: a removal can split a group. An `added` article
    then joins the groups of its neighbours, which are components already, so it costs one look
    at its own neighbours; walking its whole group instead made a text's n-th copy cost n
    neighbour lookups (n^2 similarity checks per copy: 80% of a 100,000-article build of 50
    copies per text, docs/performance.md section 10).
    """

    def neighbours(article_id: str) -> list[str]:
        mine = signature_from_bytes(docs.signature(article_id) or b"")
        return [other for other, blob in docs.band_candidates(article_id).items()
                if similar_enough(mine, signature_from_bytes(blob))]

    done: set[str] = set()
    for seed in sorted(seeds):
        if seed in done or docs.signature(seed) is None:
            continue
        members = component(seed, neighbours)
        docs.set_duplicate_group(members)
        done |= members
    for article_id in sorted(added - done):
        near = neighbours(article_id)
        if not near:
            continue  # a group of its own (or one an earlier added article put it in)
        groups = set(docs.duplicate_groups([article_id, *near]).values())
        known = docs.group_members(sorted(groups))
        # A lone article has no stored group: its group id is its own id, with no members listed.
        docs.set_duplicate_group({m for group in groups for m in known.get(group, [group])})
