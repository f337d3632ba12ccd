#!/usr/bin/env bash
# A single-node Slurm for the Slurm test (workflows: TestSlurmSweep): installs slurm-wlm and munge
# (Debian), writes a minimal slurm.conf naming this host, starts munged, slurmctld and slurmd,
# and waits until sinfo shows the node idle. Needs root. Idempotent: a running cluster is left as is.
# Prints exactly what failed; the test skips with that reason when the daemons are not up.
set -uo pipefail
log() { echo "slurm-setup: $*" >&2; }
if [ "$(id -u)" != 0 ]; then log "not root: cannot install or start Slurm"; exit 1; fi
if sinfo -h -o '%T' 2>/dev/null | grep -qx idle; then log "already up: $(sinfo -h -o '%N %T')"; exit 0; fi
export DEBIAN_FRONTEND=noninteractive
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  lock=/work/wt/apt.lock; [ -w "$(dirname "$lock")" ] || lock=/tmp/apt.lock
  flock "$lock" apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null \
    || { flock "$lock" apt-get update -qq && flock "$lock" apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null; } \
    || { log "apt-get install slurm-wlm munge failed"; exit 1; }
fi
host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ {print int($2/1024*0.8)}' /proc/meminfo)
conf=/etc/slurm/slurm.conf
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge /var/lib/munge /var/log/munge /etc/munge
cat >"$conf" <<CONF
# written by biopipe .ci/slurm-setup.sh: one node, no accounting storage
ClusterName=biopipe-ci
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
MaxArraySize=1001
MinJobAge=3600
ReturnToService=2
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
# slurmd loads a cgroup plugin even with proctrack/linuxproc: "disabled" exists from Slurm 23.02;
# older ones (Debian 12: 22.05) get cgroup/v1 or v2, whichever this host (or container) mounts.
major=$(slurmd -V | awk '{split($2, v, "."); print v[1]}')
if [ "${major:-0}" -ge 23 ]; then plugin=disabled
elif [ -d /sys/fs/cgroup/memory ]; then plugin=cgroup/v1
else plugin=cgroup/v2; fi
printf 'CgroupPlugin=%s\nIgnoreSystemd=yes\n' "$plugin" >/etc/slurm/cgroup.conf
if [ ! -s /etc/munge/munge.key ]; then
  if command -v mungekey >/dev/null; then mungekey --create --force >/dev/null 2>&1; else dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; fi
fi
chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge 2>/dev/null
chmod 0700 /etc/munge; chmod 0400 /etc/munge/munge.key
pgrep -x munged >/dev/null || { runuser -u munge -- munged 2>/dev/null || munged --force 2>/dev/null || { log "munged did not start"; exit 1; }; }
pgrep -x slurmctld >/dev/null || slurmctld || { log "slurmctld did not start: $(tail -3 /var/log/slurm/slurmctld.log 2>/dev/null)"; exit 1; }
pgrep -x slurmd >/dev/null || slurmd || { log "slurmd did not start: $(tail -3 /var/log/slurm/slurmd.log 2>/dev/null)"; exit 1; }
for i in $(seq 1 60); do
  state=$(sinfo -h -o '%T' 2>/dev/null | head -1)
  case "$state" in
    idle) log "up: $(sinfo -h -o '%N %c CPUs %m MB %T')"; exit 0 ;;
    down*|drain*) scontrol update nodename="$host" state=resume >/dev/null 2>&1 ;;
  esac
  sleep 1
done
log "node not idle after 60 s (state: ${state:-none}); slurmctld log: $(tail -3 /var/log/slurm/slurmctld.log 2>/dev/null); slurmd log: $(tail -3 /var/log/slurm/slurmd.log 2>/dev/null)"
exit 1
