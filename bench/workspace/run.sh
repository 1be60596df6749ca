#!/usr/bin/env bash
# Builds enclave and measures its workspace server at a million runs, on
# SQLite and on PostgreSQL (BENCH_DBS="sqlite postgresql mysql" adds
# MariaDB), with the server on core 0 and the load on core 1; then the RBAC
# cache's hot path. Arguments go to the bench program (-runs, -n, -t, -c,
# -list-c, -reuse DIR, -profile DIR). PostgreSQL and MariaDB are started
# here on ports of their own in a scratch folder, or in BENCH_PG_DATA and
# BENCH_MY_DATA to keep what was filled for the next run (with -reuse
# pointing at a folder of its own), and stopped on exit. BENCH_PG_OPTS adds
# settings to PostgreSQL's command line (say, "-c
# shared_preload_libraries=pg_stat_statements" to see what each statement
# costs it).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${BENCH_PG_PORT:=55491}"
: "${BENCH_MY_PORT:=53491}"
dbs=${BENCH_DBS:-"sqlite postgresql"}
work=$(mktemp -d /tmp/bench-workspace.XXXXXX)
chmod 755 "$work"
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

pgdata=${BENCH_PG_DATA:-$work/pg}
mydata=${BENCH_MY_DATA:-$work/my}

# The kernel's autogroup gives every session a scheduling group of its own,
# and every PostgreSQL process starts a session: on the server's core each
# backend then competes as a group against the whole server, and now and
# then waited 0.5–2 s for the CPU (perf sched latency) while its request
# waited with it. Autogroup applies only to processes in the root cgroup, so
# a database run as a service (systemd, a container) is not affected; here
# it is switched off for the run and set back on exit.
autogroup=/proc/sys/kernel/sched_autogroup_enabled
autogroup_was=
if [ -w "$autogroup" ] && [ "$(cat "$autogroup")" = 1 ]; then
	autogroup_was=1
	echo 0 >"$autogroup"
	echo "kernel autogroup switched off for the run (see bench/workspace/run.sh)"
fi

stop_pg() {
	if [ -f "$pgdata/postmaster.pid" ]; then
		runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null 2>&1 || true
	fi
}

stop_my() {
	if [ -S "$mydata/mysqld.sock" ]; then
		mariadb-admin --no-defaults -uroot --socket="$mydata/mysqld.sock" shutdown >/dev/null 2>&1 || true
	fi
}

cleanup() {
	stop_pg
	stop_my
	[ -n "$autogroup_was" ] && echo 1 >"$autogroup"
	rm -rf "$work"
}
trap cleanup EXIT

start_pg() {
	local fresh=
	if [ ! -f "$pgdata/PG_VERSION" ]; then
		fresh=1
		mkdir -p "$pgdata" && chown postgres:postgres "$pgdata"
		runuser -u postgres -- "$pgbin/initdb" -D "$pgdata" -U postgres --auth-local=trust \
			--auth-host=trust --no-sync -E UTF8 >/dev/null
	fi
	# Settings of a small dedicated server; fsync stays on, as in production.
	# Pinned with the workspace server by default (BENCH_PG_CPUS=0):
	# everything serving is on core 0. BENCH_PG_CPUS=0,1 lets it run on
	# either core, as a database on a machine of its own would not compete
	# with the server.
	taskset -c "${BENCH_PG_CPUS:-0}" runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -p $BENCH_PG_PORT -k $pgdata -c shared_buffers=512MB \
		    -c max_wal_size=4GB -c synchronous_commit=on ${BENCH_PG_OPTS:-}" start >/dev/null
	if [ -n "$fresh" ]; then
		runuser -u postgres -- psql -q -h "$pgdata" -p "$BENCH_PG_PORT" \
			-c "CREATE USER enclave" -c "CREATE DATABASE enclave OWNER enclave" \
			-c "GRANT pg_checkpoint TO enclave" >/dev/null
	fi
}

# MariaDB as PostgreSQL above (pinned with the server unless BENCH_MY_CPUS
# says otherwise): durable commits, a buffer pool as large as
# PostgreSQL's shared buffers, and reads through the page cache as
# PostgreSQL's are (MariaDB reads around it by default), so that both find
# the store where the bench leaves it.
start_my() {
	local fresh=
	if [ ! -d "$mydata/mysql" ]; then
		fresh=1
		mkdir -p "$mydata" && chown mysql:mysql "$mydata"
		mariadb-install-db --user=mysql --datadir="$mydata" --auth-root-authentication-method=socket \
			--skip-test-db >/dev/null
	fi
	taskset -c "${BENCH_MY_CPUS:-0}" mariadbd --no-defaults --user=mysql --datadir="$mydata" \
		--bind-address=127.0.0.1 --port="$BENCH_MY_PORT" --socket="$mydata/mysqld.sock" \
		--pid-file="$mydata/mysqld.pid" --skip-name-resolve --log-error="$mydata/err.log" \
		--innodb-buffer-pool-size=512M --innodb-log-file-size=1G --innodb-flush-log-at-trx-commit=1 \
		--innodb-flush-method=fsync >/dev/null 2>&1 &
	for _ in $(seq 1 120); do
		mariadb-admin --no-defaults -uroot --socket="$mydata/mysqld.sock" ping >/dev/null 2>&1 && break
		sleep 0.5
	done
	if [ -n "$fresh" ]; then
		mariadb --no-defaults -uroot --socket="$mydata/mysqld.sock" -e "CREATE DATABASE enclave;
			CREATE USER 'enclave'@'127.0.0.1' IDENTIFIED BY 'bench'; GRANT ALL ON enclave.* TO 'enclave'@'127.0.0.1';"
	fi
}

CGO_ENABLED=0 go build -o "$work/enclave" ./cmd/enclave
go build -o "$work/bench" ./bench/workspace
for db in $dbs; do
	args=(-enclave "$work/enclave" -db "$db" -server-cpu 0)
	case $db in
	postgresql)
		start_pg
		args+=(-url "postgresql://enclave@127.0.0.1:$BENCH_PG_PORT/enclave" -warm-files "$pgdata/base")
		;;
	mysql)
		start_my
		args+=(-url "mysql://enclave:bench@127.0.0.1:$BENCH_MY_PORT/enclave" -warm-files "$mydata")
		;;
	esac
	taskset -c 1 "$work/bench" "${args[@]}" "$@"
	case $db in
	postgresql) stop_pg ;;
	mysql) stop_my ;;
	esac
done
echo
echo "RBAC decision on the hot path (cached, no call to the control plane):"
go test -run '^$' -bench 'BenchmarkRBACCacheHit' -benchtime 1s ./internal/workspace | grep Benchmark
