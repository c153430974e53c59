"""Profile one page in process: `python scripts/profile_page.py /sessions/123 [--post 'outcome=ATTC&version=1']`.

Against DATABASE_URL (e.g. the bench dataset), signed in as PROFILE_USER (default tm.s01). Prints the SQL
statements the request ran (with their time) and, when pyinstrument is installed, its call tree; with --repeat N
the mean wall time of N requests after a warm-up. A tool for finding where a page's time goes, not a test."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DEMO_MODE", "true")  # a local run: a development SECRET_KEY will do

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def sign_in(app, client, username: str) -> None:  # type: ignore[no-untyped-def]
    """As Flask-Login keeps a signed-in person (`id:session_version`), without the HMPPS Auth round trip."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import User

    with app.app_context():
        user = db.session.scalar(select(User).filter_by(username=username))
        if user is None:
            raise SystemExit(f"no user {username!r} in this database")
        key = f"{user.id}:{user.session_version}"
    with client.session_transaction() as kept:
        kept.update({"_user_id": key, "_fresh": True, "signed_in_at": int(time.time()),
                     "last_seen": int(time.time())})


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--post", help="form body: the request is an HTMX POST")
    parser.add_argument("--taps", help="a bench taps file (path<TAB>body lines): each request takes the next line")
    parser.add_argument("--skip", type=int, default=0, help="start that many lines into --taps")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each SELECT (PostgreSQL)")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--wsgi", action="store_true",
                        help="time the app alone (its WSGI callable with the signed-in cookie), without the test "
                             "client's own cost (about 0.8 ms a request); GET only")
    args = parser.parse_args()

    if "NDELIUS_URL" not in os.environ:  # the LAO checks and sign-in need them, as under `make bench`
        from tests.fakes.hmpps_auth import start_fake_hmpps_auth
        from tests.fakes.ndelius import start_fake_ndelius

        auth = start_fake_hmpps_auth()
        os.environ.update(HMPPS_AUTH_URL=auth.url, NDELIUS_URL=start_fake_ndelius(hmpps_auth_url=auth.url).url)
    from sqlalchemy import event, text

    from app import create_app
    from app.extensions import db

    app = create_app({"WTF_CSRF_ENABLED": False})
    client = app.test_client()
    user = os.environ.get("PROFILE_USER", "tm.s01")
    sign_in(app, client, user)
    headers = {"HX-Request": "true"} if args.post or args.taps else {}
    taps = iter(Path(args.taps).read_text().splitlines()[args.skip:]) if args.taps else None

    def fetch():  # type: ignore[no-untyped-def]
        if taps is not None:
            path, body = next(taps).split("\t")
            response = client.post(path, data=body, headers=headers, content_type="application/x-www-form-urlencoded")
            assert response.status_code == 200, (response.status_code, path, body)
            return response
        if args.post:
            return client.post(args.path, data=args.post, headers=headers,
                               content_type="application/x-www-form-urlencoded")
        return client.get(args.path, headers=headers)

    first = fetch()
    print(f"status {first.status_code}, {len(first.data):,} bytes", file=sys.stderr)
    if args.wsgi and not (args.post or args.taps):
        from werkzeug.test import EnvironBuilder

        cookie = client.get_cookie("session")
        cookie_header = f"session={cookie.value}" if cookie is not None else ""

        def fetch():  # type: ignore[no-untyped-def]  # the app alone: what a server process runs for the request
            environ = EnvironBuilder(path=args.path, headers={"Cookie": cookie_header}).get_environ()
            statuses: list[str] = []
            body = app.wsgi_app(environ, lambda status, headers, *_: statuses.append(status))
            try:
                b"".join(body)
            finally:
                getattr(body, "close", lambda: None)()
            return statuses[0]
    statements: list[tuple[str, object, float]] = []

    with app.app_context():
        engine = db.engine

    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        context._started = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append((statement, parameters, (time.perf_counter() - context._started) * 1000))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    fetch()
    event.remove(engine, "before_cursor_execute", before)
    event.remove(engine, "after_cursor_execute", after)
    print(f"{len(statements)} statements, {sum(s[2] for s in statements):.1f} ms in the database driver")
    for statement, parameters, ms in statements:
        print(f"  {ms:6.2f} ms  {' '.join(statement.split())[:160]}")
    if args.explain and engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            for statement, parameters, _ in statements:
                if statement.lstrip().upper().startswith("SELECT"):
                    plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).all()
                    print("\n".join(row[0] for row in plan[-3:]), "\n")
            conn.execute(text("ROLLBACK"))

    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(args.repeat):
        fetch()
    print(f"mean {(time.perf_counter() - started) / args.repeat * 1000:.2f} ms over {args.repeat} requests, "
          f"{(time.process_time() - cpu) / args.repeat * 1000:.2f} ms of it on this process's CPU "
          f"(load average {os.getloadavg()[0]:.1f})")
    if not args.no_profile:
        try:
            from pyinstrument import Profiler
        except ImportError:
            print("(pip install pyinstrument for the call tree)")
            return 0
        profiler = Profiler(interval=0.0002)
        profiler.start()
        for _ in range(args.repeat):
            fetch()
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
