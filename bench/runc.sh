#!/usr/bin/env bash
# The runc runtime's benchmark (docs/benchmarks/runc.md), root only, runc installed:
#  1. pod start latency with a warm image: $PODS pods created one at a time on a server whose
#     default runtime is runc, from creation to the container's process running
#     (crates/kbatch/benches/pod_start.rs with --image), beside $PODS `runc run`s of a bundle
#     prepared once from the same image (from just before `runc run` is executed to the
#     container's process running), in the same invocation; then the same bare runs each
#     after a 50 ms pause, for information (the target's baseline is the back-to-back one);
#  2. a Job of $COMPLETIONS completions of /bin/true at parallelism $PARALLELISM on runc, from
#     `kubectl apply` to its Complete condition, beside $COMPLETIONS bare `runc run`s of
#     /bin/true, $PARALLELISM at a time (xargs -P).
# The image is busybox (busybox-static's /bin/busybox) with its applets, imported from a
# `docker save` archive made here; the container's process is busybox's `adjtimex`, whose
# output holds the real-time clock in microseconds.
#
# Environment: PODS (200; 0 skips part 1), COMPLETIONS (1000; 0 skips part 2), PARALLELISM
# (16), JOB_TIMEOUT (600 s), KUBECTL (kubectl), KBATCH (a kbatch binary to run instead of
# building this tree's), KBATCH_B (a second kbatch binary, another build, compared with the
# first in the same invocation: part 2 then runs the Job on each build), ROUNDS (4): part 1
# runs in rounds of PODS/ROUNDS pods on each build in turn (a fresh server each time), each
# round followed by as many bare runs, so that both sample the machine's same spells; each
# fresh server first runs WARMUP (2) pods that are not measured, as its caches are cold),
# POD_START (a pod_start bench binary to run instead of building it), CARGO_TARGET_DIR as
# for cargo.
set -euo pipefail

PODS=${PODS:-200}
COMPLETIONS=${COMPLETIONS:-1000}
PARALLELISM=${PARALLELISM:-16}
JOB_TIMEOUT=${JOB_TIMEOUT:-600}
KUBECTL=${KUBECTL:-kubectl}
KBATCH_B=${KBATCH_B:-}
ROUNDS=${ROUNDS:-4}
WARMUP=${WARMUP:-2}

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
target=${CARGO_TARGET_DIR:-$root/target}
kbatch=${KBATCH:-$target/release/kbatch}
runc=$(command -v runc || echo /usr/sbin/runc)
busybox=/bin/busybox

[ "$(id -u)" = 0 ] || { echo "the runc runtime needs root" >&2; exit 1; }
[ -x "$runc" ] || { echo "runc is not installed: apt-get install runc" >&2; exit 1; }
[ -x "$busybox" ] || { echo "$busybox is missing: apt-get install busybox-static" >&2; exit 1; }

if [ -z "${KBATCH:-}" ]; then
    echo "building (release)..." >&2
    (cd "$root" && cargo build --quiet --release -p kbatch)
fi
if [ "$PODS" -gt 0 ] && [ -z "${POD_START:-}" ]; then
    (cd "$root" && cargo bench --quiet --no-run -p kbatch --bench pod_start)
fi
pod_start() {
    if [ -n "${POD_START:-}" ]; then
        "$POD_START" "$@"
    else
        (cd "$root" && cargo bench --quiet -p kbatch --bench pod_start -- "$@")
    fi
}
builds=("$kbatch")
[ -n "$KBATCH_B" ] && builds+=("$KBATCH_B")

work=$(mktemp -d)
server_pid=
stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=
    fi
}
cleanup() {
    stop_server
    rm -rf "$work"
    if [ -n "$acct" ]; then rmdir "$acct" 2>/dev/null || true; fi
}
trap cleanup EXIT

