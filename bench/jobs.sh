#!/usr/bin/env bash
# The Jobs benchmark (docs/benchmarks/jobs.md):
#  1. throughput: a Job of $COMPLETIONS completions of /bin/true with parallelism $PARALLELISM
#     on the process runtime, from `kubectl apply` to the Complete condition, against
#     `seq $COMPLETIONS | xargs -P$PARALLELISM -n1 /bin/true` run in the same invocation, before
#     and after the Job (the machine is shared: the two runs show how much it drifted);
#  2. pod start latency: $LATENCY_PODS pods created one at a time on a fresh server, from
#     creation to their process running (crates/kbatch/benches/pod_start.rs).
#
# Environment (docs/benchmarks/jobs.md has the table):
#   COMPLETIONS (10000; 0 skips the Job), PARALLELISM (64), LATENCY_PODS (1000; 0 skips the
#   latency part), JOB_TIMEOUT (180 s; a Job not Complete by then is reported with its
#   progress), PROGRESS (15 s between progress lines), KUBECTL (kubectl), PROFILE=1 (perf
#   record --call-graph dwarf on the server during each part: jobs.data and latency.data in
#   $PROFILE_DIR, default $TMPDIR/kbatch-jobs-profile), PROFILE_STACK (bytes of stack perf
#   copies per sample, 16384; deep serde stacks need up to 65528), CGROUPS=0 (root only: the
#   server runs in a mount namespace with an empty /sys/fs/cgroup, so it finds no cgroups),
#   SERVER_ARGS (more `kbatch server` flags, e.g. "--job-sync-batch-period 1s"), KBATCH (a
#   kbatch binary to run instead of building this tree's; the latency part still builds its
#   bench), CARGO_TARGET_DIR as for cargo.
set -euo pipefail

COMPLETIONS=${COMPLETIONS:-10000}
PARALLELISM=${PARALLELISM:-64}
LATENCY_PODS=${LATENCY_PODS:-1000}
JOB_TIMEOUT=${JOB_TIMEOUT:-180}
PROGRESS=${PROGRESS:-15}
KUBECTL=${KUBECTL:-kubectl}
PROFILE=${PROFILE:-0}
CGROUPS=${CGROUPS:-1}
PROFILE_DIR=${PROFILE_DIR:-${TMPDIR:-/tmp}/kbatch-jobs-profile}
PROFILE_STACK=${PROFILE_STACK:-16384}

SERVER_ARGS=${SERVER_ARGS:-}

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
target=${CARGO_TARGET_DIR:-$root/target}
kbatch=${KBATCH:-$target/release/kbatch}

if [ -z "${KBATCH:-}" ]; then
    echo "building (release)..." >&2
    (cd "$root" && cargo build --quiet --release -p kbatch)
fi
if [ "$LATENCY_PODS" -gt 0 ]; then
    (cd "$root" && cargo bench --quiet --no-run -p kbatch --bench pod_start)
fi

work=$(mktemp -d)
server_pid=
perf_pid=
progress_pid=
stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=
    fi
}
cleanup() {
    if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null || true; fi
    if [ -n "$progress_pid" ]; then kill "$progress_pid" 2>/dev/null || true; fi
    stop_server
    rm -rf "$work"
}
trap cleanup EXIT

# start_server NAME: a server on a fresh data dir and a free port; sets server_pid, url, data.
start_server() {
    data=$work/$1
    mkdir -p "$data" "$work/home-$1"
    # Made here, so the loop below never reads a file the background shell has not opened yet.
    : >"$work/$1.out"
    local run=()
    if [ "$CGROUPS" = 0 ]; then
        # A mount namespace of the server's own where /sys/fs/cgroup is empty: the runtime
        # finds no cgroups and spawns without a pre-exec hook. The host's mounts are untouched.
        run=(unshare -m sh -c 'mount -t tmpfs none /sys/fs/cgroup && exec "$0" "$@"')
    fi
    # shellcheck disable=SC2086 # SERVER_ARGS is a list of flags.
    KBATCH_LOG=warn "${run[@]}" "$kbatch" server --data-dir "$data" --listen 127.0.0.1:0 \
        --node-name bench $SERVER_ARGS >"$work/$1.out" 2>"$work/$1.err" &
    server_pid=$!
    url=$(server_url "$work/$1.out" "$work/$1.err" "$server_pid") || exit 1
    kubeconfig=$data/kubeconfig kube_home=$work/home-$1
    # The node registers asynchronously: pods wait for it anyway, but the clock should not.
    for _ in $(seq 200); do
        k get node bench >/dev/null 2>&1 && return
        sleep 0.05
    done
    echo "the node did not register" >&2
    exit 1
}

# kubectl against the current server, with a discovery cache of its own.
k() { KUBECONFIG=$kubeconfig HOME=$kube_home "$KUBECTL" "$@"; }

# CPU seconds the server has used so far; the machine's (machine_cpu) also counts the shims
# and the pods' own processes.
server_cpu() { process_cpu "$server_pid"; }

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }

# With PROFILE=1, samples the server (call graphs from DWARF: release builds keep no frame
# pointers) into $PROFILE_DIR/NAME.data until perf_stop.
perf_start() {
    [ "$PROFILE" = 1 ] || return 0
    mkdir -p "$PROFILE_DIR"
    perf record -e cpu-clock -F 199 --call-graph "dwarf,$PROFILE_STACK" -p "$server_pid" \
        -o "$PROFILE_DIR/$1.data" >"$PROFILE_DIR/$1.log" 2>&1 &
    perf_pid=$!
}

