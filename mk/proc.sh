# Sourced by the demo and the cross-language tests: start a server process
# and wait for its `ready` line; stop it and check it shut down cleanly.

# start_server LOG CMD...: sets SERVER_PID once CMD printed ^ready.
start_server() {
	local log=$1
	shift
	"$@" >"$log" 2>&1 &
	SERVER_PID=$!
	for _ in $(seq 1 600); do
		grep -q '^ready' "$log" 2>/dev/null && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log"; return 1; }
		sleep 0.1
	done
	echo "server did not become ready: $*"
	cat "$log"
	return 1
}

# stop_server: SIGTERM, then its exit status.
stop_server() {
	[ -n "${SERVER_PID:-}" ] || return 0
	kill -TERM "$SERVER_PID" 2>/dev/null || true
	local rc=0
	wait "$SERVER_PID" || rc=$?
	SERVER_PID=
	return $rc
}
