//! What an operator installs: the systemd unit, user and configuration under `deploy/`,
//! and the documents that point at them.

// The unit, user and configuration are checked by systemd's own tools (`systemd-analyze
// verify` and `security`, `systemd-sysusers`), the configuration by the binary;
// docs/operations.md uses those files; README has the install command; LICENSE is the
// license Cargo.toml names.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{ok_stdout, run_in, stderr};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A systemd tool; CI installs Debian's `systemd` when it is missing (.ci/run).
fn systemd_tool(name: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{name} is missing: install Debian's systemd (`apt-get install -y systemd`; .ci/run \
         does this)"
    );
    Command::new(name)
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify_and_security() {
    let dir = tempfile::tempdir().unwrap();
    // The unit as installed, but with this build's binary (verify checks that ExecStart
    // exists) and the man page its Documentation= names on MANPATH (verify runs `man`).
    let unit = read("deploy/wirecash-auth.service");
    assert!(unit.contains("ExecStart=/usr/local/bin/wirecash-auth serve --config /etc/wirecash-auth/wirecash-auth.toml"));
    let unit = unit.replace(
        "/usr/local/bin/wirecash-auth",
        env!("CARGO_BIN_EXE_wirecash-auth"),
    );
    let path = dir.path().join("wirecash-auth.service");
    std::fs::write(&path, unit).unwrap();
    let man = dir.path().join("man");
    std::fs::create_dir_all(man.join("man1")).unwrap();
    let man1 = man.join("man1");
    ok_stdout(&run_in(
        dir.path(),
        &["man", "--out-dir", man1.to_str().unwrap()],
        None,
        &[],
    ));
    let out = systemd_tool("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .env("MANPATH", &man)
        .output()
        .unwrap();
    // verify exits 0 on unknown keys, with a warning: none is allowed either.
    assert!(
        out.status.success() && out.stderr.is_empty() && out.stdout.is_empty(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    // The hardening: systemd's own exposure score (tenths; 2.0 and below is "OK").
    let out = systemd_tool("systemd-analyze")
        .args(["security", "--offline=true", "--threshold=20", "--no-pager"])
        .arg(&path)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}{}", stderr(&out));
    for setting in [
        "ProtectSystem=",
        "NoNewPrivileges=",
        "PrivateTmp=",
        "User=/DynamicUser=",
    ] {
        let line = report
            .lines()
            .find(|l| l.contains(setting))
            .unwrap_or_else(|| panic!("{setting} not in:\n{report}"));
        assert!(line.starts_with('✓'), "{line}");
    }
    let unit = read("deploy/wirecash-auth.service");
    for line in [
        "User=wirecash-auth",
        "StateDirectory=wirecash-auth",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line}");
    }
}

#[test]
fn the_sysusers_file_makes_the_user_and_the_configuration_checks() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("etc")).unwrap();
    let out = systemd_tool("systemd-sysusers")
        .arg(format!("--root={}", root.path().display()))
        .arg(repo().join("deploy/wirecash-auth.sysusers"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let passwd = std::fs::read_to_string(root.path().join("etc/passwd")).unwrap();
    let user = passwd
        .lines()
        .find(|l| l.starts_with("wirecash-auth:"))
        .unwrap_or_else(|| panic!("{passwd}"));
    assert!(user.contains(":/var/lib/wirecash-auth:"), "{user}");

    let dir = tempfile::tempdir().unwrap();
    let config = repo().join("deploy/wirecash-auth.toml");
    let text = ok_stdout(&run_in(
        dir.path(),
        &["config", "check", "--config", config.to_str().unwrap()],
        None,
        &[],
    ));
    assert!(
        text.contains("database = \"sqlite:///var/lib/wirecash-auth/wirecash-auth.db\""),
        "{text}"
    );
    assert!(
        text.contains("master_key_file = \"/var/lib/wirecash-auth/wirecash-auth.db.key\""),
        "{text}"
    );
}

#[test]
fn the_documents_point_at_the_installed_files_and_the_license_matches() {
    let operations = read("docs/operations.md");
    for entry in std::fs::read_dir(repo().join("deploy")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            operations.contains(&format!("deploy/{name}")),
            "docs/operations.md does not use deploy/{name}"
        );
    }
    let readme = read("README.md");
    assert!(readme.contains("cargo install --locked --path crates/server"));
    let manifest = read("Cargo.toml");
    assert!(manifest.contains("license = \"Apache-2.0\""));
    let license = read("LICENSE");
    let words: Vec<&str> = license.split_whitespace().take(4).collect();
    assert_eq!(words, ["Apache", "License", "Version", "2.0,"]);
    assert!(license.contains("END OF TERMS AND CONDITIONS"));
}
