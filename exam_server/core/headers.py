"""Security headers on every response the server sends.

Every page: no MIME sniffing, never framed by another site, no referrer to other hosts. Images and other
downloads a user supplied (bank media, a candidate's paper images, job files) also get a CSP that runs
nothing, so a file that smuggles markup past the upload checks still cannot run script in a reviewer's tab.
"""

from __future__ import annotations

from flask import Flask, Response

PAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
# Pages keep their own scripts and styles (all served by this server); what no page needs is being framed.
PAGE_CSP = "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
FILE_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


def _secure(response: Response) -> Response:
    for name, value in PAGE_HEADERS.items():
        response.headers.setdefault(name, value)
    mimetype = response.mimetype or ""
    inert = mimetype.startswith(("image/", "application/octet-stream", "application/pdf", "application/zip"))
    response.headers.setdefault("Content-Security-Policy", FILE_CSP if inert else PAGE_CSP)
    return response


def register_security_headers(app: Flask) -> None:
    app.after_request(_secure)
