"""The build: `builder` turns sources into a new generation, running `sources` (which sources and
files), `plan` (what to read, add, update, delete), `read` (articles, passages, facts), `batches`
(publishing by count and time), `embed_write` (embedding through the cache, writing a batch) and
`duplicates` (regrouping near-duplicates); `check` verifies an index, `watch` follows folders and
updates the index as files change."""
