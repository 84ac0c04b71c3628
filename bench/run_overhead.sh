#!/usr/bin/env bash
# kbatch run's overhead: the wall time of `kbatch run -f JOB` for a Job whose one container runs
# /bin/true, against /bin/true itself, each RUNS times (default 20), interleaved so that both see
# the same machine. Prints the median and p90 of each and the machine's load; the target is a
# median of at most 50 ms for kbatch run.
#
#   bench/run_overhead.sh            # builds the release binary first
#   KBATCH=path/to/kbatch RUNS=50 bench/run_overhead.sh
#
# Times come from bash's EPOCHREALTIME around each command: no process is forked to read the
# clock, so both figures carry the same (tiny) cost of starting a command from bash.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-20}
if [ -z "${KBATCH:-}" ]; then
  cargo build --release -p kbatch --quiet
  KBATCH="${CARGO_TARGET_DIR:-target}/release/kbatch"
fi
[ -x "$KBATCH" ] || { echo "no kbatch binary at $KBATCH" >&2; exit 1; }

manifest=$(mktemp --suffix=.yaml)
trap 'rm -f "$manifest"' EXIT
cat >"$manifest" <<'EOF'
apiVersion: batch/v1
kind: Job
metadata:
  name: "true"
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: "true"
          image: busybox
          command: ["/bin/true"]
EOF

# One warm-up of each: page cache, dynamic loader.
/bin/true
"$KBATCH" run -f "$manifest" >/dev/null 2>&1

true_us=()
run_us=()
for _ in $(seq "$runs"); do
  # EPOCHREALTIME without its dot: microseconds since the epoch.
  start=${EPOCHREALTIME/./}; /bin/true; end=${EPOCHREALTIME/./}
  true_us+=($((10#$end - 10#$start)))
  start=${EPOCHREALTIME/./}
  if ! "$KBATCH" run -f "$manifest" >/dev/null 2>&1; then
    echo "kbatch run failed" >&2
    exit 1
  fi
  end=${EPOCHREALTIME/./}
  run_us+=($((10#$end - 10#$start)))
done

# "median p90" of microsecond figures, in milliseconds.
stats() {
  printf '%s\n' "$@" | sort -n | awk '
    { v[NR] = $1 }
    END {
      m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      p = v[int(0.9 * NR + 0.999999)]
      printf "median %7.2f ms   p90 %7.2f ms", m / 1000, p / 1000
    }'
}

echo "load:        $(uptime)"
echo "runs:        $runs each, interleaved"
echo "/bin/true    $(stats "${true_us[@]}")"
echo "kbatch run   $(stats "${run_us[@]}")   (target: median <= 50 ms)"
