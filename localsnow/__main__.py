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
    for name, text in [
        ("start", "start the background server unless it runs; print connect() kwargs sans password"),
        ("stop", "stop the background server"),
        ("status", "print the server's status"),
        ("reset", "stop the server and delete all state"),
    ]:
        commands.add_parser(name, help=text)
    for sub in commands.choices.values():
        sub.add_argument("--home", help="state directory (default $LOCALSNOW_HOME or ./.localsnow)")
    args = parser.parse_args(argv)

    if args.command == "serve":
        from localsnow.server import serve as run_server

        run_server(args.home, args.port, args.daemon)
    elif args.command == "start":
        kwargs = daemon.ensure_running(args.home)
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
