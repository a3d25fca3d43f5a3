"""Analyst views built on the ranker: the match set of a query and what is counted from it.

- `matches`: the relevance cut-off and the match set (`find_matches`);
- `timeline`: matches per month or year (`timeline`);
- `pairs`: country pairs co-occurring in matches (`pairs`);
- `watchlist`: saved searches and the alerts of what newly matches (`add_search`, `check_alerts`);
- `plot`: timeline charts as PNG or SVG (matplotlib, imported only there);
- `text`: a terminal bar chart.

Each view takes an open `search.Engine` and the same `Filters` as search, and returns frozen
dataclasses (`dataclasses.asdict` gives their JSON).
"""
