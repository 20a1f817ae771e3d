# portpilot exec relay (bash -c): $0 HOST, $1 PORT, $2 DRAIN_S; see relay-program.ts.
exec 3<>"/dev/tcp/$0/$1" || exit 1
cat <&0 >&3 3>&- &
writer=$!
cat <&3 3<&- &
reader=$!
exec 3>&-
wait -n
if kill -0 "$writer" 2>/dev/null; then
  kill "$writer" 2>/dev/null
  exit 0
fi
sleep "$2" &
timer=$!
wait -n
kill "$reader" "$timer" 2>/dev/null
exit 0
