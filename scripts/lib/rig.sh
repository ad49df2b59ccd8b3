# Shell helpers shared by scripts/demo.sh and bench/*.sh: kubeadm-style PKI and a TLS etcd on
# loopback, stopped by its PID. Source it; it defines functions and sets no options.

# rig_pki DIR: an etcd CA plus server (server+client auth) and peer certificates for 127.0.0.1,
# RSA keys in PKCS#1 as kubeadm writes them, under DIR/etc/kubernetes/pki/etcd. Sets $pki.
rig_pki() {
    pki="$1/etc/kubernetes/pki/etcd"
    mkdir -p "$pki"
    openssl genrsa -traditional -out "$pki/ca.key" 2048 2>/dev/null
    openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=etcd-ca" -days 2 -out "$pki/ca.crt" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
    local c
    for c in server peer; do
        openssl genrsa -traditional -out "$pki/$c.key" 2048 2>/dev/null
        openssl req -new -key "$pki/$c.key" -subj "/CN=rig-node" -out "$pki/$c.csr"
        printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
            'extendedKeyUsage=serverAuth,clientAuth' \
            'keyUsage=critical,digitalSignature,keyEncipherment' > "$pki/$c.ext"
        openssl x509 -req -in "$pki/$c.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
            -CAcreateserial -days 2 -extfile "$pki/$c.ext" -out "$pki/$c.crt" 2>/dev/null
        rm -f "$pki/$c.csr" "$pki/$c.ext"
    done
    chmod 0600 "$pki"/*.key
}

rig_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# rig_etcd_args NAME DATA_DIR: the flags kubeadm's manifest gives etcd, on fresh loopback ports.
# Sets $cport, $pport, $mport and the array $etcd_args. Needs $pki.
rig_etcd_args() {
    cport=$(rig_port); pport=$(rig_port); mport=$(rig_port)
    etcd_args=(
        --advertise-client-urls="https://127.0.0.1:$cport"
        --cert-file="$pki/server.crt"
        --client-cert-auth=true
        --data-dir="$2"
        --initial-advertise-peer-urls="https://127.0.0.1:$pport"
        --initial-cluster="$1=https://127.0.0.1:$pport"
        --key-file="$pki/server.key"
        --listen-client-urls="https://127.0.0.1:$cport"
        --listen-metrics-urls="http://127.0.0.1:$mport"
        --listen-peer-urls="https://127.0.0.1:$pport"
        --name="$1"
        --peer-cert-file="$pki/peer.crt"
        --peer-client-cert-auth=true
        --peer-key-file="$pki/peer.key"
        --peer-trusted-ca-file="$pki/ca.crt"
        --snapshot-count=10000
        --trusted-ca-file="$pki/ca.crt"
    )
}

# rig_start ETCD_BIN LOG [extra flags..]: starts etcd with $etcd_args, waits until healthy.
# Sets $etcd_pid. The caller stops it with rig_stop (by PID).
rig_start() {
    local bin=$1 log=$2
    shift 2
    "$bin" "${etcd_args[@]}" "$@" > "$log" 2>&1 &
    etcd_pid=$!
    local i
    for i in $(seq 200); do
        if rig_ctl "$(dirname "$bin")/etcdctl" endpoint health >/dev/null 2>&1; then return 0; fi
        kill -0 "$etcd_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "etcd did not start; its log:" >&2
    cat "$log" >&2
    return 1
}

# rig_ctl ETCDCTL args..: etcdctl against the rig's etcd with the client certificate.
rig_ctl() {
    local ctl=$1
    shift
    ETCDCTL_API=3 "$ctl" --endpoints "https://127.0.0.1:$cport" --cacert "$pki/ca.crt" \
        --cert "$pki/server.crt" --key "$pki/server.key" "$@"
}

rig_stop() {
    if [ -n "${etcd_pid:-}" ]; then
        kill "$etcd_pid" 2>/dev/null || true
        wait "$etcd_pid" 2>/dev/null || true
        etcd_pid=""
    fi
}
