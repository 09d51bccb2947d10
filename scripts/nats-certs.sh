#!/usr/bin/env bash
# A local certificate authority and one server certificate for NATS, for dev, tests and
# compose: never for a deployment reachable by others (use your own CA there; SECURITY.md).
#   scripts/nats-certs.sh DIR
# Writes DIR/ca.pem (the CA clients trust: NATTER_NATS_TLS_CA, the nats CLI's --tlsca),
# DIR/ca-key.pem, DIR/server.pem and DIR/server-key.pem (EC P-256). The server certificate
# names localhost, 127.0.0.1, ::1 and the compose hosts nats, nats-1..3, and is good for
# both ends of a TLS connection, so cluster routes present it to each other and verify it
# against the CA (a route without a certificate from this CA is refused). Idempotent: an
# existing set is kept; delete DIR to make a new CA. Keys are mode 600, DIR mode 700.
set -euo pipefail
dir=${1:?usage: nats-certs.sh DIR}
if [ -s "$dir/ca.pem" ] && [ -s "$dir/server.pem" ] && [ -s "$dir/server-key.pem" ]; then exit 0; fi
command -v openssl >/dev/null || { echo "nats-certs.sh: openssl is needed" >&2; exit 1; }
mkdir -p "$dir"
chmod 700 "$dir"
umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/ca-key.pem"
openssl req -x509 -new -key "$tmp/ca-key.pem" -sha256 -days 3650 -subj "/CN=Natter local NATS CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$tmp/ca.pem" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/server-key.pem"
openssl req -new -key "$tmp/server-key.pem" -subj "/CN=natter-nats" -out "$tmp/server.csr" 2>/dev/null
cat > "$tmp/ext.cnf" <<'EXT'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1,DNS:nats,DNS:nats-1,DNS:nats-2,DNS:nats-3,DNS:nats-s1
EXT
openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca-key.pem" -CAcreateserial \
  -days 825 -sha256 -extfile "$tmp/ext.cnf" -out "$tmp/server.pem" 2>/dev/null
mv "$tmp/ca-key.pem" "$tmp/ca.pem" "$tmp/server-key.pem" "$tmp/server.pem" "$dir/"
# The certificates are public; the keys stay 600.
chmod 644 "$dir/ca.pem" "$dir/server.pem"
