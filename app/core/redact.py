"""Secrets out of error text: an exception's words often quote the URL it failed on,
and a Teams webhook's (or a SharePoint link's) query string is its password (`sig=`).

`redact` is the one function every error passes through before it is stored where a
page shows it (a delivery's last_error, a contacts sync's error) or is logged.
"""

from __future__ import annotations

import re

HIDDEN = "[redacted]"

# Parameter names that carry a secret, wherever they appear (a URL, a form body, a log).
SECRET_NAMES = ("sig", "signature", "token", "access_token", "refresh_token", "id_token",
                "code", "key", "api_key", "apikey", "api-key", "subscription-key",
                "client_secret", "secret", "password", "passwd", "pwd")

# user:password@ (or token@) after a scheme: https://user:pass@host/...
_USERINFO = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)[^/\s@?#'\"<>]+@", re.IGNORECASE)
# A query string: "?" straight after a URL or a path, followed by name=value pairs.
_QUERY = re.compile(r"(?<=[^\s?])\?[\w.~%-]+=[^\s'\"<>)\]]*")
_NAMES = "|".join(re.escape(n) for n in sorted(SECRET_NAMES, key=len, reverse=True))
# name=value for the names above, anywhere (a form body, a path's query in a message).
_NAMED = re.compile(r"(?P<name>(?<![\w-])(?:" + _NAMES + r"))(?P<sep>=)"
                    r"(?!\[redacted\])[^\s&'\",;)\]}]+", re.IGNORECASE)
# "name": "value" in JSON quoted in an error.
_JSON = re.compile(r"(?P<name>[\"'](?:" + _NAMES + r")[\"'])(?P<sep>\s*:\s*)[\"'][^\"']*[\"']",
                   re.IGNORECASE)
_BEARER = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)


def redact(text: object) -> str | None:
    """`text` with URLs' query strings and userinfo, bearer tokens and secret-named
    parameters replaced by [redacted]; None stays None. Idempotent."""
    if text is None:
        return None
    words = str(text)
    words = _USERINFO.sub(lambda m: f"{m['scheme']}{HIDDEN}@", words)
    words = _QUERY.sub(f"?{HIDDEN}", words)
    words = _BEARER.sub(lambda m: f"{m[1]} {HIDDEN}", words)
    words = _JSON.sub(lambda m: f'{m["name"]}{m["sep"]}"{HIDDEN}"', words)
    return _NAMED.sub(lambda m: f"{m['name']}{m['sep']}{HIDDEN}", words)
