"""The named errors of Accord. Only `cli.py` turns them into exit codes and one-line messages."""

from __future__ import annotations


class AccordError(Exception):
    """Base class: every error Accord raises on purpose; its message is one line for the user."""


class SourceNotFound(AccordError):
    """A path given to the indexer does not exist or is not a .txt/.jsonl file or folder."""


class IndexNotFound(AccordError):
    """No index exists at the given directory."""


class IndexIncompatible(AccordError):
    """The index was built with another model or another format version."""


class IndexLocked(AccordError):
    """Another process is writing the index."""


class QuerySyntaxError(AccordError):
    """A query that cannot be parsed (unbalanced quotes, unknown field, no terms)."""


class ArticleNotFound(AccordError):
    """No article with that id is in the index."""


class InvalidArgument(AccordError):
    """An argument is out of range or names an unknown option."""


class IndexCorrupted(AccordError):
    """A file of the index cannot be read as what it should be (damaged bytes, truncation)."""


class IndexWriteError(AccordError):
    """Writing a new generation failed (disk full, I/O error); the live index is unchanged."""


class SavedSearchNotFound(AccordError):
    """No saved search of that name is on the index's watchlist."""


class StoreUnavailable(AccordError):
    """The database server of a PostgreSQL store cannot be reached or refuses the login."""


class ReadInterrupted(StoreUnavailable):
    """A read lost its database connection before it answered (the server stopped, the link broke); it may run again on another server."""


class SavedSearchExists(InvalidArgument):
    """A saved search of that name is already on the index's watchlist."""


class ModelNotInstalled(IndexIncompatible):
    """An embedding model asked for (--model, or an index's manifest) is not installed; the message names the pip command."""


class ClusterError(AccordError):
    """The Dask cluster asked to embed (--dask, --workers) cannot be reached, has no workers, or failed."""


class MissingExtra(AccordError):
    """An optional part of Accord (PostgreSQL, Dask, plotting, evaluation) is not installed; the message names the extra."""


class InvalidParameter(InvalidArgument):
    """A value given for a named parameter (a filter, an option) that cannot be used.

    `names` are the parameters it concerns, in plain words (`country`, `since`), so each surface
    says them its own way: `str(err)` uses the names as they are (the HTTP API's query
    parameters and body fields), `worded(lambda name: "--" + name)` the CLI's flags.
    """

    def __init__(self, template: str, **names: str) -> None:
        # `template` holds `{name}` placeholders for the parameters; values are already in it,
        # with their braces doubled (see `literal`).
        self.template = template
        self.names = names
        super().__init__(self.worded(lambda name: name))

    def worded(self, spell) -> str:
        """The message with each parameter written as `spell(name)` (for example "--since")."""
        return self.template.format(**{key: spell(name) for key, name in self.names.items()})

    @staticmethod
    def literal(value: object) -> str:
        """`value` as text safe to put into a template (its braces doubled)."""
        return str(value).replace("{", "{{").replace("}", "}}")


class StoreAccessDenied(AccordError):
    """The database role may not do what was asked (a read-only role writing); the message names the fix."""


class LocalServerError(AccordError):
    """The local PostgreSQL server (`accord db`) could not be created, started or stopped; the message names its log."""


class WatchlistUnavailable(AccordError):
    """The watchlist's SQLite file cannot be read or written (full disk, I/O error, permissions, damage); the message names the file."""


class SavedSearchNotOwned(AccordError):
    """A server's user asked to remove a saved search another user owns (shared with them, not theirs)."""
