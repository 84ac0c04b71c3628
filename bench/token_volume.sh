#!/usr/bin/env bash
# What the automounted service account token costs on the process runtime
# (docs/benchmarks/jobs.md, "The token volume"): the same Job of $COMPLETIONS /bin/true
# completions at parallelism $PARALLELISM, with `automountServiceAccountToken: false` (no
# volume, no mount namespace) and with the default (the kube-api-access projected volume, so a
# token request, the volume's files in the run dir and a mount namespace per pod), alternating
# $ROUNDS times on one release server, from `kubectl apply` to the Complete condition; with the
# server's CPU and the whole machine's busy CPU over the same span.
#
# Environment: COMPLETIONS (1000), PARALLELISM (64), ROUNDS (3), KUBECTL (kubectl), KBATCH (a
# kbatch binary instead of this tree's release build), CARGO_TARGET_DIR as for cargo.
set -euo pipefail

COMPLETIONS=${COMPLETIONS:-1000}
PARALLELISM=${PARALLELISM:-64}
ROUNDS=${ROUNDS:-3}
KUBECTL=${KUBECTL:-kubectl}
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
target=${CARGO_TARGET_DIR:-$root/target}
kbatch=${KBATCH:-$target/release/kbatch}
if [ -z "${KBATCH:-}" ]; then
  (cd "$root" && cargo build --release -p kbatch --quiet)
fi

dir=$(mktemp -d)
"$kbatch" server --data-dir "$dir/data" --listen 127.0.0.1:0 >"$dir/out" 2>"$dir/err" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$dir"' EXIT
until grep -q "listening on" "$dir/out"; do sleep 0.1; done
export KUBECONFIG=$dir/data/kubeconfig
until "$KUBECTL" get serviceaccount default >/dev/null 2>&1 &&
  "$KUBECTL" get configmap kube-root-ca.crt >/dev/null 2>&1; do sleep 0.2; done

manifest() { # name automount
  cat <<EOM
apiVersion: batch/v1
kind: Job
metadata: {name: $1}
spec:
  completions: $COMPLETIONS
  parallelism: $PARALLELISM
  template:
    spec:
      automountServiceAccountToken: $2
      restartPolicy: Never
      containers: [{name: t, image: busybox, command: [/bin/true]}]
EOM
}

server_cpu() { process_cpu "$server"; }
seconds() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
  for automount in false true; do
    name=j-$automount-$round
    start=$(date +%s%N) server0=$(server_cpu) machine0=$(machine_cpu)
    manifest "$name" "$automount" | "$KUBECTL" apply -f - >/dev/null
    "$KUBECTL" wait --for=condition=Complete "job/$name" --timeout=600s >/dev/null
    end=$(date +%s%N) server1=$(server_cpu) machine1=$(machine_cpu)
    printf 'round %d automountServiceAccountToken=%-5s %6d ms  server CPU %6s s  machine CPU %6s s\n' \
      "$round" "$automount" $(((end - start) / 1000000)) \
      "$(seconds "$server0" "$server1")" "$(seconds "$machine0" "$machine1")"
    # Foreground: the Job goes after its pods, so the next round does not share the machine
    # with this one's clean-up.
    "$KUBECTL" delete job "$name" --cascade=foreground --timeout=600s >/dev/null
    sleep 1
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
