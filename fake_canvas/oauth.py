"""OAuth2 (docs/canvas.md, "Authentication"): a sign-in page, the code and refresh grants, and revocation."""

from __future__ import annotations

import html
import secrets
from typing import Any
from urllib.parse import urlencode

from .base import Ctx, FakeBase, Reply, ok
from .util import ApiError

TOKEN_LIFETIME = 3600
CODE_LIFETIME = 600

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Log In to Canvas (fake)</title>
<style>body{{font-family:sans-serif;max-width:24rem;margin:4rem auto}}label{{display:block;
margin:.8rem 0 .2rem}}input{{width:100%;padding:.4rem}}.error{{color:#b00}}
button{{margin-top:1rem;padding:.5rem 1rem}}</style></head>
<body><h1>Riverside Unified Canvas</h1>
<p>Sign in to let <strong>{client}</strong> use your Canvas account. (This is the bundled
fake Canvas; every demo user's password is <code>canvas-demo</code>.)</p>
{error}
<form method="post" action="/login/oauth2/auth">
{hidden}
<label for="login">Login</label><input id="login" name="login" value="{login}"
 autocomplete="username" autofocus>
<label for="password">Password</label><input id="password" name="password" type="password"
 autocomplete="current-password">
<button type="submit" name="authorize" value="1">Log In and Authorize</button>
<button type="submit" name="cancel" value="1">Cancel</button>
</form></body></html>
"""


def _redirect(uri: str, params: dict[str, str]) -> Reply:
    sep = "&" if "?" in uri else "?"
    return Reply(302, b"", [("Location", uri + sep + urlencode(params))], "text/plain")


class OAuth(FakeBase):
    oauth_client_id: str | None
    oauth_client_secret: str | None

    def _oauth_error(self, status: int, error: str, description: str) -> ApiError:
        return ApiError(status, {"error": error, "error_description": description})

    def _check_client(self, ctx: Ctx) -> None:
        if not self.oauth_client_id or ctx.params.get("client_id") != self.oauth_client_id:
            raise self._oauth_error(400, "invalid_client", "unknown client")

    def _page(self, ctx: Ctx, error: str = "", status: int = 200) -> Reply:
        keep = ("client_id", "response_type", "redirect_uri", "state", "scope", "purpose")
        hidden = "\n".join(
            f'<input type="hidden" name="{k}" value="{html.escape(str(ctx.params.get(k)))}">'
            for k in keep
            if ctx.params.get(k) is not None
        )
        body = PAGE.format(
            client=html.escape(str(ctx.params.get("purpose") or "Mentor Link")),
            error=f'<p class="error" role="alert">{html.escape(error)}</p>' if error else "",
            hidden=hidden,
            login=html.escape(str(ctx.params.get("login") or ctx.params.get("unique_id") or "")),
        )
        return Reply(status, body.encode(), [], "text/html; charset=utf-8")

    def oauth_auth_page(self, ctx: Ctx) -> Reply:
        self._check_client(ctx)
        if not ctx.params.get("redirect_uri"):
            raise self._oauth_error(400, "invalid_request", "redirect_uri is required")
        if ctx.params.get("response_type") != "code":
            return _redirect(
                str(ctx.params.get("redirect_uri")),
                {"error": "unsupported_response_type", "state": str(ctx.params.get("state") or "")},
            )
        return self._page(ctx)

    def oauth_auth_submit(self, ctx: Ctx) -> Reply:
        self._check_client(ctx)
        redirect_uri = str(ctx.params.get("redirect_uri") or "")
        if not redirect_uri:
            raise self._oauth_error(400, "invalid_request", "redirect_uri is required")
        state_param = ctx.params.get("state")
        extra = {"state": str(state_param)} if state_param is not None else {}
        if ctx.params.get("cancel"):
            return _redirect(redirect_uri, {"error": "access_denied", **extra})
        login = str(ctx.params.get("login") or "").strip().lower()
        uid = self.state.by_login.get(login)
        user = self.state.users.get(uid) if uid is not None else None
        if user is None or not user.get("password") or user["password"] != ctx.params.get("password"):
            return self._page(ctx, "Invalid username or password.", status=400)
        code = secrets.token_urlsafe(24)
        self.state.oauth_codes[code] = {
            "user_id": user["id"],
            "redirect_uri": redirect_uri,
            "expires_at": self.clock() + CODE_LIFETIME,
            "scope": ctx.params.get("scope"),
        }
        return _redirect(redirect_uri, {"code": code, **extra})

    def _issue(self, user: dict[str, Any], record: dict[str, Any], refresh: bool) -> Reply:
        body: dict[str, Any] = {
            "access_token": record["access_token"],
            "token_type": "Bearer",
            "user": {
                "id": user["id"],
                "name": user["name"],
                "global_id": str(10000000000000 + user["id"]),
                "effective_locale": "en",
            },
            "expires_in": TOKEN_LIFETIME,
            "canvas_region": "us-east-1",
        }
        if refresh:
            body["refresh_token"] = record["refresh_token"]
        return ok(body, [("Cache-Control", "no-store")])

    def oauth_token(self, ctx: Ctx) -> Reply:
        p = ctx.params
        if (
            not self.oauth_client_id
            or p.get("client_id") != self.oauth_client_id
            or p.get("client_secret") != self.oauth_client_secret
        ):
            raise self._oauth_error(401, "invalid_client", "invalid client")
        s = self.state
        now = self.clock()
        grant = p.get("grant_type")
        if grant == "authorization_code":
            code = s.oauth_codes.pop(str(p.get("code") or ""), None)
            if code is None or code["expires_at"] <= now:
                raise self._oauth_error(400, "invalid_grant", "authorization_code not found")
            if p.get("redirect_uri") != code["redirect_uri"]:
                raise self._oauth_error(400, "invalid_grant", "redirect_uri does not match")
            access = secrets.token_urlsafe(32)
            record = {
                "access_token": access,
                "user_id": code["user_id"],
                "kind": "oauth",
                "state": "active",
                "expires_at": now + TOKEN_LIFETIME,
                "refresh_token": secrets.token_urlsafe(32),
            }
            s.tokens[access] = record
            return self._issue(s.users[code["user_id"]], record, refresh=True)
        if grant == "refresh_token":
            wanted = str(p.get("refresh_token") or "")
            found = next(
                (
                    t
                    for t in s.tokens.values()
                    if wanted and t.get("refresh_token") == wanted and t["state"] == "active"
                ),
                None,
            )
            if found is None:
                # Canvas says invalid_request here, not invalid_grant (docs/canvas-rules.md, section 5).
                raise self._oauth_error(400, "invalid_request", "refresh_token not found")
            # Canvas regenerates the access token on the same record; the old string stops working.
            s.tokens.pop(found["access_token"], None)
            found["access_token"] = secrets.token_urlsafe(32)
            found["expires_at"] = now + TOKEN_LIFETIME
            s.tokens[found["access_token"]] = found
            return self._issue(s.users[found["user_id"]], found, refresh=False)
        raise self._oauth_error(400, "unsupported_grant_type", "The grant_type you requested is not supported.")

    def oauth_revoke(self, ctx: Ctx) -> Reply:
        record = self.state.tokens.get(ctx.token or "")
        if record is not None:
            record["state"] = "revoked"
        return ok({})
