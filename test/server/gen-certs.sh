#!/usr/bin/env bash
# Generate the TLS material used by the OAuth 2.0 test authorization server
# (server.mjs) and by the C++ tests.
#
# Usage: gen-certs.sh OUTDIR
#
# Always regenerates everything (it takes well under a second). Silent on
# success; on failure the collected openssl output is printed to stderr.
#
# Files written to OUTDIR (all private keys are PKCS#8 PEM):
#   ca.pem / ca.key                   trusted test root CA (EC P-256, 2 days)
#   server.pem / server.key           leaf signed by ca; SAN IP:127.0.0.1, DNS:localhost; serverAuth
#   other-ca.pem / other-ca.key       second, untrusted root CA
#   other-server.pem / other-server.key  leaf like server.pem but signed by other-ca
#   wronghost.pem / wronghost.key     leaf signed by ca; SAN DNS:wrong.example only
#   expired.pem / expired.key         leaf like server.pem signed by ca, validity entirely in the past
#   client.pem / client.key           client certificate signed by ca; clientAuth;
#                                     subject /O=tetrapak-asio tests/CN=mtls-client
#                                     (RFC 4514: "CN=mtls-client,O=tetrapak-asio tests")
#   other-client.pem / other-client.key  like client.pem (same subject) but signed by other-ca
#   client-jwt-es256.key              EC P-256 private key (for private_key_jwt)
#   client-jwt-rs256.key              RSA 2048 private key (for private_key_jwt)
#   provider-signing.key              RSA 2048 private key: server.mjs's access token signing key
#   client-self-signed.pem / client-self-signed.key
#                                     self-signed client certificate (EC P-256, not issued by
#                                     any CA); clientAuth; subject
#                                     /O=tetrapak-asio tests/CN=mtls-self-signed-client
#                                     (self_signed_tls_client_auth client mtls-self-signed-client)
#   workload-issuer.key               EC P-256 private key of the simulated workload identity
#                                     platform: signs workload-client's client assertions and
#                                     RFC 7523 jwt-bearer grant assertions (ES256)
set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi

out=$1
mkdir -p "$out"

work=$(mktemp -d)
log="$work/openssl.log"
: >"$log"