perf_stop() {
    [ -n "$perf_pid" ] || return 0
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
    perf_pid=
}

xargs_run() {
    local t0 t1
    t0=$EPOCHREALTIME
    seq "$COMPLETIONS" | xargs -P"$PARALLELISM" -n1 /bin/true
    t1=$EPOCHREALTIME
    elapsed "$t0" "$t1"
}

throughput() {
    echo "== throughput: $COMPLETIONS completions of /bin/true, parallelism $PARALLELISM" >&2
    start_server jobs
    local manifest="apiVersion: batch/v1
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
"
    # kubectl's discovery cache is warmed outside the clock, as a user's would be.
    k get jobs >/dev/null 2>&1

    xargs_before=$(xargs_run)
    cpu0=$(server_cpu) machine0=$(machine_cpu)
    perf_start jobs
    t0=$EPOCHREALTIME
    echo "$manifest" | k apply -f - >/dev/null
    # Progress every $PROGRESS seconds, to stderr: how the rate changes as pods accumulate.
    (
        last=0
        while sleep "$PROGRESS"; do
            n=$(k get job bench -o 'jsonpath={.status.succeeded}' 2>/dev/null || true)
            n=${n:-0}
            awk -v t0="$t0" -v t="$EPOCHREALTIME" -v n="$n" -v last="$last" -v p="$PROGRESS" \
                'BEGIN {printf "  %6.0f s: %6d succeeded (%.0f pods/s)\n", t - t0, n, (n - last) / p}' >&2
            last=$n
        done
    ) &
    progress_pid=$!
    complete=1
    k wait --for=condition=complete job/bench --timeout="${JOB_TIMEOUT}s" >/dev/null 2>&1 || complete=0
    t1=$EPOCHREALTIME
    kill "$progress_pid" 2>/dev/null || true
    wait "$progress_pid" 2>/dev/null || true
    progress_pid=
    perf_stop
    cpu1=$(server_cpu) machine1=$(machine_cpu)
    job_seconds=$(elapsed "$t0" "$t1")
    succeeded=$(k get job bench -o 'jsonpath={.status.succeeded}')
    succeeded=${succeeded:-0}
    if [ "$complete" = 0 ]; then
        # What a stalled run looked like: the Job's status and its pods by phase.
        {
            echo "-- the Job did not complete within ${JOB_TIMEOUT}s; its status:"
            k get job bench -o jsonpath='{.status}'
            echo
            echo "-- its pods by phase:"
            k get pods -l job-name=bench -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' |
                sort | uniq -c
        } >&2
    fi
    metrics=$(k get --raw /metrics)
    syncs=$(awk '/^job_controller_job_sync_duration_seconds_count/ {n += $2} END {print n + 0}' <<<"$metrics")
    sync_seconds=$(awk '/^job_controller_job_sync_duration_seconds_sum/ {s += $2} END {printf "%.2f", s}' <<<"$metrics")
    # The store's revision after the Job: every write it took, pods, events and the Job's own.
    revision=$(k get --raw '/api/v1/namespaces/default/pods?limit=1' | jq -r '.metadata.resourceVersion')
    stop_server
    xargs_after=$(xargs_run)

    if [ "$complete" = 1 ] && [ "$succeeded" != "$COMPLETIONS" ]; then
        echo "the Job completed with $succeeded succeeded pods, not $COMPLETIONS" >&2
        exit 1
    fi
    awk -v n="$COMPLETIONS" -v b="$xargs_before" -v a="$xargs_after" -v k="$job_seconds" \
        -v done="$complete" -v s="$succeeded" -v c0="$cpu0" -v c1="$cpu1" -v m0="$machine0" -v m1="$machine1" -v syncs="$syncs" \
        -v ss="$sync_seconds" -v to="$JOB_TIMEOUT" -v rev="$revision" 'BEGIN {
        base = (a + b) / 2
        printf "\n%-34s %10s %10s\n", "", "seconds", "pods/s"
        printf "%-34s %10.2f %10.0f\n", "xargs -P (before the Job)", b, n / b
        if (done) {
            printf "%-34s %10.2f %10.0f\n", "kbatch Job (apply -> Complete)", k, n / k
        } else {
            printf "%-34s %10s %10.0f   NOT COMPLETE: %d of %d succeeded in %d s\n",
                "kbatch Job (apply -> timeout)", "> " to, s / k, s, n, to
        }
        printf "%-34s %10.2f %10.0f\n", "xargs -P (after the Job)", a, n / a
        printf "ratio kbatch / xargs (mean of both): %s%.2f  (target <= 1.5)\n", done ? "" : "> ", k / base
        printf "server CPU during the Job: %.2f s; Job syncs: %d, %.2f s in sync\n", c1 - c0, syncs, ss
        printf "machine CPU during the Job: %.2f s, %.2f ms per pod\n", m1 - m0, 1000 * (m1 - m0) / (s > 0 ? s : 1)
        printf "store revisions after the Job: %d, %.2f per pod\n", rev, rev / (s > 0 ? s : 1)
    }'
}

if [ "$COMPLETIONS" -gt 0 ]; then
    throughput
fi

if [ "$LATENCY_PODS" -gt 0 ]; then
    echo "== pod start latency: $LATENCY_PODS pods, one at a time" >&2
    start_server latency
    # Built above: cargo only checks it is up to date before the first pod.
    perf_start latency
    (cd "$root" && cargo bench --quiet -p kbatch --bench pod_start -- \
        --data-dir "$data" --server "$url" --pods "$LATENCY_PODS")
    perf_stop
    echo "(target: p99 <= 25 ms)"
fi
