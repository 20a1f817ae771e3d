#!/usr/bin/env bash
# The bundled example: a dev container whose web server listens only on the container's own
# 127.0.0.1:8080, made reachable at http://127.0.0.1:8080 on this host by portpilot's forwarder.
set -euo pipefail
cd "$(dirname "$0")/../.."

bash scripts/test-env.sh
[ -f dist/cli/main.js ] || npm run build >&2
# shellcheck source=../../scripts/test-images.env
source scripts/test-images.env

name=portpilot-example-hello
if ! docker container inspect "$name" >/dev/null 2>&1; then
  echo "Starting container $name ($PORTPILOT_TEST_IMAGE_DEBIAN)…" >&2
  docker run -d --name "$name" -v "$PWD/examples/hello/site:/srv/site:ro" "$PORTPILOT_TEST_IMAGE_DEBIAN" \
    python3 -m http.server 8080 --bind 127.0.0.1 --directory /srv/site >/dev/null
elif [ "$(docker container inspect -f '{{.State.Running}}' "$name")" != true ]; then
  docker start "$name" >/dev/null
fi

node bin/portpilot.js up --container-id "$name" --auto-forward
echo >&2
node bin/portpilot.js ports >&2
echo >&2
for _ in $(seq 1 50); do
  if body=$(curl -fsS http://127.0.0.1:8080/ 2>/dev/null); then
    echo "From the host, http://127.0.0.1:8080/ answers:" >&2
    echo "$body"
    echo >&2
    echo "Stop it with: node bin/portpilot.js down --container-id $name --remove" >&2
    exit 0
  fi
  sleep 0.1
done
echo "http://127.0.0.1:8080/ did not answer; see the forwarder log printed above." >&2
exit 1
