#!/usr/bin/env bash
# pg.sh start|stop|url DIR — a private PostgreSQL cluster in DIR, reachable
# only through a Unix socket in DIR/run (no TCP). PostgreSQL refuses to run as
# root, so as root the cluster belongs to the "postgres" system user.
set -euo pipefail

cmd=${1:?usage: pg.sh start|stop|url DIR}
dir=$(mkdir -p "${2:?usage: pg.sh start|stop|url DIR}" && cd "$2" && pwd)
data=$dir/data
run=$dir/run

# find_bin prints the binaries of the cluster's own major version if it
# exists, else of the newest installed PostgreSQL.
find_bin() {
	local d
	if [ -s "$data/PG_VERSION" ] && [ -x "/usr/lib/postgresql/$(cat "$data/PG_VERSION")/bin/pg_ctl" ]; then
		echo "/usr/lib/postgresql/$(cat "$data/PG_VERSION")/bin"
		return
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[ -x "$d/pg_ctl" ] && { echo "$d"; return; }
	done
	command -v pg_ctl >/dev/null 2>&1 && dirname "$(command -v pg_ctl)"
}

install_pg() {
	echo "pg.sh: PostgreSQL binaries not found; installing them with apt-get" >&2
	local sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || { echo "pg.sh: run as root, or install PostgreSQL 15 (apt-get install postgresql) first" >&2; exit 1; }
		sudo=sudo
	fi
	$sudo apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >&2
}

as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		# runuser keeps the environment small and needs no password.
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

url() {
	echo "postgres:///tma?host=$run&user=tma&sslmode=disable"
}

case $cmd in
start)
	bin=$(find_bin || true)
	if [ -z "$bin" ]; then install_pg; bin=$(find_bin); fi
	if [ "$(id -u)" -eq 0 ]; then
		id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/false postgres
		chown postgres "$dir"
		# The postgres user must be able to reach DIR: give "others" search
		# (x, not read) permission on the parents that lack it, and say so.
		p=$dir
		while [ "$p" != / ]; do
			p=$(dirname "$p")
			if ! runuser -u postgres -- test -x "$p" 2>/dev/null; then
				echo "pg.sh: allowing the postgres user to pass through $p (chmod o+x)" >&2
				chmod o+x "$p"
			fi
		done
	fi
	chmod 0700 "$dir"
	if [ ! -s "$data/PG_VERSION" ]; then
		as_owner "$bin/initdb" -D "$data" -U tma --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
			|| { cat "$dir/initdb.log" >&2; exit 1; }
	fi
	as_owner mkdir -p "$run"
	if ! as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		as_owner "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 start \
			-o "-c listen_addresses='' -c unix_socket_directories='$run' -c unix_socket_permissions=0700 -c fsync=${PG_FSYNC:-on} -c max_connections=200" >/dev/null \
			|| { tail -20 "$dir/postgres.log" >&2; exit 1; }
	fi
	# The application database.
	if ! as_owner "$bin/psql" -h "$run" -U tma -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='tma'" | grep -q 1; then
		as_owner "$bin/createdb" -h "$run" -U tma tma
	fi
	url
	;;
stop)
	bin=$(find_bin || true)
	if [ -n "$bin" ] && [ -s "$data/PG_VERSION" ]; then
		as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	;;
url)
	url
	;;
*)
	echo "usage: pg.sh start|stop|url DIR" >&2
	exit 2
	;;
esac
