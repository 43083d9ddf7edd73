#!/usr/bin/env bash
# A streaming read replica of the local PostgreSQL 15 primary (Debian's
# cluster "15 main" on 127.0.0.1:5432), for REDPOINT_DATABASE_REPLICA_URL
# and the tests against real services (`make test-real`, .ci/run):
# a hot standby on 127.0.0.1:5433, its data in
# /var/lib/postgresql/redpoint-replica, owned by postgres, fed through the
# physical replication slot "redpoint_replica" so the primary keeps the WAL
# it has not received yet.
#
# Idempotent: a run makes what is missing — the replication line in the
# primary's pg_hba.conf, the base backup, the slot — starts the replica if
# it is not running (after a reboot too: the data dir stays), and waits
# until it answers, is in recovery and the primary shows it streaming.
# Run it as root (it runs PostgreSQL's tools as postgres).
#
# Prints the replica's URL on stdout, its only line (messages go to stderr):
#
#   export REDPOINT_TEST_DATABASE_REPLICA_URL=$(scripts/pg-replica.sh)
#
# `scripts/pg-replica.sh stop` stops the replica and removes its data dir
# and the slot.
set -euo pipefail

bin=/usr/lib/postgresql/15/bin
host=127.0.0.1
primary_port=5432
port=5433
dir=/var/lib/postgresql/redpoint-replica
slot=redpoint_replica
log=/var/log/postgresql/redpoint-replica.log
url="postgres://postgres@$host:$port/test?sslmode=disable"

say() { echo "pg-replica: $*" >&2; }
as_postgres() { (cd / && runuser -u postgres -- "$@"); }
primary() { psql -h "$host" -p "$primary_port" -U postgres -d postgres -XAtqc "$1"; }
replica() { psql -h "$host" -p "$port" -U postgres -d postgres -XAtqc "$1" 2>/dev/null; }
running() { [ -d "$dir" ] && as_postgres "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; }

if [ "$(id -u)" -ne 0 ]; then
  say "run me as root (I run PostgreSQL's tools as postgres)"
  exit 1
fi

if [ "${1:-}" = stop ]; then
  if running; then
    say "stopping the replica on $host:$port"
    as_postgres "$bin/pg_ctl" -D "$dir" -w -t 60 stop -m fast >&2
  fi
  rm -rf "$dir" "$dir.new"
  if [ "$(primary "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot'")" != 0 ]; then
    primary "SELECT pg_drop_replication_slot('$slot')" >/dev/null
    say "dropped the slot $slot"
  fi
  exit 0
elif [ $# -gt 0 ]; then
  say "usage: $0 [stop]"
  exit 2
fi

if ! primary "SELECT 1" >/dev/null; then
  say "the primary on $host:$primary_port does not answer"
  exit 1
fi

# pg_basebackup and the replica's WAL receiver connect for replication.
hba=$(primary "SHOW hba_file")
if ! grep -Eq '^host[[:space:]]+replication[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
  say "allowing replication from $host in $hba"
  echo "host replication all 127.0.0.1/32 trust" >>"$hba"
  primary "SELECT pg_reload_conf()" >/dev/null
fi

slot_exists() { [ "$(primary "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot'")" != 0 ]; }

if [ ! -d "$dir" ]; then
  # A slot left by a backup that died: the new backup makes its own.
  if slot_exists; then
    primary "SELECT pg_drop_replication_slot('$slot')" >/dev/null
  fi
  say "taking a base backup into $dir (slot $slot)"
  rm -rf "$dir.new"
  install -d -o postgres -g postgres -m 0700 "$dir.new"
  as_postgres "$bin/pg_basebackup" -h "$host" -p "$primary_port" -U postgres -D "$dir.new" \
    -R -X stream -C -S "$slot" --checkpoint=fast >&2
  # Debian keeps the primary's configuration in /etc, out of the backup:
  # the replica gets its own. The settings a hot standby must not have
  # below the primary's are copied from it.
  {
    echo "# Written by scripts/pg-replica.sh: redpoint's read replica."
    echo "port = $port"
    echo "listen_addresses = '$host'"
    echo "unix_socket_directories = '/var/run/postgresql'"
    echo "hba_file = '$dir/pg_hba.conf'"
    echo "ident_file = '$dir/pg_ident.conf'"
    echo "hot_standby = on"
    # Tell the primary what the replica's queries still read, so its
    # vacuum does not cancel a long report here.
    echo "hot_standby_feedback = on"
    # And say so each second rather than every ten: the scale seed's
    # VACUUM waits for the replica's horizon to pass its commit.
    echo "wal_receiver_status_interval = 1s"
    for s in max_connections max_worker_processes max_wal_senders max_prepared_transactions max_locks_per_transaction; do
      echo "$s = $(primary "SHOW $s")"
    done
  } >"$dir.new/postgresql.conf"
  printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' >"$dir.new/pg_hba.conf"
  : >"$dir.new/pg_ident.conf"
  chown postgres:postgres "$dir.new/postgresql.conf" "$dir.new/pg_hba.conf" "$dir.new/pg_ident.conf"
  chmod 0600 "$dir.new/postgresql.conf" "$dir.new/pg_hba.conf" "$dir.new/pg_ident.conf"
  mv "$dir.new" "$dir"
elif ! slot_exists; then
  # The data dir outlived its slot (dropped by hand): reserve WAL again
  # from now; if the primary already recycled WAL the replica needs, the
  # wait below fails and says how to start over.
  say "re-creating the slot $slot"
  primary "SELECT pg_create_physical_replication_slot('$slot', true)" >/dev/null
fi

if ! running; then
  say "starting the replica on $host:$port (log $log)"
  [ -e "$log" ] || install -o postgres -g postgres -m 0640 /dev/null "$log"
  as_postgres "$bin/pg_ctl" -D "$dir" -l "$log" -w -t 120 start >&2
fi

# A test run that died while it held replay paused (storetest.PauseReplay)
# would leave the replica standing still.
replica "SELECT pg_wal_replay_resume()" >/dev/null || true

deadline=$((SECONDS + 120))
until [ "$(replica "SELECT pg_is_in_recovery()")" = t ] &&
  [ "$(primary "SELECT count(*) FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = '$slot' AND r.state = 'streaming'")" != 0 ]; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    say "the replica is not streaming from the primary after 120 s; its log ($log):"
    tail -30 "$log" >&2 || true
    say "to start over: $0 stop && $0"
    exit 1
  fi
  sleep 0.5
done
say "streaming: $(primary "SELECT 'replay lag ' || coalesce(replay_lag::text, '0') FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = '$slot'")"
echo "$url"
