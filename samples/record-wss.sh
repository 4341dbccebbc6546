#!/usr/bin/env bash
# Record the wss samples with keys: the ws scenarios healthy-pings,
# blackhole-peer and stopped-reader over TLS, the client logging its TLS
# secrets (ssl.SSLContext.keylog_filename, the NSS key log format), with
# record.sh's machinery in namespaces of our own (wq-*).
#
#   sudo samples/record-wss.sh [SCENARIO...]   (no argument = all, and the DSB pcapng)
#
# Writes samples/wss/NAME.pcap, NAME.keys (the key log: throwaway keys of a
# throwaway self-signed certificate, safe to publish), NAME.truth.json (built
# as for the ws twin: with the keys every frame is visible), logs/NAME.tar.gz;
# and samples/wss/wss13-healthy-dsb.pcapng: wss13-healthy with its key log
# injected as a Decryption Secrets Block (editcap --inject-secrets).
# WSP_OUT=DIR writes elsewhere (the bulk scenario for throughput runs).
set -euo pipefail

if [[ -n ${WSQ_SOURCED:-} ]]; then
  # --- scenarios, sourced by record.sh ------------------------------------------
  KEYS_TLS_PORT=8443

  keyed_client() {  # extra client args...: a wss client that logs its secrets
    client client --uri "wss://$SIP:$KEYS_TLS_PORT/" --insecure --keylog "$D/keys.log" "$@"
  }

  sc_wss13-healthy() {
    local n=wss13-healthy
    begin $n "healthy-pings over wss with keys: TLS 1.3 (OpenSSL's default suite), self-signed certificate not verified by the client, port 8443; the client logs its TLS secrets (wss13-healthy.keys). 25 s, server Pings every 2 s and pushes text every 1 s, client sends text every 1 s and the server replies; left open. With the key log every frame is visible, so the truth is the ws twin's." none null
    meta server_port "$KEYS_TLS_PORT"
    start_capture $n
    tls_server server --reply
    keyed_client --tls-version 1.3
    wait_for "$D/client.jsonl" ws_open 1 10
    sleep 25
    stop_capture
    end_scenario $n
  }

  sc_wss12-blackhole() {
    local n=wss12-blackhole
    begin $n "blackhole-peer over wss with keys: TLS 1.2, ECDHE-ECDSA-AES128-GCM-SHA256, port 8443; the client logs its TLS secrets (wss12-blackhole.keys). Healthy for 9 s, then iptables in the client namespace drops everything in and out: the server keeps writing data and Pings, retransmitted with backoff, never ACKed; capture runs 25 s past the fault." blackhole client
    meta server_port "$KEYS_TLS_PORT"
    start_capture $n
    tls_server server --reply
    keyed_client --tls-version 1.2 --ciphers ECDHE-ECDSA-AES128-GCM-SHA256
    wait_for "$D/client.jsonl" ws_open 1 10
    sleep 9
    blackhole_client
    sleep 25
    stop_capture
    end_scenario $n
  }

  sc_wss12-chacha-stopped() {
    local n=wss12-chacha-stopped
    begin $n "stopped-reader over wss with keys: TLS 1.2, ECDHE-ECDSA-CHACHA20-POLY1305 (RFC 7905), port 8443; the client logs its TLS secrets (wss12-chacha-stopped.keys). Client with SO_RCVBUF 4096; the server pushes 2 KB every 100 ms; after ~8 s the client process is SIGSTOPped (just before a server Ping): zero window for 25 s, zero-window probes, Pings pile up unsent." sigstop client
    meta server_port "$KEYS_TLS_PORT"
    start_capture $n
    tls_server server --reply --push-interval 0.1 --push-size 2048
    keyed_client --tls-version 1.2 --ciphers ECDHE-ECDSA-CHACHA20-POLY1305 --rcvbuf 4096
    wait_for "$D/client.jsonl" ws_open 1 10
    local cpid
    cpid=$(log_pid "$D/client.jsonl")
    sleep 7.5
    stop_client_before_ping "$cpid"
    sleep 25
    stop_capture
    kill -CONT "$cpid" 2>/dev/null || true
    end_scenario $n
  }

  sc_wss-bulk() {  # for throughput runs (not a committed sample): ~20 s of 1 KB messages
    local n=wss-bulk
    begin $n "bulk: TLS 1.3 with keys, the client sends a 1000-byte text every 1 ms for 20 s and the server echoes each." none null
    meta server_port "$KEYS_TLS_PORT"
    start_capture $n
    tls_server server --reply
    keyed_client --tls-version 1.3 --send-interval 0.001 --send-size 1000
    wait_for "$D/client.jsonl" ws_open 1 10
    sleep 20
    stop_capture
    end_scenario $n
  }
  return 0
fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${WSP_OUT:-$HERE/wss}
mkdir -p "$OUT"
ALL=(wss13-healthy wss12-blackhole wss12-chacha-stopped)
if [[ $# -eq 0 ]]; then set -- "${ALL[@]}"; DSB=1; else DSB=""; fi
WQ_ENV=(WSP_SNS=wq-srv WSP_CNS=wq-cli WSP_SVETH=wq-s WSP_CVETH=wq-c WSP_OUT="$OUT"
        WSQ_SOURCED=1 WSP_SCENARIOS="$HERE/record-wss.sh")
env "${WQ_ENV[@]}" bash "$HERE/record.sh" "$@"
if [[ -n $DSB ]]; then
  command -v editcap >/dev/null || { echo "record-wss.sh: editcap missing (wireshark-common)" >&2; exit 1; }
  editcap --inject-secrets "tls,$OUT/wss13-healthy.keys" "$OUT/wss13-healthy.pcap" "$OUT/wss13-healthy-dsb.pcapng"
  cp "$OUT/wss13-healthy.truth.json" "$OUT/wss13-healthy-dsb.truth.json"
  chmod 644 "$OUT/wss13-healthy-dsb.pcapng" "$OUT/wss13-healthy-dsb.truth.json"
fi
