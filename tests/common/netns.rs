//! Two network namespaces joined by a veth pair, for the tests that need
//! a real Linux TCP stack between peers (as root): made on [`Veth::up`],
//! deleted (with every rule in them) when dropped, whatever happens.

use std::process::{Command, Stdio};

/// Runs a command quietly; whether it succeeded.
pub fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Why the namespace tests cannot run here, if they cannot: they need
/// root and each of `tools`.
pub fn usable(tools: &[&str]) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("needs root (network namespaces, iptables)".into());
    }
    for tool in tools {
        if !sh(&["sh", "-c", &format!("command -v {tool}")]) {
            return Err(format!("needs {tool}"));
        }
    }
    Ok(())
}

/// A skipped namespace test prints why; in CI (`CI=true`, where `.ci/run`
/// installs what they need) a skip is a failure.
pub fn skip(test: &str, why: &str) {
    let in_ci = std::env::var_os("CI").is_some_and(|v| v == "true");
    assert!(!in_ci, "{test} cannot run in CI: {why}");
    println!("skipped: {why}");
}

/// A server namespace and a client namespace, each with one end of a veth
/// pair (`{prefix}-s`, `{prefix}-c`) holding an address in a /24.
pub struct Veth {
    pub server_ns: &'static str,
    pub client_ns: &'static str,
}

impl Veth {
    /// Makes the pair (deleting leftovers of an earlier run first):
    /// `server_ns` gets `{prefix}-s` with `server_ip`/24, `client_ns`
    /// `{prefix}-c` with `client_ip`/24, both up with their loopback.
    pub fn up(
        (server_ns, client_ns): (&'static str, &'static str),
        prefix: &str,
        (server_ip, client_ip): (&str, &str),
    ) -> Result<Veth, String> {
        let net = Veth {
            server_ns,
            client_ns,
        };
        net.down();
        let (s_if, c_if) = (format!("{prefix}-s"), format!("{prefix}-c"));
        let (s_addr, c_addr) = (format!("{server_ip}/24"), format!("{client_ip}/24"));
        let (srv, cli) = (server_ns, client_ns);
        let steps: &[&[&str]] = &[
            &["ip", "netns", "add", srv],
            &["ip", "netns", "add", cli],
            &[
                "ip", "link", "add", &s_if, "netns", srv, "type", "veth", "peer", "name", &c_if,
                "netns", cli,
            ],
            &["ip", "-n", srv, "addr", "add", &s_addr, "dev", &s_if],
            &["ip", "-n", cli, "addr", "add", &c_addr, "dev", &c_if],
            &["ip", "-n", srv, "link", "set", &s_if, "up"],
            &["ip", "-n", cli, "link", "set", &c_if, "up"],
            &["ip", "-n", srv, "link", "set", "lo", "up"],
            &["ip", "-n", cli, "link", "set", "lo", "up"],
        ];
        for step in steps {
            if !sh(step) {
                return Err(format!("`{}` failed", step.join(" ")));
            }
        }
        Ok(net)
    }

    fn down(&self) {
        for ns in [self.server_ns, self.client_ns] {
            sh(&["ip", "netns", "del", ns]);
        }
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        self.down();
    }
}
