#!/bin/sh
# The three webserver listeners of a deployment, on one $DAGSTER_HOME (see README.md in this folder).
# Run each under a supervisor (systemd, a container) in production; this script is the command lines.
set -eu
: "${DAGSTER_HOME:?set DAGSTER_HOME to the folder holding deploy/dagster.yaml as dagster.yaml}"
WORKSPACE=${WORKSPACE:-workspace.yaml}
BACKEND_ADDRESS=${BACKEND_ADDRESS:-10.0.0.5}   # this host's address on the private network with the backend

# Operators: loopback only, reached through the authenticating reverse proxy.
dagster-webserver -w "$WORKSPACE" -h 127.0.0.1 -p 3000 &
# Viewers: a second webserver that refuses every mutation, behind the proxy too.
dagster-webserver -w "$WORKSPACE" -h 127.0.0.1 -p 3001 --read-only &
# The application backend: the only GraphQL submitter, on the private network (firewall it to the backend).
dagster-webserver -w "$WORKSPACE" -h "$BACKEND_ADDRESS" -p 3002 &
wait
