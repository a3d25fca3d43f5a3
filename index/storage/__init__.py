"""Storage: the index directory and its generations (`directory`, `manifest`, `layout`), the
keyword index (`keyword`, whoosh, scored by `keyword_arrays` at scale), the vectors (`vectors`,
faiss), the article store (`docstore`, SQLite) and what a filtered search may return (`filters`).
Both the build side and the query side use these."""
