"""The `examctl` console script: picks the async mode before anything else is imported."""

from __future__ import annotations

import os
import sys

SERVING_COMMANDS = {"run", "demo", "demo-grading", "standby takeover"}


def main() -> None:
    words = [a for a in sys.argv[1:] if not a.startswith("-")]
    serving = bool(words) and (words[0] in SERVING_COMMANDS or " ".join(words[:2]) in SERVING_COMMANDS)
    mode = os.environ.get("SOCKETIO_ASYNC_MODE") or ("gevent" if serving else "threading")
    os.environ["SOCKETIO_ASYNC_MODE"] = mode
    if mode == "gevent":
        # Thousands of sockets per process need greenlets, and the patches must come first.
        from gevent import monkey

        monkey.patch_all()
        try:
            from psycogreen.gevent import patch_psycopg

            patch_psycopg()
        except ImportError:
            pass
        if words[0] == "run":
            from exam_server.core.listening import take_port_early

            take_port_early(sys.argv[1:])

    from exam_server.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
