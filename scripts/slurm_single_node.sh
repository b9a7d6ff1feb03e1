#!/usr/bin/env bash
# Start (or stop) a real single-node SLURM cluster on this machine, for trying the
# profiles/slurm profile locally and for the SLURM workflow test.
#   scripts/slurm_single_node.sh start   # installs packages if missing, starts daemons
#   scripts/slurm_single_node.sh stop    # stops exactly the daemons it started
# Needs root, Debian packages munge slurmctld slurmd slurm-client (SLURM 22.05).
# Once it runs, any user may submit (the tests submit as the ordinary user llmr-ci).
set -euo pipefail
STATE=/var/spool/llmr-slurm
PIDS=$STATE/pids

start() {
  if command -v srun >/dev/null && timeout 10 srun -N1 true 2>/dev/null; then
    echo "slurm already running"
    return 0
  fi
  stop  # daemons left from an earlier start of this script
  if ! command -v slurmctld >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      munge slurmctld slurmd slurm-client >/dev/null
  fi
  mkdir -p "$STATE" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /etc/munge /run/munge
  host=$(hostname -s)
  hw=$(slurmd -C | head -n 1 | sed -e "s/NodeName=[^ ]*/NodeName=$host NodeAddr=127.0.0.1/" \
       -e 's/ UpTime=.*//')
  cat > /etc/slurm/slurm.conf <<CONF
ClusterName=ci
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=300
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmUser=root
$hw
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
  chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
  chmod 400 /etc/munge/munge.key
  : > "$PIDS"
  su -s /bin/sh munge -c "munged --force" && pgrep -n munged >> "$PIDS"
  slurmctld && sleep 1 && pgrep -n slurmctld >> "$PIDS"
  slurmd && sleep 1 && pgrep -n slurmd >> "$PIDS"
  for _ in $(seq 1 60); do
    if timeout 10 srun -N1 true 2>/dev/null; then echo "slurm ready"; return 0; fi
    sleep 1
  done
  echo "slurm did not become ready" >&2
  return 1
}

stop() {
  [ -f "$PIDS" ] || return 0
  # kill only processes that are still our daemons (a stale PID may belong to anything)
  tac "$PIDS" | while read -r pid; do
    case "$(ps -o comm= -p "$pid" 2>/dev/null)" in
      munged|slurmctld|slurmd) kill "$pid" 2>/dev/null || true ;;
    esac
  done
  sleep 1
  rm -f "$PIDS" /run/slurmctld.pid /run/slurmd.pid
}

"${1:-start}"
