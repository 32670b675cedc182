#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for trying scripts/slurm_sweep.sh for real:
#   scripts/slurm_local.sh start        # munged, slurmctld and slurmd, one node of nproc CPUs
#   scripts/slurm_local.sh stop         # stops the daemons this script started
#   scripts/slurm_local.sh run CMD...   # start, run CMD (with SLURM_CONF set), stop
# Needs root and Debian's slurmctld, slurmd, slurm-client and munge (installed if missing).
# Clients need the configuration: export SLURM_CONF=/tmp/lntl-slurm/slurm.conf
set -euo pipefail
STATE="${LNTL_SLURM_STATE:-/tmp/lntl-slurm}"
CONF="$STATE/slurm.conf"

install() {
    if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge
    fi
}

start() {
    install
    mkdir -p "$STATE/ctld" "$STATE/d" "$STATE/munge"
    local host cpus memory
    host="$(hostname -s)"
    cpus="$(nproc)"
    memory="$(awk '/MemTotal/ { print int($2 / 1024) - 1024 }' /proc/meminfo)"
    cat > "$CONF" <<CONF
ClusterName=lntl-local
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    [ -f /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key 2>/dev/null || true
    mkdir -p /run/munge && chown munge:munge /run/munge 2>/dev/null || true
    if ! pgrep -x munged >/dev/null; then
        runuser -u munge -- munged 2>/dev/null || munged --force
        for _ in $(seq 40); do [ -S /run/munge/munge.socket.2 ] && break; sleep 0.25; done
        cp /run/munge/munged.pid "$STATE/munge/ours.pid"
    fi
    slurmctld -f "$CONF"
    slurmd -f "$CONF"
    export SLURM_CONF="$CONF"
    for _ in $(seq 30); do
        if sinfo -h -o '%T' 2>/dev/null | grep -qx idle; then
            echo "Slurm is up: $(sinfo -h -o '%P %D node(s) %c CPUs %T')"
            echo "export SLURM_CONF=$CONF"
            return 0
        fi
        sleep 1
    done
    echo "Slurm did not come up; see $STATE/slurmctld.log and $STATE/slurmd.log" >&2
    return 1
}

stop() {
    for pidfile in "$STATE/slurmd.pid" "$STATE/slurmctld.pid"; do
        [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    if [ -f "$STATE/munge/ours.pid" ]; then
        kill "$(cat "$STATE/munge/ours.pid")" 2>/dev/null || true
        rm -f "$STATE/munge/ours.pid"
    fi
    echo "Slurm stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    run)
        shift
        start
        trap stop EXIT
        SLURM_CONF="$CONF" "$@"
        ;;
    *) echo "usage: $0 start | stop | run CMD..." >&2; exit 2 ;;
esac
