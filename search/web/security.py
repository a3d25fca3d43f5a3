"""Who may use a server, and the headers and limits every response and request get.

Access: a server bound to a loopback address needs no token (only this machine can reach it),
though one may be set. Any other address needs one (`--token-file` or `$ACCORD_TOKEN`): without
it `check_bind` refuses to start. When a token is set, every request (pages, static files, API,
`/docs`, `/openapi.json`) must carry it, compared in constant time (`hmac.compare_digest`):

- API clients send `Authorization: Bearer TOKEN`;
- a browser opens `/?token=TOKEN` once: the server sets an HttpOnly, SameSite=Strict cookie
  with the token and redirects to the same address without it, so the token leaves the address
  bar and history, and the page's own API calls carry the cookie.

Several analysts may share a server, each with a token of their own: a tokens file
(`--tokens-file`, `load_tokens`) names them, one `NAME TOKEN` (or `NAME:TOKEN`) a line. The
token a request carries says who sent it: `Guard` puts the name in `request.state.user` (None
without a token, '' for the single unnamed token), which the watchlist routes and the access log
read. A missing token is 401, a wrong one 403. Without a token, only requests whose Host header names
this machine (localhost, 127.0.0.1, [::1]) are answered, so a web page elsewhere cannot reach a
loopback server by pointing a DNS name at 127.0.0.1 (DNS rebinding).

Writes (the watchlist: any method but GET, HEAD and OPTIONS) must not come from another site's
page (cross-site request forgery): a browser says where a request comes from in `Origin` and
`Sec-Fetch-Site`, and a write whose `Origin` is not this server or whose `Sec-Fetch-Site` is
`cross-site` or `same-site` is refused (403). A body must be JSON, which a page elsewhere cannot
send without the browser first asking this server (CORS), and this server allows no other
origin. Clients that are not browsers send neither header and are let through (they hold the
token where one is set). The token cookie is SameSite=Strict, so other sites never carry it.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from index.errors import InvalidArgument

log = logging.getLogger("accord.serve")

TOKEN_ENV = "ACCORD_TOKEN"
COOKIE = "accord_token"
MIN_TOKEN_CHARS = 16  # a short token can be guessed over the network

# Limits on what one request may ask for, so no request can hold the server for long.
MAX_QUERY_CHARS = 500
MAX_K = 100
MAX_OFFSET = 1000  # deeper pages fetch ever longer candidate lists; past this, narrow the filters
MAX_EXPORT = 1000  # hits one export may hold
MAX_URL_BYTES = 8192
MAX_BODY_BYTES = 16384  # only saving a search reads a body (a few hundred bytes); larger is refused unread
MAX_REQUESTS = 64  # requests in progress at once, counted once their body is in; more get 503
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# No inline script or style, nothing from another origin. Swagger UI shows its icons as
# data: images, hence img-src data:.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


def load_token(token_file: Path | None) -> str | None:
    """The access token: the first line of `token_file` if given, else `$ACCORD_TOKEN`, else None.

    Raises InvalidArgument when the file cannot be read or the token is shorter than 16 characters.
    """
    if token_file is not None:
        try:
            lines = token_file.expanduser().read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise InvalidArgument(f"--token-file {token_file}: cannot read it ({err}); give a file holding the token") from None
        token, origin = (lines[0].strip() if lines else ""), f"--token-file {token_file}"
    else:
        token, origin = os.environ.get(TOKEN_ENV, "").strip(), f"${TOKEN_ENV}"
        if not token:
            return None
    if len(token) < MIN_TOKEN_CHARS or not token.isprintable() or not token.isascii():
        raise InvalidArgument(
            f"{origin}: the token must be at least {MIN_TOKEN_CHARS} printable ASCII characters; "
            "make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return token


Tokens = dict[str, str]  # the token -> the name of the user who holds it ('' for the unnamed one)
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-")


def load_tokens(tokens_file: Path) -> Tokens:
    """The named tokens of `tokens_file`: one `NAME TOKEN` or `NAME:TOKEN` a line; blank lines and
    lines starting with # are skipped. Names are letters, digits and `._@-`; each name and each
    token appears once; tokens are 16+ printable ASCII characters.

    Raises InvalidArgument, naming the file and the line, for anything else.
    """
    origin = f"--tokens-file {tokens_file}"
    try:
        lines = tokens_file.expanduser().read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidArgument(f"{origin}: cannot read it ({err}); give a file of 'NAME TOKEN' lines") from None
    tokens: Tokens = {}
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, token = _split_entry(line)
        where = f"{origin} line {number}"
        if not name or not set(name) <= NAME_CHARS or not token:
            raise InvalidArgument(f"{where}: expected 'NAME TOKEN' or 'NAME:TOKEN' (a name of letters, digits and ._@-)")
        if not _usable(token):
            raise InvalidArgument(f"{where}: the token of {name!r} must be at least {MIN_TOKEN_CHARS} printable ASCII "
                                  "characters without spaces; make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'")
        if name in tokens.values():
            raise InvalidArgument(f"{where}: {name!r} is named twice; give each user one line")
        if token in tokens:
            raise InvalidArgument(f"{where}: {name!r} has the token of {tokens[token]!r}; give each user a token of their own")
        tokens[token] = name
    if not tokens:
        raise InvalidArgument(f"{origin}: it names no user; add 'NAME TOKEN' lines")
    return tokens


def _split_entry(line: str) -> tuple[str, str]:
    """`NAME TOKEN` or `NAME:TOKEN` as (name, token); whichever separator comes first counts."""
    cut = min((i for i in (line.find(" "), line.find("\t"), line.find(":")) if i >= 0), default=-1)
    if cut < 0:
        return line, ""
    return line[:cut].strip(), line[cut + 1:].strip()


def _usable(token: str) -> bool:
    return len(token) >= MIN_TOKEN_CHARS and token.isprintable() and token.isascii() and " " not in token


def as_tokens(token: str | Tokens | None) -> Tokens:
    """A single token (the unnamed user '') or named tokens, as `Tokens`; {} for none."""
    if token is None:
        return {}
    return {token: ""} if isinstance(token, str) else dict(token)


def is_loopback(host: str) -> bool:
    """True when `host` is a loopback address or `localhost` (reachable from this machine only)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def check_bind(host: str, token: str | Tokens | None) -> None:
    """Refuse (InvalidArgument) to listen on a non-loopback `host` without an access token."""
    if not is_loopback(host) and not token:
        raise InvalidArgument(
            f"--host {host} is reachable from other machines: give an access token with --token-file FILE "
            f"or ${TOKEN_ENV}, or bind 127.0.0.1"
        )


