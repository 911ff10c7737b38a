#!/usr/bin/env bash
# The model served as Restate's admin API and ingress, driven from a shell test with the real
# `restate` CLI and curl: no restate-server, no SDK endpoint, no Docker.
#
#   bash examples/serve_to_the_restate_cli.sh
#
# Needs `restate-versioning` (the server and cli extras) and the `restate` CLI on PATH (after
# `make test`: .venv/bin and .cache/restate/node_modules/.bin), and curl.
set -euo pipefail

work=$(mktemp -d)
server=""
cleanup() {
    if [ -n "$server" ]; then kill -INT "$server" 2>/dev/null && wait "$server" || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# A deployment kept in a store, registered from its manifest (no endpoint needed).
cat >"$work/greeter.json" <<'JSON'
{"protocolMode": "BIDI_STREAM", "minProtocolVersion": 5, "maxProtocolVersion": 7,
 "services": [{"name": "Greeter", "ty": "SERVICE", "handlers": [{"name": "greet"}]}]}
JSON
store="$work/registry.db"
restate-versioning --store "$store" deployments register http://greeter-v1:9080/ \
    --manifest "$work/greeter.json" >/dev/null

# Serve it on free ports; the first two lines say where.
restate-versioning --store "$store" serve --admin-port 0 --ingress-port 0 >"$work/urls" &
server=$!
for _ in $(seq 100); do [ "$(wc -l <"$work/urls")" -ge 2 ] && break; sleep 0.05; done
admin=$(sed -n 1p "$work/urls" | awk '{print $NF}')
ingress=$(sed -n 2p "$work/urls" | awk '{print $NF}')
export RESTATE_ADMIN_URL="$admin" NO_COLOR=1 COLUMNS=200

restate services list
restate deployments list

# A call through the ingress: it runs until the control API (or a kill) ends it.
call=$(curl -sf -X POST "$ingress/Greeter/greet/send" -H 'content-type: application/json' \
    -d '"world"' | sed 's/.*"invocationId":"\([^"]*\)".*/\1/')
echo "sent $call"
restate invocations list
restate deployments list --extra   # Active, 1 active invocation

# The one non-Restate part: move the call as its handler would.
curl -sf -X POST "$admin/restate-versioning/invocations/$call/complete" \
    -H 'content-type: application/json' -d '{"output": "Hello world!"}'
echo
restate invocations describe "$call"
