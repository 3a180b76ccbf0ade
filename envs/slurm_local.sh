#!/usr/bin/env bash
# A single-node Slurm on this machine (controller and compute node on localhost), for trying and
# testing `snakemake --profile profiles/slurm` without a cluster. Needs root (apt-get, daemons).
#   bash envs/slurm_local.sh          # install slurm-wlm + munge if missing, configure, start, wait
#   bash envs/slurm_local.sh stop     # stop the daemons this script started
# Idempotent: when the node already answers `sinfo` as idle, nothing is touched.
# No accounting (no slurmdbd): job states come from squeue, so MinJobAge keeps finished jobs visible.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"  # the daemons live in sbin

CONF=/etc/slurm/slurm.conf
STATE=/var/lib/slurm
LOGS=/var/log/slurm
RUN=/run/slurm
PIDFILES=("$RUN/slurmd.pid" "$RUN/slurmctld.pid" /run/munge/munged.pid)  # stop order
HOST=$(hostname -s)
TIMEOUT=${SLURM_START_TIMEOUT:-60}

MARK="# Written by envs/slurm_local.sh"

# never touch a real cluster's configuration or daemons
check_ours() {
  if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    echo "$CONF was not written by this script: this machine has its own Slurm, use it directly" >&2
    exit 1
  fi
}

node_state() { timeout 10 sinfo -h -N -n "$HOST" -o %t 2>/dev/null | head -1; }

stop() {
  local f pid
  for f in "${PIDFILES[@]}"; do
    [ -s "$f" ] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$f"
  done
  echo "slurm stopped"
}

running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

install() {
  local missing=() p
  for p in slurm-wlm munge; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

configure() {
  mkdir -p /etc/slurm "$STATE/slurmctld" "$STATE/slurmd" "$LOGS" "$RUN" /run/munge
  # `slurmd -C` prints this machine's NodeName/CPUs/sockets/cores/RealMemory line
  local node
  node=$(slurmd -C | head -1)
  cat >"$CONF.tmp" <<EOF
$MARK: one node on localhost, no accounting.
ClusterName=shard-local
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
# no cgroups in containers: track processes by parent id, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# finished jobs stay in squeue this long (an hour: longer than a whole tiny run on a loaded machine): the snakemake
# plugin and tests/test_slurm.py read their final states there
MinJobAge=3600
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=local Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$CONF.tmp" "$CONF"
  [ -s /etc/munge/munge.key ] || mungekey --create --keyfile /etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
  chmod 600 /etc/munge/munge.key
}

start() {
  local state=""
  # (sinfo retries for seconds when no controller runs: ask it only when one does)
  running "$RUN/slurmctld.pid" && state=$(node_state)
  if [ "$state" = idle ] || [ "$state" = mix ]; then
    echo "slurm already up: node $HOST $state"
    return
  fi
  install
  configure
  running /run/munge/munged.pid || runuser -u munge -- munged --pid-file=/run/munge/munged.pid
  running "$RUN/slurmctld.pid" || slurmctld
  running "$RUN/slurmd.pid" || slurmd
  for _ in $(seq "$TIMEOUT"); do
    state=$(node_state)
    case "$state" in
      idle | mix) echo "slurm up: node $HOST $state (partition local)"; return ;;
      # a node left down by an earlier unclean stop is brought back
      down* | drain*) scontrol update NodeName="$HOST" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 1
  done
  echo "slurm did not come up within ${TIMEOUT}s (node state: '${state:-none}'); see $LOGS/" >&2
  tail -n 5 "$LOGS/slurmctld.log" "$LOGS/slurmd.log" >&2 2>/dev/null || true
  exit 1
}

case "${1:-start}" in
  start) check_ours; start ;;
  stop) check_ours; stop ;;
  *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac
