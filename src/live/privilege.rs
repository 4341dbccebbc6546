//! `--user NAME`: give up root once the capture device is open, as tcpdump's
//! `-Z` does, so the code that parses untrusted packets runs unprivileged.
//!
//! The order is the one POSIX requires: supplementary groups and the group
//! first (they need root), the user last (after it nothing can be changed
//! back); setuid(2) from root sets the real, effective and saved user ids,
//! and Linux clears every capability with them. Then the drop is checked: a
//! process that could still become root again is refused.

/// Switches the process to `user`'s user id and primary group, with that
/// group as its only supplementary group (tcpdump also adds the user's other
/// groups; a capture needs none of them). Call it after the capture device
/// and any output files are open, before starting threads of one's own
/// (glibc applies the change to every thread, but others should not race it).
///
/// Errors, one line naming the user: not running as root (nothing to drop),
/// an unknown user, `user` being root itself, a failed setgroups(2),
/// setgid(2) or setuid(2), or a process that can still regain root
/// afterwards.
#[cfg(unix)]
pub fn drop_privileges(user: &str) -> Result<(), String> {
    use nix::unistd::{
        getegid, geteuid, getgid, getuid, setgid, setgroups, setuid, Gid, Uid, User,
    };

    let flag = format!("--user {user}");
    if !geteuid().is_root() {
        return Err(format!(
            "{flag}: dropping privileges needs root, and wspulse runs as uid {}",
            geteuid()
        ));
    }
    let account = User::from_name(user)
        .map_err(|e| format!("{flag}: cannot look the user up: {e}"))?
        .ok_or_else(|| format!("{flag}: no such user"))?;
    let (uid, gid) = (account.uid, account.gid);
    if uid.is_root() {
        return Err(format!(
            "{flag}: that user is root, so nothing would be dropped; name an unprivileged user"
        ));
    }
    setgroups(&[gid]).map_err(|e| format!("{flag}: setgroups: {e}"))?;
    setgid(gid).map_err(|e| format!("{flag}: setgid({gid}): {e}"))?;
    setuid(uid).map_err(|e| format!("{flag}: setuid({uid}): {e}"))?;

    let now = (getuid(), geteuid(), getgid(), getegid());
    if now != (uid, uid, gid, gid) {
        return Err(format!(
            "{flag}: after the switch the process runs as uid {}/{} gid {}/{}, not {uid}/{gid}",
            now.0, now.1, now.2, now.3
        ));
    }
    if setuid(Uid::from_raw(0)).is_ok() || setgid(Gid::from_raw(0)).is_ok() {
        return Err(format!("{flag}: the process could become root again"));
    }
    Ok(())
}

/// Dropping privileges by user name is a Unix notion.
#[cfg(not(unix))]
pub fn drop_privileges(user: &str) -> Result<(), String> {
    Err(format!("--user {user}: supported on Unix only"))
}

#[cfg(all(test, unix))]
mod tests {
    use std::process::Command;

    use nix::unistd::{geteuid, getgroups, setuid, Uid, User};

    use super::drop_privileges;

    /// Set in the child process that really drops its privileges.
    const CHILD: &str = "WSPULSE_DROP_PRIVILEGES_CHILD";

    #[test]
    fn an_unknown_user_is_named_and_nothing_changes() {
        let before = geteuid();
        let err = drop_privileges("wspulse-no-such-user").unwrap_err();
        if before.is_root() {
            assert_eq!(err, "--user wspulse-no-such-user: no such user");
        } else {
            assert!(err.contains("needs root"), "{err}");
        }
        assert_eq!(geteuid(), before);
    }

    #[test]
    fn root_is_not_a_user_to_drop_to() {
        if !geteuid().is_root() {
            return eprintln!("not root: skipped");
        }
        let err = drop_privileges("root").unwrap_err();
        assert!(err.contains("nothing would be dropped"), "{err}");
        assert!(geteuid().is_root());
    }

    /// The drop cannot be undone in the test process, so a copy of this test
    /// binary does it (the ignored test below) and reports.
    #[test]
    fn a_dropped_process_runs_as_nobody_and_cannot_regain_root() {
        if !geteuid().is_root() {
            let err = drop_privileges("nobody").unwrap_err();
            assert!(err.contains("needs root"), "{err}");
            return;
        }
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "live::privilege::tests::child_drops_to_nobody",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("dropped to nobody"),
            "child failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    #[ignore = "run by a_dropped_process_runs_as_nobody_and_cannot_regain_root in a process of its own"]
    fn child_drops_to_nobody() {
        assert_eq!(
            std::env::var(CHILD).as_deref(),
            Ok("1"),
            "only in a child process"
        );
        let nobody = User::from_name("nobody").unwrap().expect("a nobody user");
        drop_privileges("nobody").unwrap();
        assert_eq!(geteuid(), nobody.uid);
        assert_eq!(getgroups().unwrap(), vec![nobody.gid]);
        assert!(setuid(Uid::from_raw(0)).is_err());
        // A second drop is refused: there is no root left to give up.
        assert!(drop_privileges("nobody")
            .unwrap_err()
            .contains("needs root"));
        // Root-only files are out of reach.
        assert!(std::fs::read("/etc/shadow").is_err());
        println!("dropped to nobody");
    }
}
