#!/usr/bin/env bash
# kbatch on etcd against the embedded single node (docs/benchmarks/etcd.md), in one invocation:
#  1. a Job of $COMPLETIONS completions of /bin/true at parallelism $PARALLELISM, from
#     `kubectl apply` to its Complete condition: first on the embedded default (one server, SQLite,
#     its own node), then on etcd: a control-plane server (`--store etcd --no-agent`) and
#     $AGENTS `kbatch agent`s joined with a bootstrap token, each on its own loopback address;
#  2. with API=1 (the default), API creates/s with the server on the same etcd beside etcd's own
#     Put rate by its client (crates/kbatch/benches/api.rs with KBATCH_BENCH_ETCD).
#
# Environment: COMPLETIONS (10000), PARALLELISM (64), AGENTS (2), ETCD_MEMBERS (1 or 3),
# JOB_TIMEOUT (600 s), API (1; 0 skips part 2), KUBECTL (kubectl), KBATCH (a kbatch binary
# instead of building this tree's release one), CARGO_TARGET_DIR as for cargo.
# Needs etcd and etcdctl (Debian's etcd-server and etcd-client) and root for the agents' cgroups
# (as the server's).
set -euo pipefail

COMPLETIONS=${COMPLETIONS:-10000}
PARALLELISM=${PARALLELISM:-64}
AGENTS=${AGENTS:-2}
ETCD_MEMBERS=${ETCD_MEMBERS:-1}
JOB_TIMEOUT=${JOB_TIMEOUT:-600}
API=${API:-1}
KUBECTL=${KUBECTL:-kubectl}

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
target=${CARGO_TARGET_DIR:-$root/target}
kbatch=${KBATCH:-$target/release/kbatch}
command -v etcd >/dev/null || { echo "etcd is not installed (apt-get install etcd-server)" >&2; exit 1; }

if [ -z "${KBATCH:-}" ]; then
    echo "building (release)..." >&2
    (cd "$root" && cargo build --quiet --release -p kbatch)
fi
if [ "$API" = 1 ]; then
    (cd "$root" && cargo bench --quiet --no-run -p kbatch --bench api)
fi

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pkill -f "kbatch __shim" 2>/dev/null || true
    # What the agents' pods left mounted (their token volumes' tmpfs).
    awk -v w="$work/" 'index($2, w) == 1 {print $2}' /proc/self/mounts | sort -r |
        xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }
k() { KUBECONFIG=$kubeconfig HOME=$work/home "$KUBECTL" "$@"; }

# start_etcd: $ETCD_MEMBERS members on loopback; sets endpoints.
start_etcd() {
    local cluster="" i
    local -a peer client
    for i in $(seq "$ETCD_MEMBERS"); do
        peer[i]=$(free_port)
        client[i]=$(free_port)
        cluster+="${cluster:+,}e$i=http://127.0.0.1:${peer[i]}"
    done
    endpoints=""
    for i in $(seq "$ETCD_MEMBERS"); do
        etcd --name "e$i" --data-dir "$work/etcd-$i" \
            --listen-peer-urls "http://127.0.0.1:${peer[i]}" \
            --initial-advertise-peer-urls "http://127.0.0.1:${peer[i]}" \
            --listen-client-urls "http://127.0.0.1:${client[i]}" \
            --advertise-client-urls "http://127.0.0.1:${client[i]}" \
            --initial-cluster "$cluster" --initial-cluster-state new \
            --log-level error >"$work/etcd-$i.log" 2>&1 &
        pids+=($!)
        endpoints+="${endpoints:+,}http://127.0.0.1:${client[i]}"
    done
    for _ in $(seq 200); do
        ETCDCTL_API=3 etcdctl --endpoints "$endpoints" endpoint health >/dev/null 2>&1 && return
        sleep 0.1
    done
    echo "etcd did not start" >&2
    cat "$work"/etcd-*.log >&2
    exit 1
}

