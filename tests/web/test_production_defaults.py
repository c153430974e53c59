"""Production-safe defaults (issue 13.3): no start without SECRET_KEY outside demo mode, no proxy trusted unless
configured, /health up or down for anyone (its components for admins), /health/ping and /info."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from app import MISSING_SECRET_KEY, SETTINGS_EXIT_STATUS, create_app
from app.config import Config

ROOT = Path(__file__).resolve().parents[2]


def _production_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEMO_MODE")}


def test_outside_demo_mode_the_web_app_refuses_to_start_without_secret_key_in_one_line():  # type: ignore[no-untyped-def]
    env = {**_production_env(), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == SETTINGS_EXIT_STATUS == 3
    assert done.stderr.strip().splitlines() == [MISSING_SECRET_KEY]
    assert MISSING_SECRET_KEY.startswith("error: SECRET_KEY is not set")


def test_every_process_refuses_alike_and_demo_mode_or_a_key_lets_it_start(app, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    """Web, worker, scheduler, listener and `flask` commands all build the app through create_app."""
    overrides = {k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "RQ_QUEUE")}
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DEMO_MODE", raising=False)
    with pytest.raises(SystemExit) as refused:
        create_app(overrides)
    assert refused.value.code == 3
    assert capsys.readouterr().err.strip() == MISSING_SECRET_KEY

    assert create_app({**overrides, "SECRET_KEY": "a-real-secret"}).config["SECRET_KEY"] == "a-real-secret"
    monkeypatch.setenv("DEMO_MODE", "true")
    assert create_app(overrides).config["SECRET_KEY"] == "dev-only-not-secret"


def test_no_proxy_is_trusted_by_default(app, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.delenv("PROXY_HOPS", raising=False)
    assert Config().PROXY_HOPS == 0
    # Forwarded headers from a client cannot change where HMPPS Auth sends the code back to.
    start = app.test_client().get("/login/hmpps-auth", headers={
        "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
    assert start.status_code == 302
    redirect_uri = parse_qs(urlsplit(start.headers["Location"]).query)["redirect_uri"][0]
    assert redirect_uri == "http://localhost/login/callback"


def test_with_proxy_hops_the_proxy_s_forwarded_host_and_scheme_are_used(app):  # type: ignore[no-untyped-def]
    behind = create_app({**{k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "RQ_QUEUE")},
                         "TESTING": True, "PROXY_HOPS": 1})
    start = behind.test_client().get("/login/hmpps-auth", headers={
        "X-Forwarded-Host": "programme-delivery.example", "X-Forwarded-Proto": "https"})
    redirect_uri = parse_qs(urlsplit(start.headers["Location"]).query)["redirect_uri"][0]
    assert redirect_uri == "https://programme-delivery.example/login/callback"


def test_health_tells_anyone_only_up_and_admins_each_component(browser, world):  # type: ignore[no-untyped-def]
    region = world.region("NW", "North West")
    world.user(region, "admin", "admin")
    world.user(region, "treatment_manager", "tm.nw")

    anonymous = browser.get("/health")
    assert (anonymous.status_code, json.loads(anonymous.data)) == (200, {"status": "UP"})

    browser.sign_in("tm.nw")
    assert json.loads(browser.get("/health").data) == {"status": "UP"}
    browser.post("/logout")

    browser.sign_in("admin")
    body = json.loads(browser.get("/health").data)
    assert body["status"] == "UP"
    assert body["components"]["db"] == {"status": "UP", "details": {"database": browser.app.config["BACKEND"]}}
    assert body["components"]["redis"] == {"status": "UP"}
    assert body["components"]["worker"]["details"]["queued"] == 0


def test_health_is_down_with_503_when_redis_does_not_answer(app):  # type: ignore[no-untyped-def]
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    broken = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "TESTING": True,
                         "REDIS_URL": f"redis://127.0.0.1:{closed}/0", "RQ_QUEUE": app.config["RQ_QUEUE"]})
    response = broken.test_client().get("/health")
    assert (response.status_code, json.loads(response.data)) == (503, {"status": "DOWN"})


def test_ping_answers_up_and_info_says_which_version_and_commit(app):  # type: ignore[no-untyped-def]
    client = app.test_client()
    ping = client.get("/health/ping")
    assert (ping.status_code, json.loads(ping.data)) == (200, {"status": "UP"})

    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()
    info = json.loads(client.get("/info").data)
    assert info == {"build": {"name": "programme-delivery", "version": "0.1.0"}, "git": {"commit": {"id": head}}}
    assert re.fullmatch(r"[0-9a-f]{40}", head)

    deployed = create_app({**{k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "RQ_QUEUE")},
                           "TESTING": True, "BUILD_VERSION": "2026-12-02.77.ab12cd3", "GIT_REF": "ab12cd3ef"})
    assert json.loads(deployed.test_client().get("/info").data) == {
        "build": {"name": "programme-delivery", "version": "2026-12-02.77.ab12cd3"},
        "git": {"commit": {"id": "ab12cd3ef"}}}
