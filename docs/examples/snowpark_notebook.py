"""The notebook flow this project replaces, written with Snowpark as a notebook would.

Stages the model and tokenizer files, registers a plain Python function as the
permanent UDF SUMMARIZE (loading the model from the UDF's import directory, once
per Python process), and calls it from SQL and from a DataFrame:

    python docs/examples/snowpark_notebook.py artifacts/latest/model artifacts/latest/tokenizer

It connects to the embedded Snowflake: the `connection` object that
`deploy local status --format json` prints, else `localsnow.ensure_running()`.
The same code runs against a Snowflake account with that account's connection
parameters. It works in its own database (T5_NOTEBOOK unless --database says
otherwise), so that it never touches what `deploy` manages.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from snowflake.snowpark import Session
from snowflake.snowpark.functions import call_udf, col
from snowflake.snowpark.types import StringType

ARTICLES = [
    (1, "The city council approved a new park on Monday. Construction starts in spring and ends next year."),
    (2, "Heavy rain flooded several streets downtown overnight; no one was hurt and the roads reopened by noon."),
]

# The model and tokenizer, loaded on the first call in each Python process of the UDF.
# A module-level dict: cloudpickle sends it (empty) along with the function.
_loaded: dict[str, Any] = {}


def summarize(text: str) -> str:
    """The UDF's handler: a summary of `text` by the staged T5 model."""
    import sys

    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    if not _loaded:
        # Snowflake places every import, flattened, in this one read-only directory.
        directory = sys._xoptions["snowflake_import_directory"]
        tokenizer = AutoTokenizer.from_pretrained(directory)
        model = AutoModelForSeq2SeqLM.from_pretrained(directory)
        _loaded.update(tokenizer=tokenizer, model=model)
    tokenizer, model = _loaded["tokenizer"], _loaded["model"]
    inputs = tokenizer("summarize: " + text, return_tensors="pt", truncation=True, max_length=512)
    output = model.generate(**inputs, max_new_tokens=48)
    return tokenizer.decode(output[0], skip_special_tokens=True)


def connection_parameters() -> tuple[dict[str, Any], str]:
    """(connect() parameters, where they came from): `deploy local status --format json`'s
    `connection` while the embedded Snowflake runs, else localsnow.ensure_running(), which starts it."""
    command = ["deploy", "local", "status", "--format", "json"]
    deploy = shutil.which("deploy") or str(Path(sys.executable).with_name("deploy"))
    try:
        done = subprocess.run([deploy, *command[1:]], capture_output=True, text=True, check=False)
        if done.returncode == 0 and (connection := json.loads(done.stdout).get("connection")):
            return connection, " ".join(command)
    except (OSError, ValueError, AttributeError):
        pass
    import localsnow

    return localsnow.ensure_running(), "localsnow.ensure_running()"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path, help="config.json, model.safetensors, generation_config.json")
    parser.add_argument("tokenizer_dir", type=Path, help="spiece.model and/or tokenizer.json, tokenizer_config.json")
    parser.add_argument("--database", default="T5_NOTEBOOK")
    parser.add_argument("--schema", default="PUBLIC")
    args = parser.parse_args(argv)

    parameters, source = connection_parameters()
    print(f"connection: {source}")  # never print the parameters: they hold the password
    session = Session.builder.configs(parameters).create()
    session.sql(f"create database if not exists {args.database}").collect()
    session.sql(f"create schema if not exists {args.database}.{args.schema}").collect()
    session.use_schema(f"{args.database}.{args.schema}")
    print(f"session: {session.get_current_database()}.{session.get_current_schema()}")

    for stage in ("T5_P_TOKENIZER", "T5_P_MODEL", "LLM"):
        print(f"create stage {stage}: {session.sql(f'create or replace stage {stage}').collect()[0][0]}")

    for stage, directory in (("T5_P_MODEL", args.model_dir), ("T5_P_TOKENIZER", args.tokenizer_dir)):
        for path in sorted(p for p in directory.iterdir() if p.is_file()):
            (result,) = session.file.put(str(path), f"@{stage}", auto_compress=False, overwrite=True)
            print(f"put {path.name} -> @{stage}: {result.status}")
            session.add_import(f"@{stage}/{path.name}")

    session.udf.register(
        summarize,
        name="SUMMARIZE",
        is_permanent=True,
        stage_location="@LLM",
        replace=True,
        input_types=[StringType()],
        return_type=StringType(),
        # Conda names from Snowflake's channel: pytorch, not torch.
        packages=["transformers", "sentencepiece", "pytorch"],
    )
    print("register SUMMARIZE: done")

    (row,) = session.sql(f"select SUMMARIZE('{ARTICLES[0][1]}')").collect()
    print(f"select SUMMARIZE('...'): {row[0]!r}")

    session.sql("create or replace table NEWS (ID number, ARTICLE varchar)").collect()
    session.sql("insert into NEWS values " + ", ".join(f"({i}, '{text}')" for i, text in ARTICLES)).collect()
    summaries = session.table("NEWS").select(col("ID"), call_udf("SUMMARIZE", col("ARTICLE")).alias("SUMMARY"))
    print(summaries.sort("ID").to_pandas().to_string(index=False))

    session.close()
    print("session closed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