# start_server NAME ARGS...: a server on a fresh data dir; sets url and kubeconfig.
start_server() {
    local name=$1
    shift
    mkdir -p "$work/$name" "$work/home"
    : >"$work/$name.out"
    KBATCH_LOG=warn "$kbatch" server --data-dir "$work/$name" --listen 127.0.0.1:0 "$@" \
        >"$work/$name.out" 2>"$work/$name.err" &
    pids+=($!)
    url=$(server_url "$work/$name.out" "$work/$name.err" "$!") || exit 1
    kubeconfig=$work/$name/kubeconfig
}

wait_nodes() {
    for _ in $(seq 600); do
        [ "$(k get nodes -o name 2>/dev/null | wc -l)" -ge "$1" ] && return
        sleep 0.1
    done
    echo "the nodes did not register" >&2
    exit 1
}

# run_job: the Job from apply to Complete; prints its seconds.
run_job() {
    local t0 t1
    k get jobs >/dev/null 2>&1
    t0=$EPOCHREALTIME
    k apply -f - >/dev/null <<EOF
apiVersion: batch/v1
kind: Job
metadata: {name: bench}
spec:
  completions: $COMPLETIONS
  parallelism: $PARALLELISM
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: work
        image: busybox
        command: [/bin/true]
EOF
    k wait --for=condition=complete job/bench --timeout="${JOB_TIMEOUT}s" >/dev/null ||
        { echo "the Job did not complete: $(k get job bench -o jsonpath='{.status}')" >&2; exit 1; }
    t1=$EPOCHREALTIME
    elapsed "$t0" "$t1"
}

echo "== $COMPLETIONS completions of /bin/true at parallelism $PARALLELISM; load average $(cut -d' ' -f1 /proc/loadavg)"

start_server single --node-name single
wait_nodes 1
single=$(run_job)
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
pkill -f "kbatch __shim" 2>/dev/null || true
echo "embedded SQLite, one node:           ${single} s  ($(awk -v n="$COMPLETIONS" -v t="$single" 'BEGIN {printf "%.0f", n / t}') pods/s)"

start_etcd
start_server control --store etcd --etcd-endpoints "$endpoints" --etcd-prefix /bench --no-agent \
    --node-name control
join=$(KUBECONFIG=$kubeconfig HOME=$work/home "$kbatch" token create --data-dir "$work/control")
token=$(awk '{for (i = 1; i < NF; i++) if ($i == "--token") print $(i + 1)}' <<<"$join")
hash=$(awk '{for (i = 1; i < NF; i++) if ($i == "--ca-cert-hash") print $(i + 1)}' <<<"$join")
for i in $(seq "$AGENTS"); do
    KBATCH_LOG=warn "$kbatch" agent --server "$url" --token "$token" --ca-cert-hash "$hash" \
        --node-name "agent-$i" --node-ip "127.0.0.$((20 + i))" --data-dir "$work/agent-$i" \
        >/dev/null 2>"$work/agent-$i.err" &
    pids+=($!)
done
wait_nodes "$AGENTS"
spread=$(run_job)
per_node=$(k get pods -l job-name=bench -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort | uniq -c | awk '{printf "%s%s %s", sep, $2, $1; sep = ", "}')
echo "etcd ($ETCD_MEMBERS member(s)), $AGENTS agents:        ${spread} s  ($(awk -v n="$COMPLETIONS" -v t="$spread" 'BEGIN {printf "%.0f", n / t}') pods/s; pods per node: $per_node)"
echo "ratio etcd / single node: $(awk -v a="$spread" -v b="$single" 'BEGIN {printf "%.2f", a / b}')  (target <= 2)"
echo "load average at the end $(cut -d' ' -f1 /proc/loadavg)"

if [ "$API" = 1 ]; then
    echo
    echo "== API creates on etcd beside etcd's own Put rate (benches/api.rs)"
    KBATCH_BENCH_ETCD=$endpoints KBATCH_BENCH_WATCHERS=0 \
        KBATCH_BENCH_FIGURES=store-create-1,api-create-1,store-create-n,api-create-n \
        cargo bench --quiet -p kbatch --bench api --manifest-path "$root/Cargo.toml"
fi