cleanup() {
    local rc=$?
    if [[ $rc -ne 0 ]]; then
        echo "gen-certs.sh: failed (exit $rc); openssl output follows:" >&2
        cat "$log" >&2 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

ossl() {
    openssl "$@" >>"$log" 2>&1
}

cat >"$work/openssl.cnf" <<'EOF'
[ req ]
distinguished_name = req_dn
prompt             = no
utf8               = yes

[ req_dn ]
CN = placeholder

[ v3_ca ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash

[ v3_server ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ v3_wronghost ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:wrong.example
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ v3_client ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ v3_client_self_signed ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash

# Only used by "openssl ca" to issue the expired certificate (it is the
# OpenSSL 3.0 way to choose an arbitrary notBefore/notAfter).
[ ca ]
default_ca = ca_expired

[ ca_expired ]
dir             = WORKDIR
database        = $dir/index.txt
new_certs_dir   = $dir/newcerts
rand_serial     = yes
default_md      = sha256
policy          = policy_any
unique_subject  = no
copy_extensions = none

[ policy_any ]
commonName       = supplied
organizationName = optional
EOF
sed -i "s|WORKDIR|$work|" "$work/openssl.cnf"
cnf="$work/openssl.cnf"
mkdir -p "$work/newcerts"
: >"$work/index.txt"

eckey() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
serial() { echo "0x$(openssl rand -hex 16)"; }

# root CA: NAME CN
make_ca() {
    eckey "$work/$1.key"
    ossl req -config "$cnf" -new -x509 -sha256 -days 2 -key "$work/$1.key" \
        -subj "/O=tetrapak-asio tests/CN=$2" -extensions v3_ca \
        -set_serial "$(serial)" -out "$work/$1.pem"
}

# leaf: NAME CA CN EXTSECTION
make_leaf() {
    eckey "$work/$1.key"
    ossl req -config "$cnf" -new -key "$work/$1.key" \
        -subj "/O=tetrapak-asio tests/CN=$3" -out "$work/$1.csr"
    ossl x509 -req -sha256 -days 2 -in "$work/$1.csr" \
        -CA "$work/$2.pem" -CAkey "$work/$2.key" -set_serial "$(serial)" \
        -extfile "$cnf" -extensions "$4" -out "$work/$1.pem"
}

make_ca ca "tetrapak-asio test root CA"
make_ca other-ca "tetrapak-asio untrusted test root CA"

make_leaf server ca localhost v3_server
make_leaf other-server other-ca localhost v3_server
make_leaf wronghost ca wrong.example v3_wronghost
make_leaf client ca mtls-client v3_client
make_leaf other-client other-ca mtls-client v3_client

# self-signed client certificate (RFC 8705 self_signed_tls_client_auth)
eckey "$work/client-self-signed.key"
ossl req -config "$cnf" -new -x509 -sha256 -days 2 -key "$work/client-self-signed.key" \
    -subj "/O=tetrapak-asio tests/CN=mtls-self-signed-client" -extensions v3_client_self_signed \
    -set_serial "$(serial)" -out "$work/client-self-signed.pem"

# expired: validity window entirely in the past (2020-01-01..2020-01-02);
# otherwise like server.pem: signed by the trusted CA, same SANs and EKU
eckey "$work/expired.key"
ossl req -config "$cnf" -new -key "$work/expired.key" \
    -subj "/O=tetrapak-asio tests/CN=localhost" -out "$work/expired.csr"
ossl ca -config "$cnf" -batch -notext -preserveDN \
    -cert "$work/ca.pem" -keyfile "$work/ca.key" \
    -startdate 20200101000000Z -enddate 20200102000000Z \
    -extfile "$cnf" -extensions v3_server \
    -in "$work/expired.csr" -out "$work/expired.pem"

# keys for private_key_jwt client authentication
eckey "$work/client-jwt-es256.key"
ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/client-jwt-rs256.key"
ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/provider-signing.key"
# the workload identity platform's signing key (workload-client, jwt-bearer grant)
eckey "$work/workload-issuer.key"

# sanity checks: the good ones verify, the bad ones fail for the right reason
ossl verify -CAfile "$work/ca.pem" "$work/server.pem" "$work/wronghost.pem" "$work/client.pem"
ossl verify -CAfile "$work/other-ca.pem" "$work/other-server.pem" "$work/other-client.pem"
ossl verify -CAfile "$work/ca.pem" -verify_ip 127.0.0.1 -verify_hostname localhost "$work/server.pem"
if openssl verify -CAfile "$work/ca.pem" "$work/other-server.pem" >>"$log" 2>&1; then
    echo "other-server.pem unexpectedly verifies against ca.pem" >>"$log"; exit 1
fi
if openssl verify -CAfile "$work/ca.pem" -verify_hostname localhost "$work/wronghost.pem" >>"$log" 2>&1; then
    echo "wronghost.pem unexpectedly matches localhost" >>"$log"; exit 1
fi
if openssl verify -CAfile "$work/ca.pem" "$work/client-self-signed.pem" >>"$log" 2>&1; then
    echo "client-self-signed.pem unexpectedly verifies against ca.pem" >>"$log"; exit 1
fi
expired_out=$(openssl verify -CAfile "$work/ca.pem" "$work/expired.pem" 2>&1 || true)
echo "$expired_out" >>"$log"
if [[ $expired_out != *"certificate has expired"* ]]; then
    echo "expired.pem is not reported as expired" >>"$log"; exit 1
fi

chmod 600 "$work"/*.key
chmod 644 "$work"/*.pem
for f in ca other-ca server other-server wronghost expired client other-client client-self-signed; do
    mv -f "$work/$f.pem" "$work/$f.key" "$out/"
done
mv -f "$work/client-jwt-es256.key" "$work/client-jwt-rs256.key" "$work/provider-signing.key" \
    "$work/workload-issuer.key" "$out/"
