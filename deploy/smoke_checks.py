"""The checks of deploy/smoke.sh, against a running layout: everything through the proxy.

Runs with qtrack's own virtualenv (httpx). Exits non-zero, naming the check, on the first
failure.
"""

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

received: list[dict[str, Any]] = []
STARTED = time.monotonic()


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver: keeps each delivery's headers and body, answers 200."""

    def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        received.append({"headers": dict(self.headers), "body": json.loads(body or b"{}")})
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


def check(what: str, ok: bool, detail: object = "") -> None:
    if not ok:
        print(f"smoke: check failed: {what} {detail}", file=sys.stderr)
        sys.exit(1)
    print(f"smoke: ok: {what} (+{time.monotonic() - STARTED:.1f} s)")


def wait_for(what: str, probe: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if probe():
                print(f"smoke: ok: {what} (+{time.monotonic() - STARTED:.1f} s)")
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    check(what, False, f"(not within {timeout_s:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--proxy", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--apps", required=True)
    parser.add_argument("--logs", required=True)
    parser.add_argument("--password", required=True)
    args = parser.parse_args()
    apps = [int(p) for p in args.apps.split(",")]

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook_url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"

    for port in apps:
        wait_for(
            f"app server :{port} is up",
            lambda port=port: httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200,
            40,
        )

    with httpx.Client(base_url=args.proxy, verify=args.ca, timeout=10) as web:
        # Ready: database migrated, Redis up, a job runner (the worker) alive.
        def ready() -> bool:
            response = web.get("/readyz")
            return response.status_code == 200 and response.json()["status"] == "ok"

        wait_for("/readyz through the proxy is ok", ready, 30)
        readyz = web.get("/readyz").json()["checks"]
        check("readyz sees the worker", readyz["job_queue"]["workers"] == 1, readyz)

        page = web.get("/login")
        check("the login page over TLS", page.status_code == 200, page.status_code)
        check(
            "HSTS from an https public URL",
            "max-age" in page.headers.get("strict-transport-security", ""),
            dict(page.headers),
        )
        check("the request id comes back", len(page.headers.get("x-request-id", "")) >= 16)

        login = web.post("/api/v1/auth/login", json={"username": "admin", "password": args.password})
        check("login", login.status_code == 200, login.text)
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}

        hook = web.post(
            "/api/v1/webhooks", json={"url": hook_url, "event_types": ["*"]}, headers=auth
        )
        check("a webhook endpoint registered", hook.status_code == 201, hook.text)

        created = web.post("/api/v1/items", json={"type": "bag", "name": "smoke"}, headers=auth)
        check("an item registered", created.status_code == 201, created.text)
        code = created.json()["items"][0]["code"]

        lookup = web.post("/api/v1/scan", json={"data": code}, headers=auth)
        check("a scan finds it", lookup.status_code == 200, lookup.text)
        scan = web.post(
            "/api/v1/scan",
            json={"data": code, "action": {"kind": "transition", "transition": "seal"}},
            headers=auth,
        )
        check("a scan seals it", scan.status_code == 200, scan.text)

        def delivered() -> bool:
            return any(
                code in json.dumps(d["body"]) and "seal" in json.dumps(d["body"]) for d in received
            )

        wait_for("the worker delivered the change to the receiver", delivered, 45)
        delivery = next(d for d in received if code in json.dumps(d["body"]))
        headers = {k.lower(): v for k, v in delivery["headers"].items()}
        check("the delivery is signed", headers.get("webhook-signature", "").startswith("v1,"))

        # A made-up X-Forwarded-For does not choose the address qtrack sees.
        spoof = {"X-Forwarded-For": "203.0.113.7", "X-Request-ID": "smokeforwardedfor"}
        check("a request with a forged address", web.get("/healthz", headers=spoof).is_success)

        # Both app servers answered some of these requests (nginx balances over them).
        def served(log: str) -> list[dict[str, Any]]:
            lines = []
            for text in Path(log).read_text().splitlines():
                try:
                    lines.append(json.loads(text))
                except ValueError:
                    continue  # not a JSON line, or one being written right now
            return [
                x
                for x in lines
                if isinstance(x, dict) and x.get("event") == "request" and x.get("route")
            ]

        def forged_logged() -> bool:
            # A request's log line is written once its answer has gone: wait for it.
            return any(
                x.get("request_id") == "smokeforwardedfor"
                for log in args.logs.split(",")
                for x in served(log)
            )

        wait_for("the forged request's log line", forged_logged, 15)
        seen: list[dict[str, Any]] = []
        for log in args.logs.split(","):
            lines = served(log)
            check(f"{Path(log).name} served requests", len(lines) > 0, len(lines))
            seen += lines
        forged = [x for x in seen if x.get("request_id") == "smokeforwardedfor"]
        check(
            "qtrack logs the client's own address, not the forged one",
            [x.get("client") for x in forged] == ["127.0.0.1"],
            forged,
        )

        metrics = web.get("/metrics")
        check("/metrics through the proxy, from the inside", metrics.status_code == 200)
        processes = [x for x in metrics.text.splitlines() if x.startswith("qtrack_process_info{")]
        kinds = sorted(x.split('kind="')[1].split('"')[0] for x in processes)
        check("/metrics sums both servers and the worker", kinds == ["web", "web", "worker"], kinds)

        big = web.post("/api/v1/items", content=b"x" * (2 * 1024 * 1024), headers=auth)
        check("the proxy refuses a body over its limit", big.status_code == 413, big.status_code)

        # An import's upload may be far larger (QTRACK_IMPORT_MAX_BYTES): the proxy lets a
        # 2 MiB table through to qtrack, which checks it (a dry run: nothing is written).
        pad = "p" * 1000
        table = "Type,Name,Pad\n" + "".join(f"bag,smoke {i},{pad}\n" for i in range(2100))
        upload = web.post(
            "/api/v1/imports",
            params={"kind": "items", "dry_run": "true"},
            files={"file": ("smoke.csv", table.encode(), "text/csv")},
            data={"mapping": json.dumps({"Type": "type", "Name": "name", "Pad": None})},
            headers=auth,
            timeout=60,
        )
        check(
            f"the proxy lets a {len(table) // 1024} KiB import upload through",
            upload.status_code in (201, 202),
            f"{upload.status_code} {upload.text[:300]}",
        )

    receiver.shutdown()


if __name__ == "__main__":
    main()
