#!/usr/bin/env bash
# Runs the documentation's examples that are meant to run against tools/run,
# so that every such command works as written.
#
# Which examples: in README.md and docs/*.md, every fenced ```sh block whose
# opening fence comes right after the line
#   <!-- example: runs against tools/run -->
# (the HTML comment is invisible on GitHub). Mark a block only if it runs, as
# written, against a fresh tools/run from the repository root; leave
# illustrations (placeholder ids, files the reader must supply, commands
# that never end) unmarked.
#
# How: like a reader's terminal after a first `tools/run`. A campaignd serve
# process (scheduler on, simulated calls of 10 ms) runs on a database of its
# own on the tools/test cluster, with a demo business (id 1) and its owner
# key (id 1) made as tools/run makes them. Each block runs in the order of
# the files (README.md first, then docs/*.md sorted), in a fresh
# `bash -euo pipefail` from a scratch directory laid out like the
# repository root (tools/, .tools/, proto/, build/ linked; .data/demo.env
# written), with KEY (the demo key), BUF (.tools/node_modules/.bin/buf) and
# CAMPAIGN_ADDR set as tools/run's banner says, and CAMPAIGN_DATABASE_URL set
# to the test database (what tools/campaignd finds from .data/ otherwise).
# The only rewrite: the address 127.0.0.1:50051 becomes the test server's.
# A block fails when it exits non-zero or runs over 60 s; the test then
# prints the file, the line and the block's trace.
#
# Usage: docs_examples_test.sh PATH_TO_CAMPAIGND   (ctest passes it)
# Needs CAMPAIGN_TEST_ADMIN_URL (a superuser URL; tools/test sets it).
set -euo pipefail

campaignd=${1:?usage: docs_examples_test.sh PATH_TO_CAMPAIGND}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
build_dir=$(cd "$(dirname "$campaignd")/.." && pwd -P)
# shellcheck source-path=SCRIPTDIR source=../tools/test_lib.sh
source "$root/tests/tools/test_lib.sh"
# shellcheck source-path=SCRIPTDIR source=../../tools/lib/common.sh
source "$root/tools/lib/common.sh"
test_init docs-examples-test jq timeout python3
marker='<!-- example: runs against tools/run -->'

# ------------------------------------------------------------- examples
step "collect the marked examples"
docs=("$root/README.md")
for f in "$root"/docs/*.md; do [[ -f $f ]] && docs+=("$f"); done
# One file per block in $tmp/blocks/NNN.sh; NNN.where names FILE:LINE.
mkdir "$tmp/blocks"
python3 - "$tmp/blocks" "$marker" "$root" "${docs[@]}" <<'PY' || fail "bad example markup (above)"
import os, sys
out, marker, root, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
n = 0
errors = []
for path in files:
    lines = open(path, encoding="utf-8").read().split("\n")
    rel = os.path.relpath(path, root)
    i = 0
    while i < len(lines):
        if lines[i].strip() != marker:
            i += 1
            continue
        where = f"{rel}:{i + 1}"
        if i + 1 >= len(lines) or lines[i + 1].strip() != "```sh":
            errors.append(f"{where}: the marker must be followed at once by a ```sh fence")
            i += 1
            continue
        j = i + 2
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        if j >= len(lines):
            errors.append(f"{where}: the ```sh block never closes")
            break
        n += 1
        with open(os.path.join(out, f"{n:03d}.sh"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines[i + 2:j]) + "\n")
        with open(os.path.join(out, f"{n:03d}.where"), "w", encoding="utf-8") as f:
            f.write(f"{rel}:{i + 3}\n")
        i = j + 1
for e in errors:
    print(e, file=sys.stderr)
sys.exit(1 if errors else 0)
PY
blocks=("$tmp"/blocks/*.sh)
[[ -f ${blocks[0]} ]] || fail "no block in ${docs[*]#"$root/"} is marked \"$marker\""
step "${#blocks[@]} marked blocks"

# ------------------------------------------------------ server and state
test_create_database campaign_docs_app
export CAMPAIGN_DATABASE_URL=$app_url
"$campaignd" migrate >/dev/null 2>"$tmp/migrate.log" || { cat "$tmp/migrate.log" >&2; fail "migrate"; }
# As tools/run does on its first start.
business=$(new_business "Demo business")
key=$("$campaignd" create-api-key --business-id "$business" --role owner --label demo 2>/dev/null |
  tr -d '[:space:]')
[[ -n $key ]] || fail "create-api-key"
step "campaignd serve on a free port"
start_server server --sim-call-duration 10ms --poll-interval 50ms --shutdown-grace 0s
addr=127.0.0.1:$port

# The blocks call buf through .tools/ as the README does.
campaign_install_buf 2>&1
[[ -x $CAMPAIGN_BUF ]] || fail "buf is not installed in $root/.tools"

work=$tmp/work
mkdir -p "$work/.data"
ln -s "$root/tools" "$work/tools"
ln -s "$root/.tools" "$work/.tools"
ln -s "$root/proto" "$work/proto"
ln -s "$build_dir" "$work/build"
printf 'CAMPAIGN_BUSINESS_ID=%q\nCAMPAIGN_API_KEY=%q\n' "$business" "$key" >"$work/.data/demo.env"

# ----------------------------------------------------------------- run them
export KEY=$key BUF=.tools/node_modules/.bin/buf CAMPAIGN_ADDR=$addr CAMPAIGN_BUILD_DIR=$build_dir
export CAMPAIGN_DATA_DIR=$work/.data
unset CAMPAIGN_API_KEY CAMPAIGN_BUSINESS_ID CAMPAIGN_TLS_CA CAMPAIGN_TLS_CERT CAMPAIGN_TLS_KEY
failed=0
for block in "${blocks[@]}"; do
  where=$(<"${block%.sh}.where")
  sed -i "s/127\.0\.0\.1:50051/$addr/g" "$block"
  step "$where"
  rc=0
  (cd "$work" && timeout 60 bash -x -euo pipefail "$block") </dev/null >"$block.log" 2>&1 || rc=$?
  if ((rc != 0)); then
    echo "FAIL: the example at $where exited $rc; its trace and output:" >&2
    sed 's/^/    /' "$block.log" >&2
    failed=$((failed + 1))
  fi
done
((failed == 0)) || fail "$failed of ${#blocks[@]} examples failed"

passed=true
step "PASS"
