#!/usr/bin/env bash
# What reading a log through the node agent costs (docs/api.md, "Events and logs"): the same
# log of $LINES lines read through the API from the server's own node (its files, in process)
# and from a `kbatch agent` on 127.0.0.2 (the server's NodeLogs over TLS to the agent's log
# server), alternating, $ROUNDS times: $SMALL reads of the last line (`tailLines=1`: a
# request's fixed cost, curl's own TLS handshake to the server included) and one read of the
# whole log (throughput).
#
# Environment: LINES (200000), ROUNDS (3), SMALL (20), KBATCH (a kbatch binary instead of this
# tree's release build), CARGO_TARGET_DIR as for cargo.
set -euo pipefail

LINES=${LINES:-200000}
ROUNDS=${ROUNDS:-3}
SMALL=${SMALL:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
kbatch=${KBATCH:-$target/release/kbatch}
if [ -z "${KBATCH:-}" ]; then
  (cd "$root" && cargo build --release -p kbatch --quiet)
fi

dir=$(mktemp -d)
"$kbatch" server --data-dir "$dir/data" --listen 127.0.0.1:0 --node-name local \
  >"$dir/out" 2>"$dir/err" &
server=$!
agent=
trap 'kill $server $agent 2>/dev/null; wait $server $agent 2>/dev/null; rm -rf "$dir"' EXIT
until grep -qs "listening on" "$dir/out"; do sleep 0.1; done
url=$(sed -n 's/^kbatch server listening on //p' "$dir/out")
export KUBECONFIG=$dir/data/kubeconfig
"$kbatch" agent --kubeconfig "$KUBECONFIG" --node-name remote --node-ip 127.0.0.2 \
  --log-port 0 --data-dir "$dir/agent" >/dev/null 2>"$dir/agent-err" &
agent=$!
for node in local remote; do
  until kubectl get node "$node" >/dev/null 2>&1; do sleep 0.2; done
  kubectl apply -f - >/dev/null <<EOM
apiVersion: batch/v1
kind: Job
metadata: {name: lines-$node}
spec:
  template:
    spec:
      restartPolicy: Never
      nodeSelector: {kubernetes.io/hostname: $node}
      containers: [{name: c, image: busybox, command: [seq, '1', '$LINES']}]
EOM
done
declare -A path
for node in local remote; do
  kubectl wait --for=condition=Complete "job/lines-$node" --timeout=600s >/dev/null
  pod=$(kubectl get pods -l "job-name=lines-$node" -o jsonpath='{.items[0].metadata.name}')
  path[$node]=/api/v1/namespaces/default/pods/$pod/log
done
token=$(cat "$dir/data/pki/admin.token")
get() { # path → "bytes"
  curl -sS --cacert "$dir/data/pki/ca.crt" -H "Authorization: Bearer $token" \
    -o /dev/null -w '%{size_download}' "$url$1"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
  for node in local remote; do
    start=$(date +%s%N)
    for _ in $(seq "$SMALL"); do get "${path[$node]}?tailLines=1" >/dev/null; done
    small=$((($(date +%s%N) - start) / SMALL / 1000))
    start=$(date +%s%N)
    bytes=$(get "${path[$node]}")
    whole=$((($(date +%s%N) - start) / 1000000))
    printf 'round %d %-6s tailLines=1: %6d µs/request   whole log: %8d bytes in %5d ms\n' \
      "$round" "$node" "$small" "$bytes" "$whole"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
