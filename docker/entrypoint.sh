#!/bin/sh
# The image's roles: `api` (default), `worker`, `migrate`; anything else runs as a command.
set -eu
role="${1:-api}"
[ "$#" -gt 0 ] && shift
case "$role" in
  api)     exec puls api "$@" ;;
  worker)  exec puls worker "$@" ;;
  migrate) exec puls db upgrade "$@" ;;
  *)       exec "$role" "$@" ;;
esac
