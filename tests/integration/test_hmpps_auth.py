"""The fake HMPPS Auth over the wire (issue 13.2), the token verifier and bearer helper other services' calls
go through, and the nDelius client taking its client-credentials token from HMPPS Auth."""
from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import date

import pytest
import requests
from flask import g

from app.integrations.hmpps_auth import TokenExpired, TokenInvalid, TokenVerifier, service_token
from app.models.user import AUTHORITY_PREFIX
from tests.fakes.hmpps_auth import start_fake_hmpps_auth

UI = ("programme-delivery-ui", "local-ui-secret")
SYSTEM = ("programme-delivery", "local-secret")


@pytest.fixture(scope="module")
def auth():  # type: ignore[no-untyped-def]
    fake = start_fake_hmpps_auth()
    yield fake
    fake.stop()


@pytest.fixture
def fake(auth):  # type: ignore[no-untyped-def]
    auth.reset()
    auth.add_user("tm.nw", "Terry Walker", [AUTHORITY_PREFIX + "TREATMENT_MANAGER"])
    return auth


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _code(fake, challenge: str, redirect_uri: str = "http://app.test/cb", username: str = "tm.nw") -> str:  # type: ignore[no-untyped-def]
    answer = requests.post(fake.url + "/oauth/authorize", params={
        "response_type": "code", "client_id": UI[0], "redirect_uri": redirect_uri, "state": "s1",
        "code_challenge": challenge, "code_challenge_method": "S256"}, data={"username": username},
        allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(redirect_uri + "?") and "state=s1" in location
    return location.split("code=")[1].split("&")[0]


def _exchange(fake, code: str, verifier: str, auth=UI, redirect_uri: str = "http://app.test/cb"):  # type: ignore[no-untyped-def]
    return requests.post(fake.url + "/oauth/token", auth=auth, timeout=5, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier})


def test_the_code_flow_gives_a_signed_token_with_the_hmpps_claims(fake):  # type: ignore[no-untyped-def]
    verifier, challenge = _pkce()
    answer = _exchange(fake, _code(fake, challenge), verifier)
    assert answer.status_code == 200 and answer.json()["token_type"] == "bearer"
    claims = TokenVerifier(fake.url).verify(answer.json()["access_token"])
    assert claims["user_name"] == "tm.nw" and claims["auth_source"] == "delius"
    assert claims["authorities"] == [AUTHORITY_PREFIX + "TREATMENT_MANAGER"]
    assert claims["client_id"] == UI[0] and claims["exp"] > claims["iat"]
    me = requests.get(fake.url + "/api/user/me", headers={"Authorization": f"Bearer {answer.json()['access_token']}"},
                      timeout=5)
    assert me.status_code == 200 and me.json()["name"] == "Terry Walker" and me.json()["active"] is True


def test_a_replayed_code_is_refused_and_withdraws_the_first_token(fake):  # type: ignore[no-untyped-def]
    verifier, challenge = _pkce()
    code = _code(fake, challenge)
    first = _exchange(fake, code, verifier).json()["access_token"]
    again = _exchange(fake, code, verifier)
    assert again.status_code == 400 and again.json() == {
        "error": "invalid_grant", "error_description": "Authorization code has already been used"}
    me = requests.get(fake.url + "/api/user/me", headers={"Authorization": f"Bearer {first}"}, timeout=5)
    assert me.status_code == 401


def test_pkce_and_redirect_uri_must_match(fake):  # type: ignore[no-untyped-def]
    verifier, challenge = _pkce()
    wrong_verifier = _exchange(fake, _code(fake, challenge), "not-the-verifier")
    assert wrong_verifier.status_code == 400 and wrong_verifier.json()["error_description"] == "PKCE verification failed"
    wrong_uri = _exchange(fake, _code(fake, challenge), verifier, redirect_uri="http://elsewhere.test/cb")
    assert wrong_uri.status_code == 400 and wrong_uri.json()["error_description"] == "Redirect URI mismatch"
    no_pkce = requests.get(fake.url + "/oauth/authorize", params={
        "response_type": "code", "client_id": UI[0], "redirect_uri": "http://app.test/cb", "state": "s"}, timeout=5)
    assert no_pkce.status_code == 400 and "PKCE is required" in no_pkce.text


