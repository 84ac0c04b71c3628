#!/usr/bin/env bash
# The API's create round trip (docs/benchmarks/jobs.md §5.4): $CREATES pods POSTed one after
# another over one kept-alive HTTPS connection to a fresh server, each bound to a node that
# does not exist (so nothing else runs), after $WARMUP unmeasured creates; prints the round
# trip's p50 and p90 and the server's resident memory at the end. With KBATCH_B, the two builds
# run alternately, $ROUNDS times each, on fresh servers, so both sample the same machine.
#
# Environment: CREATES (3000), WARMUP (200), ROUNDS (2), KBATCH (a kbatch binary instead of
# building this tree's), KBATCH_B (a second build to compare), KUBECTL (kubectl),
# CARGO_TARGET_DIR as for cargo.
set -euo pipefail

CREATES=${CREATES:-3000}
WARMUP=${WARMUP:-200}
ROUNDS=${ROUNDS:-2}
KUBECTL=${KUBECTL:-kubectl}
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
target=${CARGO_TARGET_DIR:-$root/target}
if [ -z "${KBATCH:-}" ]; then
    echo "building (release)..." >&2
    (cd "$root" && cargo build --quiet --release -p kbatch)
fi
builds=("${KBATCH:-$target/release/kbatch}")
[ -n "${KBATCH_B:-}" ] && builds+=("$KBATCH_B")

work=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# One client: POSTs, times each round trip, prints p50 and p90 in ms.
cat > "$work/creates.py" <<'PY'
import base64, http.client, json, ssl, sys, time
server, ca, token, count, prefix = sys.argv[1:6]
host, port = server[len("https://"):].rsplit(":", 1)
conn = http.client.HTTPSConnection(host, int(port), context=ssl.create_default_context(cadata=base64.b64decode(ca).decode()))
headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json", "Accept": "application/json"}
times = []
for i in range(int(count)):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"{prefix}-{i}", "labels": {"app": "creates"}},
           "spec": {"nodeName": "nowhere", "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox", "command": ["/bin/true"]}]}}
    body = json.dumps(pod)
    start = time.perf_counter()
    conn.request("POST", "/api/v1/namespaces/default/pods?fieldManager=kubectl-create", body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    times.append(time.perf_counter() - start)
    if response.status != 201:
        sys.exit(f"create {prefix}-{i}: HTTP {response.status}")
times.sort()
print("%.3f %.3f" % (times[len(times) // 2] * 1e3, times[int(len(times) * 0.9)] * 1e3))
PY

printf '%-8s %-40s %10s %10s %12s\n' round build "p50 (ms)" "p90 (ms)" "RSS (MB)"
for round in $(seq "$ROUNDS"); do
    for b in "${builds[@]}"; do
        data="$work/data-$round-$(basename "$b")"
        : > "$data.out"
        KBATCH_LOG=warn "$b" server --data-dir "$data" --listen 127.0.0.1:0 > "$data.out" 2> "$data.err" &
        server_pid=$!
        url=$(server_url "$data.out" "$data.err" "$server_pid") || exit 1
        export KUBECONFIG="$data/kubeconfig"
        until "$KUBECTL" get --raw /readyz > /dev/null 2>&1; do sleep 0.1; done
        ca=$("$KUBECTL" config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
        token=$("$KUBECTL" config view --raw -o jsonpath='{.users[0].user.token}')
        python3 "$work/creates.py" "$url" "$ca" "$token" "$WARMUP" warmup > /dev/null
        read -r p50 p90 < <(python3 "$work/creates.py" "$url" "$ca" "$token" "$CREATES" pod)
        rss=$(awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$server_pid/status")
        printf '%-8s %-40s %10s %10s %12s\n' "$round" "$b" "$p50" "$p90" "$rss"
        kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
        server_pid=
    done
done
