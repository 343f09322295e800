"""The page a browser sees when signing in fails: the provider refused, the link was old or replayed, the
provider could not be reached. A person followed a redirect to get there, so a JSON error body would be a dead
end; the page says what went wrong in words and offers to sign in again. Scripts and API clients (which do not
ask for HTML) keep the JSON error."""

from __future__ import annotations

from html import escape

from fastapi import Request
from fastapi.responses import HTMLResponse

from strix_contracts.errors import StrixError

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign-in failed · Strix</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }}
main {{ max-width: 34rem; margin: 12vh auto; padding: 2rem; background: #fff; border-radius: 8px;
        box-shadow: 0 1px 4px rgba(0, 0, 0, .12); }}
h1 {{ font-size: 1.4rem; margin-top: 0; }}
p.reason {{ background: #fdf1f0; border-left: 4px solid #c0392b; padding: .6rem .8rem; }}
a.button {{ display: inline-block; margin-right: 1rem; padding: .5rem 1rem; border-radius: 4px;
            background: #2458c6; color: #fff; text-decoration: none; }}
a:focus-visible {{ outline: 3px solid #f0b429; outline-offset: 2px; }}
small {{ color: #5b6474; }}
</style>
</head>
<body>
<main>
<h1>Sign-in failed</h1>
<p class="reason" role="alert">{message}</p>
<p>{advice}</p>
<p><a class="button" href="/auth/login?return_to=%2F">Sign in again</a> <a href="/">Back to Strix</a></p>
<p><small>Error {code} ({status}){request}</small></p>
</main>
</body>
</html>
"""

_ADVICE = {
    401: "Sign-in links are good for one use and a few minutes: start again from the sign-in button.",
    502: "The sign-in provider did not answer as expected. Try again in a moment; if it keeps failing, tell your "
    "administrator.",
    503: "The sign-in service is not available right now. Try again in a moment.",
}


def wants_html(request: Request) -> bool:
    """A browser navigating (its Accept names text/html), not a script asking for JSON."""
    return "text/html" in request.headers.get("accept", "")


def signin_failed_page(exc: StrixError) -> HTMLResponse:
    """The error as a page: its message (escaped: a provider's error_description is the visitor's input), what
    to do, and its code and request id for a report."""
    request = f", request id {escape(exc.request_id)}" if exc.request_id else ""
    page = _PAGE.format(
        message=escape(exc.message),
        advice=escape(_ADVICE.get(exc.status, "Try signing in again.")),
        code=escape(exc.code),
        status=exc.status,
        request=request,
    )
    return HTMLResponse(page, status_code=exc.status, headers={"Cache-Control": "no-store"})
