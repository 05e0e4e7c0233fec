#!/usr/bin/env bash
# Creates .venv-compat: a second environment with the transformers 4.x stack that
# Snowflake's Anaconda channel pins (localsnow/packages.json). The embedded
# Snowflake's Python UDF workers run on it (localsnow/udf_runtime.py picks it when
# its stamp exists), and tests/test_transformers4_compat.py runs udf/handler.py on
# artifacts saved by the main environment's transformers 5.
#
# It is its own venv with its own torch rather than borrowing the main venv's
# site-packages: that would expose everything installed there (transformers 5's
# huggingface_hub, accelerate, numpy 2, ...) to any module the 4.x stack does not
# shadow, so the check could pass on packages Snowflake never has.
#
# Idempotent: a stamp keyed on this file, the interpreter and the torch settings
# makes a second run a no-op; anything else rebuilds the env from scratch.
#
#   bash scripts/compat_env.sh    # PYTHON, TORCH_VERSION, TORCH_INDEX as in the Makefile
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-compat"
stamp="$venv/.compat-stamp"
python="${PYTHON:-python3}"
# Pinned like the Makefile's: an unpinned torch pulls a multi-GB CUDA build.
# Snowflake runs pytorch 2.5.1, whose CPU-only wheel PyPI does not have, so the
# check uses the project's torch; point TORCH_INDEX at
# https://download.pytorch.org/whl/cpu where the local wheel is not available.
torch_version="${TORCH_VERSION:-2.13.0}"
torch_index="${TORCH_INDEX:-}"

# The UDF's PACKAGES and their dependencies at the channel's versions. numpy:
# transformers 4.41.2 does not cap it (numpy>=1.17) and runs this check with
# numpy 2.x too, but 1.26.4 is what the channel's 4.41-era builds were made
# against; torch 2.13 and pandas 2.2.3 work with it.
# cloudpickle: Snowpark pickles every function it registers and adds cloudpickle to
# its PACKAGES (Session._resolve_packages: "Always include cloudpickle"); 3.1.1 is
# the newest the channel resolves (localsnow/packages.json) and loads the pickles
# of the clients' cloudpickle 3.1.2 (2.2.1 cannot: no _function_setstate).
requirements=(
    transformers==4.41.2
    tokenizers==0.19.1
    sentencepiece==0.2.0
    safetensors==0.4.3
    huggingface_hub==0.23.4
    pandas==2.2.3
    numpy==1.26.4
    cloudpickle==3.1.1
    "torch==$torch_version"
)

key="$(
    {
        cat "${BASH_SOURCE[0]}"
        "$python" -VV
        printf '%s %s\n' "$torch_version" "$torch_index"
    } | sha256sum | cut -d' ' -f1
)"
if [[ -f "$stamp" && "$(<"$stamp")" == "$key" ]] && "$venv/bin/python" -c '' 2>/dev/null; then
    exit 0
fi

echo "compat_env: building $venv (transformers 4.41.2 for Snowflake, about 1-2 minutes)"
started=$SECONDS
rm -rf "$venv"
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --quiet --disable-pip-version-check --no-input)
# torch alone first, so that TORCH_INDEX applies to it only.
"${pip[@]}" install "torch==$torch_version" ${torch_index:+--index-url "$torch_index"}
"${pip[@]}" install "${requirements[@]}"
"$venv/bin/python" - <<'PY'
import cloudpickle, numpy, pandas, safetensors, sentencepiece, tokenizers, torch, transformers

assert transformers.__version__.startswith("4.41."), transformers.__version__
print("compat_env:", ", ".join(f"{m.__name__} {m.__version__}" for m in (
    transformers, tokenizers, sentencepiece, safetensors, torch, numpy, pandas, cloudpickle)))
PY
# Written last: an interrupted build has no stamp and is rebuilt next time.
printf '%s\n' "$key" >"$stamp"
echo "compat_env: ready in $((SECONDS - started)) s"
