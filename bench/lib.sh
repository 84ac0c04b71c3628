# Shared by the bench scripts (sourced, not run).

# server_url OUT ERR PID: waits up to 20 s for the `kbatch server` with process PID, whose
# standard output goes to OUT and standard error to ERR, to say where it listens, and prints
# that URL. Fails, with the server's standard error, if the server exits or never says.
server_url() {
    local out=$1 err=$2 pid=$3 url
    for _ in $(seq 400); do
        url=$(sed -n 's/^kbatch server listening on //p' "$out")
        if [ -n "$url" ]; then
            echo "$url"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "the server did not start:" >&2
    cat "$err" >&2
    return 1
}

# process_cpu PID: the CPU seconds (user + system) process PID has used so far.
process_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"
}

# machine_cpu: the whole machine's busy CPU seconds so far (user, nice, system, irq, softirq,
# steal), every process and the kernel's own work included.
machine_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '/^cpu / {printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / hz}' /proc/stat
}
