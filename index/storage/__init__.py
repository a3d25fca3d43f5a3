"""Storage: the index directory, its generations and leases (`directory`, `manifest`, `layout`),
its write transaction (`transaction`) and fault classification (`faults`), the
keyword index (`keyword`, whoosh, scored by `keyword_arrays` at scale), the vectors (`vectors`,
faiss), the article store (`docstore`, SQLite) and what a filtered search may return (`filters`).
Both the build side and the query side use these."""