def token_matches(given: str | None, token: str) -> bool:
    """Constant-time comparison of `given` with the server's token."""
    return given is not None and hmac.compare_digest(given.encode("utf-8", "replace"), token.encode("utf-8"))


def user_of(given: str | None, tokens: Tokens) -> str | None:
    """The name of the user whose token `given` is, or None. Every token is compared (in
    constant time), so the time taken does not tell which one was near."""
    found = None
    for token, name in tokens.items():
        if token_matches(given, token):
            found = name
    return found


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error every failure returns: {"error": "one line"}."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def raw_error(status: int, message: str) -> bytes:
    """`error` as a whole HTTP/1.1 response that closes the connection, with the security headers:
    for the connection layer, which answers before (or without) a request reaching the app."""
    body = json.dumps({"error": message}).encode()
    reason = HTTPStatus(status).phrase
    headers = {**SECURITY_HEADERS, "Content-Type": "application/json", "Content-Length": str(len(body)), "Connection": "close"}
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return head.encode("latin-1") + b"\r\n" + body


class Guard:
    """ASGI middleware: request limits, host or token check, the call (an unexpected exception
    becomes a JSON 500), and the security headers on every response.

    At most `max_requests` requests are in the app at once (more get 503). A request's body (16 KB
    at most) is read before it takes one of those places, so a client sending a body slowly holds
    only its connection, which the server's read deadline ends (`search.web.connections`).
    A plain ASGI class rather than an `@app.middleware("http")` function: that wrapper runs each
    request in an extra task with memory streams, a cost paid on every search. It runs on the
    event loop's thread only, so the count needs no lock.
    """

    def __init__(self, app: ASGIApp, token: str | Tokens | None, max_requests: int = MAX_REQUESTS) -> None:
        self.app = app
        self.tokens = as_tokens(token)
        self.max_requests = max_requests
        self.in_progress = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal = _refuse(request, self.tokens)
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        if request.headers.get("content-length", "0") != "0":
            body = await _read_body(receive)
            if body is None:
                return  # the client left (or the server's read deadline ended the request)
            receive = _replay(body, receive)
        if self.in_progress >= self.max_requests:
            busy = error(503, f"the server is busy ({self.in_progress} requests in progress); retry shortly",
                         {"Retry-After": "1"})
            await busy(scope, receive, send_with_headers)
            return
        self.in_progress += 1
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as err:  # a bug: logged here, one line for the client
            log.exception("internal error on %s", scope.get("path"))
            if started:
                raise
            response = error(500, f"internal error ({type(err).__name__}); the server's log has the details")
            await response(scope, receive, send_with_headers)
        finally:
            self.in_progress -= 1


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when the client disconnects first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives `body` once, then waits on the real one (for a disconnect)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _refuse(request: Request, tokens: Tokens) -> Response | None:
    """The response that refuses `request`, or None to let it through (with `request.state.user`
    set: the token's user, or None on a server without tokens)."""
    request.state.user = None
    url_bytes = len(request.url.path.encode()) + len(request.url.query.encode())
    if url_bytes > MAX_URL_BYTES:
        return error(414, f"the address is {url_bytes} bytes; at most {MAX_URL_BYTES} are accepted")
    length = request.headers.get("content-length")
    if (length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES)) or "transfer-encoding" in request.headers:
        return error(413, f"request bodies over {MAX_BODY_BYTES} bytes are refused")
    if request.method not in SAFE_METHODS:
        refusal = check_write(request)
        if refusal is not None:
            return refusal
    if not tokens:
        host = _host_name(request.headers.get("host", ""))
        if host not in LOCAL_HOSTS:
            return error(403, f"host {host!r} is not this machine; open the page at http://127.0.0.1")
        return None
    query_token = request.query_params.get("token")
    if query_token is not None and not request.url.path.startswith("/api/"):
        # A browser's first visit: keep the token in a cookie and take it out of the address.
        if user_of(query_token, tokens) is None:
            return error(403, "wrong access token")
        rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
        redirect = RedirectResponse(request.url.path + (f"?{rest}" if rest else ""), status_code=303)
        redirect.set_cookie(COOKIE, query_token, httponly=True, samesite="strict", secure=request.url.scheme == "https")
        return redirect
    given = _bearer(request) or request.cookies.get(COOKIE)
    if given is None:
        return error(401, "this server needs an access token: send 'Authorization: Bearer TOKEN' or open /?token=TOKEN",
                     {"WWW-Authenticate": "Bearer"})
    user = user_of(given, tokens)
    if user is None:
        return error(403, "wrong access token")
    request.state.user = user
    return None


