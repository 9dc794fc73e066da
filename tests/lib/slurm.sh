#!/bin/sh
# slurm.sh - a one-node Slurm cluster on this machine, for the tests.
#
#   sh tests/lib/slurm.sh start     munged, slurmctld and slurmd, as root, in
#                                   their foreground modes, with a config and
#                                   state under a fresh temporary folder
#   sh tests/lib/slurm.sh stop      cancel every job, stop the daemons by pid,
#                                   remove the folder
#   sh tests/lib/slurm.sh status    is it up? (exit 0 when the node is usable)
#
# `start` writes build/slurm.env (SLURM_CONF=... and the folder); tests read
# it, or SLURM_CONF from the environment, to find the cluster. Needs Debian's
# slurmctld, slurmd, slurm-client and munge (make deps) and root. Nothing is
# started or stopped through init scripts, and only the pids recorded here are
# ever signalled.
#
# Why each setting: proctrack/linuxproc and task/none need no cgroups,
# accounting_storage/none no database (so sacct does not work: job states come
# from `scontrol show job` or the jobcomp/filetxt file, jobcomp.txt);
# kill_invalid_depend cancels a job whose dependency can no longer be met (an
# array task failed) instead of leaving it pending for ever; batch_sched_delay=0
# starts the next wave of array tasks at once; CR_CPU makes only CPUs a
# consumable resource, so jobs without --mem do not each take the whole node.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ENVFILE=$ROOT/build/slurm.env

die() { echo "slurm.sh: $*" >&2; exit 1; }

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# alive PIDFILE: the process recorded there is running.
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

node_state() { SLURM_CONF=$1/slurm.conf sinfo -h -o %T 2>/dev/null | head -n 1; }

start() {
	[ "$(id -u)" = 0 ] || die "must run as root (slurmd starts jobs as their user)"
	for c in munged slurmctld slurmd sbatch scontrol sinfo; do
		command -v $c >/dev/null || die "$c not found (make deps installs munge, slurmctld, slurmd, slurm-client)"
	done
	if [ -s "$ENVFILE" ]; then
		. "$ENVFILE"
		if alive "$SLURM_DIR/slurmctld.pid.own"; then die "already running ($SLURM_DIR); stop it first"; fi
		# a cluster whose controller died: stop what is left of it
		case $SLURM_DIR in */aedcurate-slurm.*) stop_dir "$SLURM_DIR" ;; esac
	fi
	mkdir -p "$ROOT/build"
	D=$(mktemp -d "${TMPDIR:-/tmp}/aedcurate-slurm.XXXXXX") || die "mktemp failed"
	# munged refuses a socket folder others can write to, and (without -f)
	# any group-writable folder above its files.
	chmod 755 "$D"
	mkdir -p "$D/munge" "$D/state" "$D/spool" "$D/log"
	chmod 755 "$D/munge"
	dd if=/dev/urandom of="$D/munge/munge.key" bs=1024 count=1 2>/dev/null
	chmod 400 "$D/munge/munge.key"
	node=$(slurmd -C | head -n 1) || die "slurmd -C failed"
	name=$(echo "$node" | sed 's/^NodeName=\([^ ]*\).*/\1/')
	p1=$(free_port); p2=$(free_port)
	while [ "$p2" = "$p1" ]; do p2=$(free_port); done
	cat >"$D/slurm.conf" <<EOF
# a one-node test cluster written by tests/lib/slurm.sh
ClusterName=aedtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$p1
SlurmdPort=$p2
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$D/munge/munge.socket.2
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$D/jobcomp.txt
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
DependencyParameters=kill_invalid_depend
SchedulerParameters=batch_sched_delay=0
MpiDefault=none
ReturnToService=2
MinJobAge=600
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$name Default=YES MaxTime=INFINITE State=UP
EOF
	munged -F -f --socket="$D/munge/munge.socket.2" --key-file="$D/munge/munge.key" \
		--pid-file="$D/munge/munged.pid" --log-file="$D/log/munged.log" \
		--seed-file="$D/munge/munge.seed" >"$D/log/munged.out" 2>&1 &
	echo $! >"$D/munged.pid"
	i=0; while [ ! -S "$D/munge/munge.socket.2" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -S "$D/munge/munge.socket.2" ] || { cat "$D/log/munged.out" >&2; stop_dir "$D"; die "munged did not start"; }
	slurmctld -D -f "$D/slurm.conf" >"$D/log/slurmctld.out" 2>&1 &
	echo $! >"$D/slurmctld.pid.own"
	slurmd -D -f "$D/slurm.conf" -N "$name" >"$D/log/slurmd.out" 2>&1 &
	echo $! >"$D/slurmd.pid.own"
	printf 'SLURM_CONF=%s\nSLURM_DIR=%s\n' "$D/slurm.conf" "$D" >"$ENVFILE"
	i=0
	while [ $i -lt 300 ]; do
		case $(node_state "$D") in idle*) break ;; esac
		alive "$D/slurmctld.pid.own" && alive "$D/slurmd.pid.own" || break
		sleep 0.1; i=$((i + 1))
	done
	case $(node_state "$D") in
	idle*) echo "slurm up in $D: node $name idle (export SLURM_CONF=$D/slurm.conf)" ;;
	*) tail -n 20 "$D"/log/*.out "$D"/log/*.log >&2; stop_dir "$D"; rm -f "$ENVFILE"; die "the node did not come up" ;;
	esac
}

# stop_dir D: cancel every job, stop slurmd, slurmctld and munged by pid.
stop_dir() {
	D=$1
	if alive "$D/slurmctld.pid.own"; then
		SLURM_CONF=$D/slurm.conf scancel --user="$(id -un)" 2>/dev/null
		i=0
		while [ $i -lt 100 ] && [ -n "$(SLURM_CONF=$D/slurm.conf squeue -h 2>/dev/null)" ]; do
			sleep 0.1; i=$((i + 1))
		done
	fi
	for f in slurmd.pid.own slurmctld.pid.own munged.pid; do
		[ -s "$D/$f" ] || continue
		p=$(cat "$D/$f")
		# only the daemon started here, not a process that took its pid since
		[ "$(cat /proc/"$p"/comm 2>/dev/null)" = "${f%%.*}" ] || continue
		kill "$p" 2>/dev/null || continue
		i=0; while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
		kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null
	done
	rm -rf "$D"
}

stop() {
	[ -s "$ENVFILE" ] || { echo "slurm.sh: not running (no $ENVFILE)"; return 0; }
	. "$ENVFILE"
	case $SLURM_DIR in */aedcurate-slurm.*) ;; *) die "unexpected folder in $ENVFILE: $SLURM_DIR" ;; esac
	stop_dir "$SLURM_DIR"
	rm -f "$ENVFILE"
	echo "slurm stopped"
}

status() {
	[ -s "$ENVFILE" ] || { echo "not running"; return 1; }
	. "$ENVFILE"
	s=$(node_state "$SLURM_DIR")
	echo "${s:-down} ($SLURM_DIR)"
	case $s in idle*|mix*|alloc*) return 0 ;; *) return 1 ;; esac
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) status ;;
*) echo "usage: sh tests/lib/slurm.sh start|stop|status" >&2; exit 2 ;;
esac