def test_a_refused_client_gets_invalid_client(fake):  # type: ignore[no-untyped-def]
    verifier, challenge = _pkce()
    wrong = _exchange(fake, _code(fake, challenge), verifier, auth=(UI[0], "wrong"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    unknown = requests.post(fake.url + "/oauth/token", auth=("nobody", "x"), data={"grant_type": "client_credentials"},
                            timeout=5)
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_client"
    ui_cannot = requests.post(fake.url + "/oauth/token", auth=UI, data={"grant_type": "client_credentials"}, timeout=5)
    assert ui_cannot.status_code == 400 and ui_cannot.json()["error"] == "unauthorized_client"


def test_client_credentials_tokens_carry_the_clients_roles(fake):  # type: ignore[no-untyped-def]
    fake.add_client("event-reader", "s3cret", grant_types=["client_credentials"], authorities=["ROLE_READ_EVENTS"])
    answer = requests.post(fake.url + "/oauth/token", auth=("event-reader", "s3cret"),
                           data={"grant_type": "client_credentials"}, timeout=5)
    claims = TokenVerifier(fake.url).verify(answer.json()["access_token"])
    assert claims["sub"] == "event-reader" and claims["auth_source"] == "none"
    assert claims["authorities"] == ["ROLE_READ_EVENTS"] and "user_name" not in claims


def test_expired_tampered_and_foreign_tokens_are_refused(fake):  # type: ignore[no-untyped-def]
    verifier = TokenVerifier(fake.url)
    with pytest.raises(TokenExpired):
        verifier.verify(fake.issue({"sub": "x"}, expires_in=-60))
    fake.set(tamper_next=1)
    with pytest.raises(TokenInvalid):
        verifier.verify(fake.issue({"sub": "x", "authorities": []}, expires_in=60))
    other = start_fake_hmpps_auth()
    try:
        with pytest.raises(TokenInvalid):
            verifier.verify(other.issue({"sub": "x"}, expires_in=60))
    finally:
        other.stop()
    with pytest.raises(TokenInvalid):
        verifier.verify("not.a-token")


def test_sign_out_ends_the_fakes_own_session(fake):  # type: ignore[no-untyped-def]
    browser = requests.Session()
    _, challenge = _pkce()
    query = {"response_type": "code", "client_id": UI[0], "redirect_uri": "http://app.test/cb", "state": "s",
             "code_challenge": challenge, "code_challenge_method": "S256"}
    browser.post(fake.url + "/oauth/authorize", params=query, data={"username": "tm.nw"}, allow_redirects=False)
    assert fake.state()["signed_in"] == ["tm.nw"]
    out = browser.get(fake.url + "/sign-out", params={"client_id": UI[0], "redirect_uri": "http://app.test/"},
                      allow_redirects=False)
    assert out.status_code == 302 and out.headers["Location"] == "http://app.test/"
    assert fake.state()["signed_in"] == []


# the bearer helper for endpoints other services call ----------------------------------------------------------


def test_bearer_roles_lets_in_only_a_valid_token_with_the_role(app):  # type: ignore[no-untyped-def]
    from app import create_app
    from app.web.auth.bearer import bearer_roles

    api = create_app({k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "RQ_QUEUE")})

    @bearer_roles("ROLE_READ_EVENTS")
    def detail():  # type: ignore[no-untyped-def]
        return {"client": g.bearer_claims["sub"]}

    api.add_url_rule("/__detail", "detail", detail, methods=["GET", "POST"])
    requests.post(app.config["HMPPS_AUTH_URL"] + "/__clients", timeout=5, json={"clients": [
        {"client_id": "reader", "client_secret": "s", "grant_types": ["client_credentials"],
         "authorities": ["ROLE_READ_EVENTS"]},
        {"client_id": "other", "client_secret": "s", "grant_types": ["client_credentials"], "authorities": []}]})

    def token(client: str) -> str:
        return str(requests.post(app.config["HMPPS_AUTH_URL"] + "/oauth/token", auth=(client, "s"), timeout=5,
                                 data={"grant_type": "client_credentials"}).json()["access_token"])

    web = api.test_client()
    allowed = web.get("/__detail", headers={"Authorization": f"Bearer {token('reader')}"})
    assert allowed.status_code == 200 and allowed.json == {"client": "reader"}
    assert web.post("/__detail", headers={"Authorization": f"Bearer {token('reader')}"}).status_code == 200  # no CSRF
    assert web.get("/__detail", headers={"Authorization": f"Bearer {token('other')}"}).status_code == 403
    missing = web.get("/__detail")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    forged = token("reader")[:-4] + "AAAA"
    assert web.get("/__detail", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


# the nDelius client's token ------------------------------------------------------------------------------------


def test_the_ndelius_relay_and_the_teams_read_take_their_token_from_hmpps_auth(app):  # type: ignore[no-untyped-def]
    from app.services.ndelius_sync import client_from_config

    client = client_from_config(app.config)
    assert client.token_url == app.config["HMPPS_AUTH_URL"] + "/oauth/token"
    assert client.search([1], [], date(2026, 3, 1), date(2026, 3, 2)) == []  # the fake nDelius took the JWT
    answer = service_token().get(app.config["NDELIUS_URL"] + "/user/nobody/teams")
    assert answer.status_code == 404
