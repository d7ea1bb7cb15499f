"""A real third-party OAuth 2.0 client library (Authlib, from PyPI) against a running
wirecash-auth: client_credentials and password grants, a refresh_token grant, token
revocation and introspection, with both client authentication methods. Every check
raises on failure; the last line printed is a JSON summary the Rust test reads.

usage: authlib_flow.py BASE_URL ENV USERNAME PASSWORD INTROSPECTOR_ID INTROSPECTOR_SECRET
"""

import json
import sys

import requests

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def main():
    base, env, user, password, intro_id, intro_secret = sys.argv[1:7]
    issuer = f"{base}/{env}"
    meta = requests.get(f"{issuer}/.well-known/oauth-authorization-server", timeout=10).json()
    check(meta["issuer"] == issuer, f"issuer {meta['issuer']!r}")
    token_url = meta["token_endpoint"]
    revoke_url = meta["revocation_endpoint"]
    introspect_url = meta["introspection_endpoint"]
    summary = {}

    # client_credentials, HTTP Basic (Authlib's default client_secret_basic).
    cc = OAuth2Session(client_id=user, client_secret=password)
    t = cc.fetch_token(token_url, grant_type="client_credentials")
    check(t["token_type"].lower() == "bearer", f"token_type {t['token_type']!r}")
    check("refresh_token" not in t, "client_credentials must not return a refresh token")
    check(t["expires_in"] > 0, "expires_in")
    summary["client_credentials_basic"] = True

    # client_credentials, credentials in the form (client_secret_post).
    post = OAuth2Session(
        client_id=user, client_secret=password, token_endpoint_auth_method="client_secret_post"
    )
    t = post.fetch_token(token_url, grant_type="client_credentials")
    check("access_token" in t, "client_secret_post token")
    summary["client_credentials_post"] = True

    # Wrong secret: an OAuthError with invalid_client.
    try:
        OAuth2Session(client_id=user, client_secret=password + "x").fetch_token(
            token_url, grant_type="client_credentials"
        )
        raise AssertionError("a wrong client secret was accepted")
    except OAuthError as e:
        check(e.error == "invalid_client", f"wrong secret gave {e.error!r}")
    summary["wrong_secret_invalid_client"] = True

    # password grant, then refresh_token grant: rotation.
    s = OAuth2Session(client_id=user, client_secret=password)
    t0 = s.fetch_token(token_url, grant_type="password", username=user, password=password)
    check("refresh_token" in t0, "password grant returns a refresh token")
    t1 = s.refresh_token(token_url, refresh_token=t0["refresh_token"])
    check(t1["refresh_token"] != t0["refresh_token"], "the refresh token rotates")
    check(t1["access_token"] != t0["access_token"], "a new access token")
    summary["password_and_refresh"] = True

    # The session's token is what Authlib sends as a bearer token: check it by
    # introspection (RFC 7662) with a resource server's credentials.
    rs = OAuth2Session(client_id=intro_id, client_secret=intro_secret)
    info = rs.introspect_token(introspect_url, token=t1["access_token"]).json()
    check(info["active"] is True, f"introspection: {info}")
    check(info["username"] == user, f"introspected username {info.get('username')!r}")
    summary["introspect_active"] = True

    # Revoke the refresh token (RFC 7009): the session ends, refresh fails, and the
    # access token is no longer active.
    r = s.revoke_token(revoke_url, token=t1["refresh_token"], token_type_hint="refresh_token")
    check(r.status_code == 200, f"revoke answered {r.status_code}")
    try:
        s.refresh_token(token_url, refresh_token=t1["refresh_token"])
        raise AssertionError("a revoked refresh token still refreshed")
    except OAuthError as e:
        check(e.error == "invalid_grant", f"refresh after revoke gave {e.error!r}")
    info = rs.introspect_token(introspect_url, token=t1["access_token"]).json()
    check(info == {"active": False}, f"introspection after revoke: {info}")
    summary["revoke"] = True

    print(json.dumps(summary))


if __name__ == "__main__":
    main()
