"""Whether a text is written in capitals (old wire copy, the TIME collection), where a capital
letter is no sign of a name: the gazetteer, the people finder and the organisation patterns all
ask, about the same text, so the answer is kept for the last few texts.

Pure and cached with `functools.lru_cache`, which is safe to share between threads.
"""

from __future__ import annotations

import functools

# Characters looked at: the opening of an article says how it is written.
SAMPLE = 2000


@functools.lru_cache(maxsize=16)
def written_in_capitals(text: str) -> bool:
    """True when more than 90% of the letters in the first SAMPLE characters are capitals."""
    letters = list(filter(str.isalpha, text[:SAMPLE]))
    return bool(letters) and sum(map(str.isupper, letters)) > 0.9 * len(letters)