# The image: one layer, busybox and its applets; a `docker save` archive.
mkdir -p "$work/img/rootfs/bin" "$work/img/rootfs/etc" "$work/img/rootfs/tmp"
cp "$busybox" "$work/img/rootfs/bin/busybox"
for applet in sh adjtimex true; do ln -s busybox "$work/img/rootfs/bin/$applet"; done
tar -C "$work/img/rootfs" --numeric-owner --owner=0 --group=0 -cf "$work/img/layer.tar" .
diff_id=$(sha256sum "$work/img/layer.tar" | cut -d' ' -f1)
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
jq -n --arg arch "$arch" --arg diff "sha256:$diff_id" \
    '{architecture: $arch, os: "linux", config: {Env: ["PATH=/bin"]},
      rootfs: {type: "layers", diff_ids: [$diff]}}' > "$work/img/config.json"
jq -n '[{Config: "config.json", RepoTags: ["kbatch-bench/busybox:v1"], Layers: ["layer.tar"]}]' \
    > "$work/img/manifest.json"
tar -C "$work/img" -cf "$work/image.tar" manifest.json config.json layer.tar

# A bare bundle from the same files: runc's default spec with the host's network (as kbatch's
# containers have) and a writable root.
bundle() { # DIR ARGS-JSON
    mkdir -p "$1"
    cp -a "$work/img/rootfs" "$1/rootfs"
    "$runc" spec --bundle "$1"
    jq --argjson args "$2" '.process.terminal = false | .process.args = $args
        | .root.readonly = false
        | .linux.namespaces |= map(select(.type != "network"))' \
        "$1/config.json" > "$1/config.tmp" && mv "$1/config.tmp" "$1/config.json"
}
bundle "$work/bare-stamp" '["/bin/adjtimex"]'
bundle "$work/bare-true" '["/bin/true"]'
bare_root="$work/bare-state"

# CPU time in ms used so far by the server's cgroup (the server, its shims, their runc
# processes) and by the containers (runc's cgroups below /kbatch-runc), where the cgroup v1
# cpuacct controller is mounted; "- -" elsewhere.
acct=
if [ -d /sys/fs/cgroup/cpuacct ]; then
    acct=/sys/fs/cgroup/cpuacct/kbatch-bench-$$
    mkdir -p "$acct"
fi
cpu_usage() {
    if [ -z "$acct" ]; then
        echo "- -"
        return
    fi
    local containers=/sys/fs/cgroup/cpuacct/kbatch-runc/cpuacct.usage
    echo "$(( $(cat "$acct/cpuacct.usage") / 1000000 )) $(( $(cat "$containers" 2>/dev/null || echo 0) / 1000000 ))"
}

# A server of build $1 on a fresh data dir, its default runtime runc, the image imported;
# sets url and KUBECONFIG.
start_server() {
    data=$(mktemp -d "$work/data.XXXX")
    "$1" image import "$work/image.tar" --data-dir "$data" > /dev/null
    : > "$data.out"
    (
        # In a cpuacct cgroup of its own (cgroup v1), which its shims and their runc
        # processes stay in: cpu_usage reads what they used.
        [ -d "$acct" ] && echo "$BASHPID" > "$acct/cgroup.procs"
        KBATCH_LOG=warn exec "$1" server --data-dir "$data" --listen 127.0.0.1:0 --runtime runc \
            > "$data.out" 2> "$data.err"
    ) &
    server_pid=$!
    url=$(server_url "$data.out" "$data.err" "$server_pid") || exit 1
    export KUBECONFIG="$data/kubeconfig"
    until "$KUBECTL" get --raw /readyz > /dev/null 2>&1; do sleep 0.1; done
}

ms() { awk -v us="$1" 'BEGIN { printf "%.1f", us / 1000 }'; }

quantiles() { # LABEL FILE-OF-MICROSECONDS
    sort -n "$2" > "$2.sorted"
    local n p50 p99
    n=$(wc -l < "$2.sorted")
    p50=$(awk -v n="$n" 'NR == int((n * 0.5) + 0.999999) { print }' "$2.sorted")
    p99=$(awk -v n="$n" 'NR == int((n * 0.99) + 0.999999) { print }' "$2.sorted")
    echo "$1: p50 $(ms "$p50") ms, p99 $(ms "$p99") ms ($n pods)"
}

