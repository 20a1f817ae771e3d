# portpilot's probe for relay programs (sh -c): see relay-program.ts.
for p in '@@PROBED_PROGRAMS@@'; do command -v "$p" >/dev/null 2>&1 && echo "has $p"; done
if command -v nc >/dev/null 2>&1; then nc -h </dev/null 2>&1 | while IFS= read -r line; do echo "nc-help $line"; done; fi
true
