#!/usr/bin/env bash
# Creates .venv-snow: the Snowflake CLI (`snow`) in its own environment, for
# tests/test_snow_cli.py and for anyone who wants to drive the embedded
# Snowflake with it (.venv-snow/bin/snow).
#
# Its own venv because snowflake-cli pins every dependency exactly (typer,
# click, pydantic, snowflake-connector-python, ...), which would fight the
# project's own pins in .venv.
#
# Idempotent: a stamp keyed on this file and the interpreter makes a second run
# a no-op; anything else rebuilds the env from scratch.
#
#   bash scripts/snow_env.sh    # PYTHON as in the Makefile
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-snow"
stamp="$venv/.snow-stamp"
python="${PYTHON:-python3}"
version=3.30.0

key="$(
    {
        cat "${BASH_SOURCE[0]}"
        "$python" -VV
    } | sha256sum | cut -d' ' -f1
)"
# Checked by import, not `snow --version`: snow would write ~/.snowflake and ask PyPI for news.
check=(-c "import snowflake.cli._app.__main__, importlib.metadata as m; print('snow_env: snowflake-cli', m.version('snowflake-cli'))")
if [[ -f "$stamp" && "$(<"$stamp")" == "$key" ]] && "$venv/bin/python" "${check[@]}" >/dev/null 2>&1; then
    exit 0
fi

echo "snow_env: building $venv (snowflake-cli $version, about 20 s)"
started=$SECONDS
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip --quiet --disable-pip-version-check --no-input install "snowflake-cli==$version"
"$venv/bin/python" "${check[@]}"
# Written last: an interrupted build has no stamp and is rebuilt next time.
printf '%s\n' "$key" >"$stamp"
echo "snow_env: ready in $((SECONDS - started)) s"
