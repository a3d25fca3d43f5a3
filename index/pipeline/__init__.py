"""The build: `builder` turns sources into a new generation, `check` verifies an index, `watch`
follows folders and updates the index as files change."""
