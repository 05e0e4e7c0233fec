"""python -m localsnow {serve,start,stop,status,reset} [--home DIR]."""

from __future__ import annotations

import argparse
import json
import sys

from localsnow import daemon


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localsnow", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server in the foreground")
    serve.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free)")
    serve.add_argument("--daemon", action="store_true", help=argparse.SUPPRESS)
    start = commands.add_parser(
        "start", help="start the background server unless it runs; print connect() kwargs sans password"
    )
    start.add_argument(
        "--port", type=int, help="listen on this port, now and at every later start (0: any free port, the default)"
    )
    for name, text in [
        ("stop", "stop the background server"),
        ("status", "print the server's status"),
        ("reset", "stop the server and delete all state"),
    ]:
        commands.add_parser(name, help=text)
    for sub in commands.choices.values():
        sub.add_argument(
            "--home", help="state directory (default $LOCALSNOW_HOME, else .localsnow in the project root)"
        )
    args = parser.parse_args(argv)

    if args.command == "serve":
        from localsnow.server import serve as run_server

        run_server(args.home, args.port, args.daemon)
    elif args.command == "start":
        try:
            kwargs = daemon.ensure_running(args.home, args.port)
        except daemon.StartError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(json.dumps({k: v for k, v in kwargs.items() if k != "password"}))
    elif args.command == "stop":
        print("stopped" if daemon.stop(args.home) else "not running")
    elif args.command == "status":
        print(json.dumps(daemon.status(args.home)))
    else:
        daemon.reset(args.home)
        print("reset")
    return 0


if __name__ == "__main__":
    sys.exit(main())
