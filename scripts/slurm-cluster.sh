#!/usr/bin/env bash
# A single-node SLURM cluster with accounting, on 127.0.0.1 only, for testing the
# workflow's SLURM profile for real. Needs root and Debian's packages.
#
#   scripts/slurm-cluster.sh start   install what is missing, configure, start munge,
#                                    MariaDB, slurmdbd, slurmctld and slurmd
#   scripts/slurm-cluster.sh stop    stop the daemons this script started, by PID
#
# Configuration goes to /etc/slurm (the executor plugin's job steps drop SLURM_CONF);
# state, logs and PID files to $SLURM_TEST_STATE (default /tmp/weightmom-slurm).
set -euo pipefail

STATE=${SLURM_TEST_STATE:-/tmp/weightmom-slurm}
PACKAGES="slurmctld slurmd slurmdbd slurm-client munge mariadb-server"
MARKER="# Written by weightmom's scripts/slurm-cluster.sh start; removed by its stop."

log() { echo "slurm-cluster: $*" >&2; }

install_packages() {
    local missing=""
    for p in $PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
    [ -z "$missing" ] && return 0
    log "installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends $missing >/dev/null
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local seconds=$1 what=$2; shift 2
    for _ in $(seq $((seconds * 4))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
    log "timed out waiting for $what"; return 1
}

start_daemon() {  # start_daemon NAME COMMAND...: run in the background, remember its PID
    local name=$1; shift
    "$@" >"$STATE/$name.out" 2>&1 &
    echo $! >"$STATE/$name.pid"
}

write_config() {
    local host cpus memory
    host=$(hostname -s)
    cpus=$(nproc)
    memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
    mkdir -p /etc/slurm "$STATE/spool/ctld" "$STATE/spool/d" "$STATE/log"
    cat >/etc/slurm/slurm.conf <<CONF
$MARKER
ClusterName=weightmom-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/d
SlurmctldPidFile=$STATE/slurmctld.pidfile
SlurmdPidFile=$STATE/slurmd.pidfile
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
MinJobAge=600
InactiveLimit=0
KillWait=10
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    cat >/etc/slurm/slurmdbd.conf <<CONF
$MARKER
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
PidFile=$STATE/slurmdbd.pidfile
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3307
StorageUser=slurm
StoragePass=weightmom-test
StorageLoc=slurm_acct_db
CONF
    chmod 600 /etc/slurm/slurmdbd.conf
}

start() {
    [ "$(id -u)" = 0 ] || { log "needs root"; exit 2; }
    install_packages
    mkdir -p "$STATE"
    write_config

    mkdir -p /run/munge && chown munge:munge /run/munge
    start_daemon munged /usr/sbin/munged --foreground --force
    wait_for 20 munge munge -n

    # MariaDB runs as its own user, which may not enter $STATE: its files live in /run/mysqld.
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    local db=/run/mysqld/weightmom-test-db
    if [ ! -d "$db/mysql" ]; then
        mkdir -p "$db" && chown mysql:mysql "$db"
        mariadb-install-db --user=mysql --datadir="$db" --auth-root-authentication-method=socket >/dev/null 2>&1
    fi
    local socket=/run/mysqld/weightmom-test.sock
    start_daemon mariadbd /usr/sbin/mariadbd --user=mysql --datadir="$db" --bind-address=127.0.0.1 \
        --port=3307 --socket="$socket" --pid-file=/run/mysqld/weightmom-test.pid
    wait_for 60 MariaDB mariadb --socket="$socket" -e "SELECT 1"
    mariadb --socket="$socket" -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'weightmom-test';
        CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'weightmom-test';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"

    start_daemon slurmdbd /usr/sbin/slurmdbd -D
    wait_for 60 slurmdbd sacctmgr -n list cluster
    sacctmgr -i add cluster weightmom-test >/dev/null 2>&1 || true
    sacctmgr -i add account weightmom Description=tests Organization=weightmom >/dev/null 2>&1 || true
    sacctmgr -i add user root Account=weightmom DefaultAccount=weightmom >/dev/null 2>&1 || true

    start_daemon slurmctld /usr/sbin/slurmctld -D -i
    wait_for 60 slurmctld scontrol ping
    start_daemon slurmd /usr/sbin/slurmd -D
    wait_for 60 "an idle node" bash -c 'sinfo -h -o %t | grep -q idle'
    log "up: $(sinfo -h -o '%P %D %t %c CPUs')"
}

stop() {
    for name in slurmd slurmctld slurmdbd mariadbd munged; do
        local pidfile="$STATE/$name.pid"
        [ -f "$pidfile" ] || continue
        local pid; pid=$(cat "$pidfile")
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
            kill -9 "$pid" 2>/dev/null || true
        fi
        rm -f "$pidfile"
    done
    # A slurm.conf naming a controller that no longer runs makes every scontrol call wait
    # 10 s, and the SLURM executor plugin calls it whenever Snakemake starts.
    for conf in /etc/slurm/slurm.conf /etc/slurm/slurmdbd.conf; do
        if [ -f "$conf" ] && grep -qxF "$MARKER" "$conf"; then rm -f "$conf"; fi
    done
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
