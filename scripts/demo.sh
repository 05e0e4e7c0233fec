#!/usr/bin/env bash
# The whole loop on the embedded local Snowflake: validate, plan, apply, call
# SUMMARIZE through SQL, plan/apply/drift again to show nothing is left to do,
# then summarize the bundled validation articles as a table and score them.
set -euo pipefail
cd "$(dirname "$0")/.."

export LOCALSNOW_HOME="${LOCALSNOW_HOME:-$PWD/.localsnow}"
export T5_DEPLOY_CACHE="${T5_DEPLOY_CACHE:-$PWD/.localsnow/deploy-cache}"
CONN=(--connection local)

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

# Run a command that signals "changes pending" with exit status 2.
expect() {
  local want=$1; shift
  set +e; "$@"; local rc=$?; set -e
  if [[ $rc -ne $want ]]; then echo "expected exit $want from: $*, got $rc" >&2; exit 1; fi
}

step "Fresh embedded Snowflake (state in $LOCALSNOW_HOME)"
deploy local reset --yes
deploy local start

step "deploy validate"
deploy validate

step "deploy plan   (exit 2: changes pending)"
expect 2 deploy "${CONN[@]}" plan

step "deploy apply --yes"
deploy "${CONN[@]}" apply --yes

ARTICLE=$(python -c 'import training.corpus as c; print(c.load_split("validation")[0]["article"])')
step "deploy call: SELECT T5_DEMO.PUBLIC.SUMMARIZE(<a validation article>)"
echo "${ARTICLE:0:300}..."
echo "--- summary (the demo deploys the \`tiny\` training run: 1 M parameters, ~1 minute of CPU; expect rough text):"
deploy "${CONN[@]}" call "$ARTICLE"

step "deploy sql: the function as Snowflake describes it"
deploy "${CONN[@]}" sql 'DESCRIBE FUNCTION T5_DEMO.PUBLIC.SUMMARIZE(VARCHAR)'

step "deploy plan   (exit 0: nothing to do)"
expect 0 deploy "${CONN[@]}" plan

step "deploy apply --yes   (no-op: 0 bytes, 0 DDL)"
deploy "${CONN[@]}" apply --yes

step "deploy drift   (exit 0: no drift)"
expect 0 deploy "${CONN[@]}" drift

step "deploy sample-data: the bundled BBC validation articles as table NEWS"
deploy "${CONN[@]}" sample-data --table NEWS --split validation --replace

step "deploy sql: SELECT ID, TITLE, SUMMARIZE(ARTICLE) FROM NEWS (first 3 of them)"
deploy "${CONN[@]}" sql 'SELECT ID, TITLE, LEFT(T5_DEMO.PUBLIC.SUMMARIZE(ARTICLE), 160) AS SUMMARY FROM T5_DEMO.PUBLIC.NEWS WHERE ID <= 3 ORDER BY ID'

step "deploy eval: ROUGE of the deployed function on every NEWS row, through SQL, against Lead-3"
deploy "${CONN[@]}" eval --table NEWS --limit 0 --examples 3

step "Done. Stop the embedded Snowflake with: deploy local stop"