def check_write(request: Request) -> Response | None:
    """The refusal of a write request that another site's page sent, or whose body is not JSON;
    None to let it through (see the module docstring).

    A browser's own `Sec-Fetch-Site` verdict decides when it is sent. Without it (an older
    browser, or a client that is not one), an `Origin` must name this server's host and port;
    its scheme is not compared, because behind a TLS proxy the page is https and this server http.
    """
    fetch_site = request.headers.get("sec-fetch-site", "").lower()
    if fetch_site in ("cross-site", "same-site"):
        return error(403, f"a change from another site's page ({fetch_site}) is refused; use this server's own page or a non-browser client")
    origin = request.headers.get("origin")
    host = request.headers.get("host", "").lower()
    if fetch_site != "same-origin" and origin is not None and urlsplit(origin).netloc.lower() != host:
        return error(403, f"a change from the page at {origin!r} is refused; use this server's own page (http://{host})")
    has_body = request.headers.get("content-length", "0") != "0"
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if has_body and content_type != "application/json":
        return error(415, f"the body must be JSON (Content-Type: application/json), not {content_type or 'untyped'}")
    return None


def _host_name(header: str) -> str:
    """The host of a Host header, without its port: `[::1]:8765` -> `[::1]`."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[: header.find("]") + 1]
    return header.rsplit(":", 1)[0]


def _bearer(request: Request) -> str | None:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None
