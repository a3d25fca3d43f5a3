"""HTML pages of news sites: the article's text without the page's boilerplate, with its title,
publication date, outlet and canonical URL, extracted by trafilatura (the `html` extra).

trafilatura is imported on the first page read, so indexes without HTML never load it.
Pure functions over text: safe from any thread or process.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    """What a news page holds: `body` paragraphs separated by blank lines, the rest None when
    the page does not say."""

    title: str | None
    body: str
    date: str | None
    source: str | None
    url: str | None


def extract_page(html: str) -> Page | None:
    """The article of an HTML page, or None when the page holds no article text.

    The date is the page's own publication date from its markup (meta tags, `<time>`), never
    a guess from the text or today's date; the outlet is the site's name (`og:site_name`), else
    its host name; the URL is the canonical one (`<link rel=canonical>`, `og:url`).
    """
    import trafilatura

    document = trafilatura.bare_extraction(
        html,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    if document is None:
        return None
    fields = document if isinstance(document, dict) else document.as_dict()
    paragraphs = [" ".join(line.split()) for line in str(fields.get("text") or "").splitlines()]
    paragraphs = [p for p in paragraphs if p]
    title = " ".join(str(fields.get("title") or "").split()) or None
    if title and paragraphs and paragraphs[0] == title:
        paragraphs = paragraphs[1:]  # the headline is the title, not the first paragraph
    if not paragraphs:
        return None
    return Page(
        title=title,
        body="\n\n".join(paragraphs),
        date=fields.get("date") or None,
        source=fields.get("sitename") or fields.get("hostname") or None,
        url=fields.get("url") or None,
    )
