#!/usr/bin/env bash
# Test-only TLS material for tests/probe.rs: a CA, a server certificate for
# localhost and 127.0.0.1, and one for another name (a name mismatch).
# The keys are public and protect nothing. Rerun to make new ones.
set -euo pipefail
cd "$(dirname "$0")"
days=36500
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
  -subj "/CN=wspulse test CA" -keyout ca.key -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign"
issue() { # name, subjectAltName
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
    -keyout "$1.key" -out "$1.csr"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days "$days" \
    -out "$1.pem" -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$2")
  rm "$1.csr"
}
issue localhost "DNS:localhost,IP:127.0.0.1"
issue other "DNS:other.wspulse.invalid"
rm -f ca.srl ca.key
