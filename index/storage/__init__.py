"""Storage: the index directory, its generations and leases (`directory`, `manifest`, `layout`),
its write transaction (`transaction`) and fault classification (`faults`), the
keyword index (`keyword`, whoosh, scored by `keyword_arrays` at scale, its feedback terms weighed
by `keyword_feedback`), the vectors (`vectors`,
faiss) and the article store (`docstore`, SQLite), both kept in immutable segments (`segments`);
the filters a search applies are the neutral
value `index.filters.Filters`. Both the build side and the query side use these."""
