"""Two network namespaces joined by a veth pair, and the processes run in
them, for the end-to-end tests of `wspulse live` (e2e.py).

The server namespace wa-srv holds 10.79.0.1 on veth wa-s, the client
namespace wa-cli holds 10.79.0.2 on wa-c. Segmentation and checksum
offloads are off (as samples/record.sh does), so what the capture sees is
what goes on the wire. Every process started here runs inside one of the two
namespaces, has a bounded life, and is stopped (SIGCONT, SIGTERM, then
SIGKILL) when the lab closes; the namespaces, and the iptables rules in them,
are deleted with it.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

NS_SRV, NS_CLI = "wa-srv", "wa-cli"
VETH_S, VETH_C = "wa-s", "wa-c"
SIP, CIP = "10.79.0.1", "10.79.0.2"
PY = "/usr/bin/python3"


class Skip(Exception):
    """The machine cannot run the test (not root, a tool missing)."""


class Fail(Exception):
    """The test ran and wspulse (or the scenario) did not do what it must."""


def note(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def run(argv, timeout=30, check=True):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise Fail("%s: exit %d: %s" % (" ".join(argv), r.returncode, r.stderr.strip()[-500:]))
    return r


def prerequisites():
    """Raises Skip naming what is missing."""
    if os.geteuid() != 0:
        raise Skip("needs root (network namespaces, iptables, packet capture)")
    for tool in ("ip", "iptables", "tcpdump", "tshark"):
        if shutil.which(tool) is None:
            raise Skip("missing tool: %s" % tool)
    if not os.path.exists(PY):
        raise Skip("missing %s (Debian's python3 with python3-websockets)" % PY)
    r = subprocess.run([PY, "-c", "import websockets; print(websockets.__version__)"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if r.returncode != 0 or not r.stdout.startswith("10."):
        raise Skip("needs python3-websockets 10.x for %s" % PY)
    probe = "wa-probe"
    r = subprocess.run(["ip", "netns", "add", probe], stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise Skip("ip netns does not work here: %s" % r.stderr.strip())
    subprocess.run(["ip", "netns", "del", probe], stderr=subprocess.DEVNULL)


class Lab:
    """The namespaces and every process started in them (a context manager)."""

    def __init__(self, work):
        self.work = work
        self.procs = []  # (name, Popen)

    def __enter__(self):
        self.down()
        self.up()
        return self

    def __exit__(self, *exc):
        self.stop_all()
        self.down()
        return False

    # --- namespaces -----------------------------------------------------
    def down(self):
        for ns in (NS_SRV, NS_CLI):
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)

    def up(self):
        run(["ip", "netns", "add", NS_SRV])
        run(["ip", "netns", "add", NS_CLI])
        run(["ip", "link", "add", VETH_S, "mtu", "1500", "type", "veth", "peer", "name", VETH_C, "mtu", "1500"])
        run(["ip", "link", "set", VETH_S, "netns", NS_SRV])
        run(["ip", "link", "set", VETH_C, "netns", NS_CLI])
        for ns, dev, ip in ((NS_SRV, VETH_S, SIP), (NS_CLI, VETH_C, CIP)):
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
            run(["ip", "-n", ns, "addr", "add", ip + "/24", "dev", dev])
            run(["ip", "-n", ns, "link", "set", dev, "up"])
            if shutil.which("ethtool"):
                # tx off: checksums computed in software, so the capture has valid ones
                run(["ip", "netns", "exec", ns, "ethtool", "-K", dev, "tso", "off", "gso", "off",
                     "gro", "off", "tx", "off"], check=False)
        for _ in range(50):
            # reachability without ping(8): a refused connection to a closed port proves the path
            r = subprocess.run(["ip", "netns", "exec", NS_CLI, PY, "-c",
                                "import socket,sys\ns=socket.socket(); s.settimeout(0.5)\n"
                                "try: s.connect((sys.argv[1], 9))\n"
                                "except ConnectionRefusedError: sys.exit(0)\n"
                                "except OSError: sys.exit(1)", SIP])
            if r.returncode == 0:
                return
            time.sleep(0.1)
        raise Fail("namespaces up but %s not reachable" % SIP)

    def iptables(self, ns, *rule):
        run(["ip", "netns", "exec", ns, "iptables"] + list(rule))

    # --- processes ------------------------------------------------------
    def spawn(self, ns, name, argv):
        """Starts argv in namespace ns (ip netns exec execs it: the pid is its
        own); stdout and stderr go to WORK/NAME.out and WORK/NAME.err."""
        out = open(os.path.join(self.work, name + ".out"), "w")
        err = open(os.path.join(self.work, name + ".err"), "w")
        p = subprocess.Popen(["ip", "netns", "exec", ns] + argv, stdout=out, stderr=err,
                             stdin=subprocess.DEVNULL)
        self.procs.append((name, p))
        return p

    def stop(self, p, sig=signal.SIGTERM, wait=3.0):
        """Signals p, waits up to `wait` seconds, then kills it; its exit code."""
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGCONT)
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return p.returncode

    def stop_all(self):
        for _, p in reversed(self.procs):
            self.stop(p, wait=2.0)
        self.procs = []

    def path(self, name):
        return os.path.join(self.work, name)

    def wait_for(self, name, pattern, count=1, secs=10):
        """Waits until file WORK/NAME has `count` lines matching `pattern`."""
        rx = re.compile(pattern)
        f = self.path(name)
        end = time.monotonic() + secs
        while time.monotonic() < end:
            if os.path.exists(f):
                with open(f) as fh:
                    if sum(1 for line in fh if rx.search(line)) >= count:
                        return
            time.sleep(0.1)
        raise Fail("timeout waiting for %r x%d in %s; %s" % (pattern, count, name, self.tails()))

    def tails(self):
        out = []
        for name, _ in self.procs:
            for ext in (".err",):
                f = self.path(name + ext)
                if os.path.exists(f) and os.path.getsize(f):
                    with open(f) as fh:
                        out.append("%s%s: %s" % (name, ext, fh.read()[-300:].strip()))
        return " | ".join(out)

    # --- the peers and the capture ----------------------------------------
    def server(self, name, peers, *args):
        """samples/peers/server.py (websockets) in the server namespace."""
        self.spawn(NS_SRV, name, [PY, os.path.join(peers, "server.py"), "--log", self.path(name + ".jsonl"),
                                  "--max-life", "200"] + list(args))
        self.wait_for(name + ".jsonl", '"ev":"listening"')

    def raw_server(self, name, peers, *args):
        """samples/peers/rawpeer.py server (hand-framed) in the server namespace."""
        self.spawn(NS_SRV, name, [PY, os.path.join(peers, "rawpeer.py"), "server",
                                  "--log", self.path(name + ".jsonl"), "--max-life", "200"] + list(args))
        self.wait_for(name + ".jsonl", '"ev":"listening"')

    def client(self, name, peers, *args):
        """samples/peers/client.py (websockets) in the client namespace."""
        return self.spawn(NS_CLI, name, [PY, os.path.join(peers, "client.py"), "--name", name,
                                         "--log", self.path(name + ".jsonl"), "--max-life", "200"] + list(args))

    def capture(self, name):
        """tcpdump on the server's veth, every TCP packet, written as it comes."""
        p = self.spawn(NS_SRV, name, ["tcpdump", "-i", VETH_S, "--immediate-mode", "-U", "-s", "0",
                                      "-w", self.path(name + ".pcap"), "tcp"])
        self.wait_for(name + ".err", "listening on", secs=10)
        return p

    def log_pid(self, name):
        with open(self.path(name + ".jsonl")) as fh:
            return json.loads(fh.readline())["pid"]


def sleep_until(t):
    time.sleep(max(0.0, min(120.0, t - time.time())))

