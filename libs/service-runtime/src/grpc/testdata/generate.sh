#!/bin/sh
# Test-only certificates for tls.unit.spec.ts (never used outside tests): a CA, a server certificate for
# localhost/127.0.0.1 and a client certificate signed by it, and a client certificate from another CA. EC P-256,
# valid for 100 years so the fixtures never expire. Regenerate with `sh generate.sh` in this folder.
set -eu
days=36500
ec() { openssl ecparam -name prime256v1 -genkey -noout -out "$1"; }
ca() {
  ec "$1.key"
  openssl req -x509 -new -key "$1.key" -sha256 -days $days -subj "/CN=$2" -out "$1.crt" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
leaf() { # name, CN, CA, extensions
  ec "$1.key"
  openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
  printf '%s\n' "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial -sha256 -days $days \
    -extfile "$1.ext" -out "$1.crt"
  rm "$1.csr" "$1.ext"
}
ca ca 'Keel test CA'
ca other-ca 'Another test CA'
leaf server registry ca 'subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth,clientAuth'
leaf client serving ca 'extendedKeyUsage=clientAuth'
leaf stranger stranger other-ca 'extendedKeyUsage=clientAuth'
rm -f ca.key other-ca.key other-ca.crt ca.srl other-ca.srl
