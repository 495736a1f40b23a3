"""A webhook receiver as an office would write one, run as its own process by the webhook tests.

    python tests/support/webhook_receiver.py --port P --secret whsec_... --record FILE [--answer 503] [--stall-at N]

Every POST is verified with the Standard Webhooks library (``Webhook(secret).verify``): a forged or tampered one
is answered 400 and recorded as ``rejected``. A verified one is answered ``--answer`` (200 by default; a failing
endpoint is started with 503) and, when answered 2xx, deduplicated by its ``webhook-id``: the first copy is
recorded as ``new``, a later one as ``duplicate``. The ids already seen are read back from FILE at start, as a
receiver keeps them in its own database, so a restarted receiver still recognises what it took before.
Each record is one JSON line of FILE, written before the answer is sent. With ``--stall-at N`` the receiver
stores entry N and then never answers (it hangs, as a receiver whose sender dies before it reads the 2xx sees it).
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--record", type=Path, required=True)
    parser.add_argument("--answer", type=int, default=200)
    parser.add_argument("--stall-at", type=int, default=None)
    args = parser.parse_args()
    webhook = Webhook(args.secret)
    seen: set[str] = set()
    if args.record.exists():
        for line in args.record.read_text().splitlines():
            entry = json.loads(line)
            if entry["kind"] == "new":
                seen.add(entry["webhook_id"])
    out = args.record.open("a")

    def record(entry: dict[str, Any]) -> None:
        out.write(json.dumps(entry) + "\n")
        out.flush()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            message_id = headers.get("webhook-id", "")
            try:
                payload = webhook.verify(body, headers)
            except (WebhookVerificationError, ValueError):
                record({"kind": "rejected", "webhook_id": message_id})
                return self._answer(400)
            if not 200 <= args.answer < 300:
                record({"kind": "refused", "webhook_id": message_id, "cursor": payload["data"]["cursor"]})
                return self._answer(args.answer)
            kind = "duplicate" if message_id in seen else "new"
            seen.add(message_id)
            record({"kind": kind, "webhook_id": message_id, "cursor": payload["data"]["cursor"],
                    "milestone_id": payload["data"]["milestone"]["milestone_id"], "type": payload["type"]})  # fmt: skip
            if args.stall_at == payload["data"]["cursor"]:
                threading.Event().wait()  # stored, never answered: one request at a time, so no other comes in
            self._answer(args.answer)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the record file is the log

    server = HTTPServer(("127.0.0.1", args.port), Handler)  # allow_reuse_address: a restart takes the same port
    print("listening", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
