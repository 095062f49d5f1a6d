//! `scripts/install-codereview.sh`, which action.yml runs: it installs the release asset only
//! when its SHA-256 matches, and says so when it does not. Served by a local fake release host.

use std::path::Path;
use std::process::{Command, Output};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn target() -> Option<&'static str> {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => Some("x86_64-unknown-linux-musl"),
        ("linux", "aarch64") => Some("aarch64-unknown-linux-musl"),
        ("macos", "x86_64") => Some("x86_64-apple-darwin"),
        ("macos", "aarch64") => Some("aarch64-apple-darwin"),
        _ => None,
    }
}

/// A release tarball holding a stand-in `codereview` executable (the debug binary is too big to
/// pack quickly), and its sha256 line.
fn asset(dir: &Path, target: &str) -> (Vec<u8>, String) {
    let exe = dir.join("codereview");
    std::fs::write(&exe, "#!/bin/sh\necho codereview 9.9.9\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let tarball = dir.join(format!("codereview-{target}.tar.gz"));
    let ok = Command::new("tar")
        .args(["-czf"])
        .arg(&tarball)
        .arg("-C")
        .arg(dir)
        .arg("codereview")
        .status()
        .unwrap();
    assert!(ok.success());
    let out = Command::new("sha256sum").arg(&tarball).output().unwrap();
    let sum = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    (
        std::fs::read(&tarball).unwrap(),
        format!("{sum}  codereview-{target}.tar.gz\n"),
    )
}

async fn install(server: &MockServer, install_dir: &Path) -> Output {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/install-codereview.sh"
    );
    let uri = server.uri();
    let dir = install_dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .arg(script)
            .env("CODEREVIEW_VERSION", "v9.9.9")
            .env("CODEREVIEW_RELEASE_URL", uri)
            .env("CODEREVIEW_INSTALL_DIR", &dir)
            .env("CODEREVIEW_NO_CARGO_FALLBACK", "1")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

async fn serve(server: &MockServer, target: &str, tarball: Vec<u8>, sha: String) {
    Mock::given(method("GET"))
        .and(path(format!("/download/v9.9.9/codereview-{target}.tar.gz")))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(tarball))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/download/v9.9.9/codereview-{target}.tar.gz.sha256"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_string(sha))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn installs_a_verified_release_asset() {
    let Some(target) = target() else {
        eprintln!("skipping: no release target for this platform");
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let (tarball, sha) = asset(work.path(), target);
    let server = MockServer::start().await;
    serve(&server, target, tarball, sha).await;
    let dest = work.path().join("bin");
    let out = install(&server, &dest).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        dest.display().to_string()
    );
    assert!(stderr.contains("installed codereview-"), "{stderr}");
    let version = Command::new(dest.join("codereview"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("codereview "));
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refuses_an_asset_whose_checksum_does_not_match() {
    let Some(target) = target() else {
        eprintln!("skipping: no release target for this platform");
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let (mut tarball, sha) = asset(work.path(), target);
    let last = tarball.len() - 1;
    tarball[last] ^= 0xff; // tampered in transit
    let server = MockServer::start().await;
    serve(&server, target, tarball, sha).await;
    let dest = work.path().join("bin");
    let out = install(&server, &dest).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("checksum mismatch"), "{stderr}");
    assert!(!dest.join("codereview").exists());
}
