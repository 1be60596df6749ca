#!/usr/bin/env bash
# Starts the real services the tests use, on loopback, in a scratch folder, and
# prints the environment that points the tests at them. Source it:
#   . scripts/services.sh; services_start; ...; services_stop
# Everything listens on 127.0.0.1 only.

: "${ENCLAVE_SERVICES_DIR:=$(mktemp -d /tmp/enclave-services.XXXXXX)}"
: "${ENCLAVE_PG_PORT:=55432}"
# The database servers run as their own users and must reach their folders.
# A folder named in ENCLAVE_SERVICES_DIR is made if it is not there (stopping
# the services removes it).
mkdir -p "$ENCLAVE_SERVICES_DIR"
chmod 755 "$ENCLAVE_SERVICES_DIR"
: "${ENCLAVE_MY_PORT:=53306}"

services_install() {
	local want=(postgresql mariadb-server docker-registry apache2-utils python3-requests skopeo etcd-server chromium)
	local missing=()
	for p in "${want[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "installing: ${missing[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
}

start_postgres() {
	local pgbin data
	pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
	data=$ENCLAVE_SERVICES_DIR/pg
	mkdir -p "$data" && chown postgres:postgres "$data"
	echo secret >"$ENCLAVE_SERVICES_DIR/pgpw" && chown postgres "$ENCLAVE_SERVICES_DIR/pgpw"
	runuser -u postgres -- "$pgbin/initdb" -D "$data" -U postgres --pwfile="$ENCLAVE_SERVICES_DIR/pgpw" \
		--auth-local=trust --auth-host=scram-sha-256 --no-sync -E UTF8 >/dev/null
	runuser -u postgres -- "$pgbin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 30 \
		-o "-c listen_addresses=127.0.0.1 -p $ENCLAVE_PG_PORT -k /tmp -c fsync=off -c max_connections=300" start >/dev/null
	runuser -u postgres -- psql -q -h /tmp -p "$ENCLAVE_PG_PORT" \
		-c "CREATE USER enclave PASSWORD 'secret' CREATEDB" -c "CREATE DATABASE enclave OWNER enclave" >/dev/null
	export ENCLAVE_TEST_POSTGRES_URL="postgresql://enclave:secret@127.0.0.1:$ENCLAVE_PG_PORT/enclave"
}

stop_postgres() {
	local pgbin
	pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
	[ -d "$ENCLAVE_SERVICES_DIR/pg" ] && runuser -u postgres -- "$pgbin/pg_ctl" -D "$ENCLAVE_SERVICES_DIR/pg" -m fast -w stop >/dev/null 2>&1
	return 0
}

start_mariadb() {
	local my=$ENCLAVE_SERVICES_DIR/my
	mkdir -p "$my" && chown mysql:mysql "$my"
	mariadb-install-db --user=mysql --datadir="$my" --auth-root-authentication-method=socket --skip-test-db >/dev/null
	mariadbd --no-defaults --user=mysql --datadir="$my" --bind-address=127.0.0.1 --port="$ENCLAVE_MY_PORT" \
		--socket="$my/mysqld.sock" --pid-file="$my/mysqld.pid" --skip-name-resolve \
		--innodb-flush-log-at-trx-commit=0 --max-connections=400 --log-error="$my/err.log" >/dev/null 2>&1 &
	for _ in $(seq 1 60); do
		mariadb-admin --no-defaults -uroot --socket="$my/mysqld.sock" ping >/dev/null 2>&1 && break
		sleep 0.5
	done
	mariadb --no-defaults -uroot --socket="$my/mysqld.sock" -e "CREATE DATABASE enclave;
		CREATE USER 'enclave'@'127.0.0.1' IDENTIFIED BY 'secret';
		GRANT ALL ON *.* TO 'enclave'@'127.0.0.1';"
	export ENCLAVE_TEST_MYSQL_URL="mysql://enclave:secret@127.0.0.1:$ENCLAVE_MY_PORT/enclave"
}

stop_mariadb() {
	local my=$ENCLAVE_SERVICES_DIR/my
	[ -S "$my/mysqld.sock" ] && mariadb-admin --no-defaults -uroot --socket="$my/mysqld.sock" shutdown >/dev/null 2>&1
	return 0
}

services_start() {
	start_postgres
	start_mariadb
}

services_stop() {
	stop_postgres
	stop_mariadb
	rm -rf "$ENCLAVE_SERVICES_DIR"
}