# One bare `runc run` of the stamping bundle as container ID; appends to FILE the time from
# just before `runc run` to the container's process running, in microseconds.
bare_stamp() { # ID FILE
    local t0 out sec usec
    t0=${EPOCHREALTIME/./}
    out=$("$runc" --root "$bare_root" run --bundle "$work/bare-stamp" "$1")
    sec=$(sed -n 's/.*time.tv_sec: *//p' <<< "$out")
    usec=$(sed -n 's/.*time.tv_usec: *//p' <<< "$out")
    echo $(( sec * 1000000 + usec - t0 )) >> "$2"
}

if [ "$PODS" -gt 0 ]; then
    echo "== pod start latency, warm image, $PODS pods one at a time (load: $(uptime | sed 's/.*load average: //'))"
    per_round=$(( PODS / ROUNDS ))
    : > "$work/bare.us"
    for round in $(seq "$ROUNDS"); do
        for b in "${!builds[@]}"; do
            start_server "${builds[$b]}"
            echo "-- round $round, build $b (${builds[$b]})"
            pod_start --data-dir "$data" --server "$url" --pods "$per_round" --warmup "$WARMUP" \
                --image kbatch-bench/busybox:v1 --pull-policy Never --samples "$work/kbatch-$b.us"
            stop_server
        done
        for i in $(seq "$per_round"); do bare_stamp "stamp-$round-$i" "$work/bare.us"; done
    done
    # The same after a pause: the first cgroup migration after a quiet spell waits for an
    # RCU grace period in the kernel (runc/primer.rs), which back-to-back runs skip.
    : > "$work/bare-paused.us"
    for i in $(seq "$PODS"); do
        sleep 0.05
        bare_stamp "paused-$i" "$work/bare-paused.us"
    done
    for b in "${!builds[@]}"; do
        quantiles "kbatch on runc, build $b (POST sent -> running)" "$work/kbatch-$b.us"
    done
    quantiles "bare runc run (same image, prepared bundle)" "$work/bare.us"
    quantiles "bare runc run, each after a 50 ms pause (not the target's baseline)" "$work/bare-paused.us"
fi

if [ "$COMPLETIONS" -gt 0 ]; then
    echo "== $COMPLETIONS completions at parallelism $PARALLELISM (load: $(uptime | sed 's/.*load average: //'))"
    for b in "${!builds[@]}"; do
        start_server "${builds[$b]}"
        read -r cpu_server cpu_containers < <(cpu_usage)
        start=${EPOCHREALTIME/./}
        "$KUBECTL" apply -f - > /dev/null <<YAML
apiVersion: batch/v1
kind: Job
metadata: {name: trues}
spec:
  completions: $COMPLETIONS
  parallelism: $PARALLELISM
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: kbatch-bench/busybox:v1
        imagePullPolicy: Never
        command: ["/bin/true"]
YAML
        if "$KUBECTL" wait --for=condition=Complete job/trues --timeout="${JOB_TIMEOUT}s" > /dev/null; then
            job_us=$(( ${EPOCHREALTIME/./} - start ))
            echo "kbatch Job on runc, build $b: $(ms "$job_us") ms"
            if [ -n "$acct" ]; then
                read -r now_server now_containers < <(cpu_usage)
                echo "  CPU: server, shims and runc $(( now_server - cpu_server )) ms, containers $(( now_containers - cpu_containers )) ms"
            fi
        else
            echo "kbatch Job on runc, build $b: not Complete; its pods that did not succeed:"
            "$KUBECTL" get pods --no-headers | grep -v Completed | head -20 || true
            "$KUBECTL" get pods -o jsonpath='{range .items[?(@.status.phase=="Failed")]}{.metadata.name}{": "}{.status.containerStatuses[0].state.terminated.message}{"\n"}{end}' | head -5 || true
        fi
        stop_server
    done
    start=${EPOCHREALTIME/./}
    seq "$COMPLETIONS" | xargs -P "$PARALLELISM" -I{} \
        "$runc" --root "$bare_root" run --bundle "$work/bare-true" "true-{}"
    bare_us=$(( ${EPOCHREALTIME/./} - start ))
    echo "bare runc run, $PARALLELISM at a time: $(ms "$bare_us") ms"
fi
