#!/usr/bin/env bash
# The bundled example, end to end: brings up examples/hello's dev container (devcontainer.json), whose
# web server listens only on the container's own 127.0.0.1:8080, and fetches it from this host.
set -euo pipefail
cd "$(dirname "$0")/../.."

bash scripts/test-env.sh
[ -f dist/cli/main.js ] || npm run build >&2

node bin/portpilot.js up --workspace-folder examples/hello --auto-forward
echo >&2
node bin/portpilot.js ports --workspace-folder examples/hello >&2
echo >&2
host_port=$(node bin/portpilot.js ports --workspace-folder examples/hello --json |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s).find(p=>p.containerPort===8080);console.log(r?r.hostPort:"")})')
if [ -z "$host_port" ]; then
  echo "port 8080 is not forwarded; see the forwarder log named above." >&2
  exit 1
fi
for _ in $(seq 1 50); do
  if body=$(curl -fsS "http://127.0.0.1:$host_port/" 2>/dev/null); then
    echo "From the host, http://127.0.0.1:$host_port/ answers:" >&2
    echo "$body"
    echo >&2
    echo "Stop it with: node bin/portpilot.js down --workspace-folder examples/hello --remove" >&2
    exit 0
  fi
  sleep 0.1
done
echo "http://127.0.0.1:$host_port/ did not answer; see the forwarder log named above." >&2
exit 1
