# tests/serve/server.sh — sourced by serve_test.sh and check_test.sh: llamaref serve on 127.0.0.1.
# Needs $bin (the CLI), $tmp (a folder), $pid (empty, or the running server's) and fail().
#
# start_server ARGS...: llamaref serve on a free port of 127.0.0.1 (--port 0; the port is read from
# its log into $port and $url); a server started before is stopped first.
start_server() {
  [ -n "$pid" ] && { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
  "$bin" serve "$@" --host 127.0.0.1 --port 0 -t 1 2>"$tmp/server.log" &
  pid=$!
  port=""
  for _ in $(seq 1 200); do
    port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$tmp/server.log")
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || fail "the server exited: $(cat "$tmp/server.log")"
    sleep 0.1
  done
  [ -n "$port" ] || fail "the server did not start in 20 s"
  url="http://127.0.0.1:$port"
}
