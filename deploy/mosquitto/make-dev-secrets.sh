#!/bin/sh
# Development secrets for deploy/mosquitto: a private CA, a server certificate for
# this host, a client certificate (for require_certificate true), and a password
# file for the users in the ACL. NOT for production; never commit the output.
#
#   deploy/mosquitto/make-dev-secrets.sh DIR [HOST]
#
# Passwords are random unless given in the environment (VIEWER_PASSWORD,
# CONTROLLER_PASSWORD); they are written to DIR/passwords.txt (mode 600) once.
set -eu
dir=${1:?usage: make-dev-secrets.sh DIR [HOST]}
host=${2:-localhost}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir"
umask 077
cd "$dir"
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"

# shellcheck disable=SC2086
openssl req -x509 $ec -keyout ca.key -out ca.crt -days 365 \
    -subj "/CN=drone-ops development CA" 2>/dev/null
printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\n' "$host" > server.ext
for name in server client; do
    # shellcheck disable=SC2086
    openssl req $ec -keyout "$name.key" -out "$name.csr" -subj "/CN=$name" 2>/dev/null
    ext=""
    [ "$name" = server ] && ext="-extfile server.ext"
    # shellcheck disable=SC2086
    openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
        -out "$name.crt" -days 365 $ext 2>/dev/null
    rm -f "$name.csr"
done
rm -f server.ext
chmod 644 ca.crt server.crt client.crt

viewer=${VIEWER_PASSWORD:-$(openssl rand -hex 16)}
controller=${CONTROLLER_PASSWORD:-$(openssl rand -hex 16)}
: > passwords
mosquitto_passwd -b passwords viewer "$viewer"
for user in $(sed -n 's/^user \(controller-.*\)$/\1/p' "$here/acl"); do
    mosquitto_passwd -b passwords "$user" "$controller"
done
printf 'viewer %s\ncontroller-* %s\n' "$viewer" "$controller" > passwords.txt
cp "$here/acl" acl
echo "wrote CA, server and client certificates, passwords and acl to $dir"
echo "passwords: $dir/passwords.txt"
