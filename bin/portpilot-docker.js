#!/usr/bin/env node
// The docker CLI the reference Dev Containers CLI runs (its --docker-path): see dist/devcontainer/docker-shim.js.
(await import('../dist/devcontainer/docker-shim.js')).dockerShimMain(process.argv.slice(2), (message) =>
  process.stderr.write(`portpilot: ${message}\n`),
);
