//! `scripts/install-codereview.sh`, which action.yml runs: it installs the release the action's
//! own checkout names (its Cargo.toml version, never `latest`), and only when a checksum that does
//! not come from the release host vouches for it — the `release-checksums/<tag>.sha256` committed
//! in the checkout, or a provenance attestation when the checkout is the release tag. Otherwise
//! it builds the checkout's own sources, and it never runs an unverified download.
//!
//! Each test builds a fake action checkout (the real script and action.yml, a Cargo.toml at
//! version 9.9.9) in a temp dir and serves releases from a local fake release host that records
//! every request.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed run, with its location

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const VERSION: &str = "v9.9.9";

fn target() -> Option<&'static str> {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => Some("x86_64-unknown-linux-musl"),
        ("linux", "aarch64") => Some("aarch64-unknown-linux-musl"),
        ("macos", "x86_64") => Some("x86_64-apple-darwin"),
        ("macos", "aarch64") => Some("aarch64-apple-darwin"),
        _ => None,
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn sha256_hex(file: &Path) -> String {
    let out = Command::new("sha256sum").arg(file).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn chmod_x(file: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A release tarball holding a stand-in `codereview` executable (the debug binary is too big to
/// pack quickly) that prints `line`, and the tarball's SHA-256.
fn asset(dir: &Path, target: &str, line: &str) -> (Vec<u8>, String) {
    let pkg = dir.join(format!("pkg-{}", line.len()));
    std::fs::create_dir_all(&pkg).unwrap();
    let exe = pkg.join("codereview");
    std::fs::write(&exe, format!("#!/bin/sh\necho '{line}'\n")).unwrap();
    chmod_x(&exe);
    let tarball = pkg.join(format!("codereview-{target}.tar.gz"));
    let ok = Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(&pkg)
        .arg("codereview")
        .status()
        .unwrap();
    assert!(ok.success());
    (std::fs::read(&tarball).unwrap(), sha256_hex(&tarball))
}

/// A copy of the action as GitHub checks it out at a ref whose Cargo.toml says 9.9.9.
fn checkout(dir: &Path) -> PathBuf {
    let root = dir.join("action-checkout");
    std::fs::create_dir_all(root.join("scripts")).unwrap();
    std::fs::create_dir_all(root.join("action/src")).unwrap();
    let script = root.join("scripts/install-codereview.sh");
    std::fs::copy(repo_root().join("scripts/install-codereview.sh"), &script).unwrap();
    chmod_x(&script);
    std::fs::copy(repo_root().join("action.yml"), root.join("action.yml")).unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        "[workspace]\nmembers = [\"action\"]\n\n[workspace.package]\nversion = \"9.9.9\"\nedition = \"2024\"\n\n[workspace.dependencies]\nserde = \"1\"\n",
    )
    .unwrap();
    std::fs::write(
        root.join("action/Cargo.toml"),
        "[package]\nname = \"codereview\"\nversion.workspace = true\n",
    )
    .unwrap();
    std::fs::write(root.join("action/src/main.rs"), "fn main() {}\n").unwrap();
    root
}

fn source_digest(checkout: &Path) -> String {
    let out = Command::new("bash")
        .arg(checkout.join("scripts/install-codereview.sh"))
        .arg("--print-source-digest")
        .env_remove("CODEREVIEW_SOURCE")
        .output()
        .unwrap();
    assert!(out.status.success());
    let digest = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(digest.len(), 64, "{digest}");
    digest
}

/// Commit `release-checksums/<version>.sha256` into the checkout, as release.yml's pull request
/// does: a header naming the source digest, then `sha256sum` lines.
fn commit_checksums(checkout: &Path, version: &str, target: &str, sum: &str, digest: &str) {
    std::fs::create_dir_all(checkout.join("release-checksums")).unwrap();
    std::fs::write(
        checkout.join(format!("release-checksums/{version}.sha256")),
        format!(
            "# codereview {version}\n# source-digest {digest}\n{}  codereview-other-target.tar.gz\n{sum}  codereview-{target}.tar.gz\n",
            "1".repeat(64)
        ),
    )
    .unwrap();
}

/// A directory with stand-in `cargo` and `gh` that record their arguments into `dir`; `gh`
/// exits with `gh_exit`, `cargo install` "builds" a codereview into `--root`.
fn fake_tools(dir: &Path, gh_exit: i32) -> PathBuf {
    let bin = dir.join("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(
        bin.join("cargo"),
        format!(
            "#!/bin/sh\necho \"$*\" > {dir}/cargo-args\nwhile [ \"$1\" != --root ]; do shift; done\nmkdir -p \"$2/bin\"\nprintf '#!/bin/sh\\necho built codereview\\n' > \"$2/bin/codereview\"\nchmod 755 \"$2/bin/codereview\"\n",
            dir = dir.display()
        ),
    )
    .unwrap();
    std::fs::write(
        bin.join("gh"),
        format!(
            "#!/bin/sh\necho \"$*\" > {}/gh-args\nexit {gh_exit}\n",
            dir.display()
        ),
    )
    .unwrap();
    chmod_x(&bin.join("cargo"));
    chmod_x(&bin.join("gh"));
    bin
}

struct Run<'a> {
    checkout: &'a Path,
    install_dir: &'a Path,
    env: Vec<(&'static str, String)>,
    path_prefix: Option<PathBuf>,
}

async fn install(server: &MockServer, run: Run<'_>) -> Output {
    let script = run.checkout.join("scripts/install-codereview.sh");
    let uri = server.uri();
    let install_dir = run.install_dir.to_path_buf();
    let path = match run.path_prefix {
        Some(p) => format!("{}:{}", p.display(), std::env::var("PATH").unwrap()),
        None => std::env::var("PATH").unwrap(),
    };
    let env = run.env;
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new("bash");
        cmd.arg(script);
        for var in [
            "CODEREVIEW_VERSION",
            "CODEREVIEW_SOURCE",
            "CODEREVIEW_ACTION_REF",
            "CODEREVIEW_ATTESTATION_REPO",
            "CODEREVIEW_NO_CARGO_FALLBACK",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("CODEREVIEW_RELEASE_URL", uri)
            .env("CODEREVIEW_INSTALL_DIR", &install_dir)
            .env("PATH", path);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    })
    .await
    .unwrap()
}

/// The release host serves `tarball` for `version`, and, next to it, a `.sha256` that matches
/// whatever it serves (an attacker who can replace the asset can replace that too). The
/// installer must fetch the asset at most once and never the `.sha256` beside it nor anything
/// under `latest`.
async fn serve(server: &MockServer, target: &str, tarball: Vec<u8>, expect_asset: u64) {
    let beside = format!(
        "{}  codereview-{target}.tar.gz\n",
        sha256_of_bytes(&tarball)
    );
    Mock::given(method("GET"))
        .and(path(format!(
            "/download/{VERSION}/codereview-{target}.tar.gz"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(tarball))
        .expect(expect_asset)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/download/{VERSION}/codereview-{target}.tar.gz.sha256"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_string(beside))
        .expect(0)
        .mount(server)
        .await;
    Mock::given(path_regex("latest"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(server)
        .await;
}

fn sha256_of_bytes(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blob");
    std::fs::write(&file, bytes).unwrap();
    sha256_hex(&file)
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn the_default_version_is_the_one_in_the_checkouts_cargo_toml() {
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/install-codereview.sh"))
        .arg("--print-version")
        .env_remove("CODEREVIEW_VERSION")
        .env_remove("CODEREVIEW_SOURCE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn installs_the_pinned_release_verified_by_the_committed_checksum() {
    let Some(target) = target() else {
        eprintln!("skipping: no release target for this platform");
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let checkout = checkout(work.path());
    let (tarball, sum) = asset(work.path(), target, "codereview 9.9.9");
    commit_checksums(&checkout, VERSION, target, &sum, &source_digest(&checkout));
    let server = MockServer::start().await;
    serve(&server, target, tarball, 1).await;
    let dest = work.path().join("bin");
    let out = install(
        &server,
        Run {
            checkout: &checkout,
            install_dir: &dest,
            env: vec![],
            path_prefix: None,
        },
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        dest.display().to_string()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "installed codereview-{target}.tar.gz (v9.9.9), sha256 {sum}, verified by checksum"
        )),
        "{stderr}"
    );
    let version = Command::new(dest.join("codereview"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        "codereview 9.9.9\n"
    );
    server.verify().await;
}

/// action.yml's install step, run as the runner runs a composite step: the input `version` left
/// at its default and the action used at a branch (`@main`), so nothing but the checkout's
/// Cargo.toml says which release to take. Before, this fetched `latest`.
#[tokio::test(flavor = "multi_thread")]
async fn action_yml_installs_the_version_of_its_own_checkout_never_latest() {
    let Some(target) = target() else {
        eprintln!("skipping: no release target for this platform");
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let checkout = checkout(work.path());
    let (tarball, sum) = asset(work.path(), target, "codereview 9.9.9");
    commit_checksums(&checkout, VERSION, target, &sum, &source_digest(&checkout));
    let server = MockServer::start().await;
    serve(&server, target, tarball, 1).await;

    let action: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(checkout.join("action.yml")).unwrap())
            .unwrap();
    assert_eq!(action["inputs"]["version"]["default"].as_str(), Some(""));
    let step = action["runs"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["id"].as_str() == Some("install"))
        .expect("an install step")
        .clone();
    let body = step["run"].as_str().unwrap().to_string();
    // The step's env, with the expressions a workflow using `codereview/codereview@main` gets.
    let mut env = Vec::new();
    for (k, v) in step["env"].as_mapping().unwrap() {
        let value = match v.as_str().unwrap() {
            "${{ inputs.version }}" => String::new(),
            "${{ github.action_ref }}" => "main".to_string(),
            "${{ inputs.token }}" => "ghs_token".to_string(),
            other => panic!("unexpected env expression {other}"),
        };
        env.push((k.as_str().unwrap().to_string(), value));
    }
    let github_path = work.path().join("github-path");
    std::fs::write(&github_path, "").unwrap();
    let dest = work.path().join("bin");
    let out = tokio::task::spawn_blocking({
        let checkout = checkout.clone();
        let github_path = github_path.clone();
        let dest = dest.clone();
        let uri = server.uri();
        move || {
            let mut cmd = Command::new("bash");
            cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &body]);
            for var in ["CODEREVIEW_SOURCE", "CODEREVIEW_NO_CARGO_FALLBACK"] {
                cmd.env_remove(var);
            }
            cmd.env("GITHUB_ACTION_PATH", &checkout)
                .env("GITHUB_PATH", &github_path)
                .env("CODEREVIEW_RELEASE_URL", uri)
                .env("CODEREVIEW_INSTALL_DIR", &dest)
                .envs(env);
            cmd.output().unwrap()
        }
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(&github_path).unwrap(),
        format!("{}\n", dest.display())
    );
    server.verify().await;
}

/// The attack: the release asset is replaced on the release host, together with the `.sha256`
/// published beside it. The committed checksum does not match, so it is refused.
#[tokio::test(flavor = "multi_thread")]
async fn refuses_a_tampered_asset_even_when_the_checksum_beside_it_matches() {
    let Some(target) = target() else {
        eprintln!("skipping: no release target for this platform");
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let checkout = checkout(work.path());
    let (_, genuine) = asset(work.path(), target, "codereview 9.9.9");
    let (evil, _) = asset(work.path(), target, "evil codereview, exfiltrating");
    commit_checksums(
        &checkout,
        VERSION,
        target,
        &genuine,
        &source_digest(&checkout),
    );
    let server = MockServer::start().await;
    serve(&server, target, evil, 1).await;
    let dest = work.path().join("bin");
    let out = install(
        &server,
        Run {
            checkout: &checkout,
            install_dir: &dest,
            env: vec![("CODEREVIEW_NO_CARGO_FALLBACK", "1".into())],
            path_prefix: None,
        },
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "checksum mismatch for codereview-{target}.tar.gz (release-checksums/v9.9.9.sha256 says {genuine}"
        )),
        "{stderr}"
    );
    assert!(!dest.join("codereview").exists());
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refuses_latest_without_a_single_request() {
    let work = tempfile::tempdir().unwrap();
    let checkout = checkout(work.path());
    let server = MockServer::start().await;
    let dest = work.path().join("bin");
    let out = install(
        &server,
        Run {
            checkout: &checkout,
            install_dir: &dest,
            env: vec![("CODEREVIEW_VERSION", "latest".into())],
            path_prefix: None,
        },
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "version \"latest\" is refused: the action runs the release its own ref names. Leave version empty (it is v9.9.9 for this ref)"
        ),
        "{}",
        text(&out)
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

/// No committed checksum for the pinned version (a commit between releases, or a tag before its
/// checksum pull request is merged): the checkout's own sources are built, and nothing is
/// downloaded from the release host.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_committed_checksum_builds_the_checkout_and_downloads_nothing() {
    let work = tempfile::tempdir().unwrap();
    let checkout = checkout(work.path());
    let tools = fake_tools(work.path(), 0);
    let server = MockServer::start().await;
    let dest = work.path().join("bin");
    let out = install(
        &server,
        Run {
            checkout: &checkout,
            install_dir: &dest,
            env: vec![],
            path_prefix: Some(tools),
        },
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let args = std::fs::read_to_string(work.path().join("cargo-args")).unwrap();
    assert_eq!(
        args.trim(),
        format!(
            "install --locked --quiet --path {}/action --root {}/cargo",
            checkout.display(),
            dest.display()
        )
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("built codereview"));
    assert!(server.received_requests().await.unwrap().is_empty());
}

/// The checkout says 9.9.9 and v9.9.9's checksums are committed, but its sources are not the
/// ones v9.9.9 was built from (a later commit that did not bump the version): the release binary
/// is not what this ref names, so the sources are built.
#[tokio::test(flavor = "multi_thread")]
async fn a_checkout_whose_sources_differ_from_the_release_builds_them() {
    let Some(target) = target() else {
        eprintln!("skipping: no release target for this platform");
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let checkout = checkout(work.path());
    let (tarball, sum) = asset(work.path(), target, "codereview 9.9.9");
    commit_checksums(&checkout, VERSION, target, &sum, &source_digest(&checkout));
    std::fs::write(
        checkout.join("action/src/main.rs"),
        "fn main() { println!(\"changed after the release\"); }\n",
    )
    .unwrap();
    let tools = fake_tools(work.path(), 0);
    let server = MockServer::start().await;
    serve(&server, target, tarball, 0).await;
    let dest = work.path().join("bin");
    let out = install(
        &server,
        Run {
            checkout: &checkout,
            install_dir: &dest,
            env: vec![],
            path_prefix: Some(tools),
        },
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("this checkout's sources differ from release v9.9.9's"),
        "{stderr}"
    );
    assert!(work.path().join("cargo-args").exists());
    server.verify().await;
    assert!(server.received_requests().await.unwrap().is_empty());
}

/// Asking for another release than the checkout's, with no checksum committed for it: nothing
/// can vouch for the download and the sources here are another version, so it stops.
#[tokio::test(flavor = "multi_thread")]
async fn another_version_without_a_committed_checksum_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let checkout = checkout(work.path());
    let tools = fake_tools(work.path(), 0);
    let server = MockServer::start().await;
    let dest = work.path().join("bin");
    let out = install(
        &server,
        Run {
            checkout: &checkout,
            install_dir: &dest,
            env: vec![("CODEREVIEW_VERSION", "v9.9.8".into())],
            path_prefix: Some(tools),
        },
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "cannot build v9.9.8 from this checkout (it holds v9.9.9): pin the action to v9.9.8"
        ),
        "{}",
        text(&out)
    );
    assert!(!work.path().join("cargo-args").exists());
    assert!(server.received_requests().await.unwrap().is_empty());
}

async fn attested_install(gh_exit: i32) -> (tempfile::TempDir, Output, PathBuf, String) {
    let target = target().unwrap();
    let work = tempfile::tempdir().unwrap();
    let checkout = checkout(work.path());
    let (tarball, _) = asset(work.path(), target, "codereview 9.9.9");
    let tools = fake_tools(work.path(), gh_exit);
    let server = MockServer::start().await;
    serve(&server, target, tarball, 1).await;
    let dest = work.path().join("bin");
    let out = install(
        &server,
        Run {
            checkout: &checkout,
            install_dir: &dest,
            env: vec![
                ("CODEREVIEW_ACTION_REF", VERSION.into()),
                ("CODEREVIEW_NO_CARGO_FALLBACK", "1".into()),
            ],
            path_prefix: Some(tools),
        },
    )
    .await;
    server.verify().await;
    let gh = std::fs::read_to_string(work.path().join("gh-args")).unwrap_or_default();
    (work, out, dest, gh)
}

/// Used at the release tag itself (`@v9.9.9`), whose checkout cannot hold its own checksums:
/// GitHub's provenance attestation, checked with `gh`, must say the asset was built by this
/// repository's release workflow from that tag.
#[tokio::test(flavor = "multi_thread")]
async fn at_the_release_tag_the_provenance_attestation_is_checked_with_gh() {
    let Some(target) = target() else {
        eprintln!("skipping: no release target for this platform");
        return;
    };
    let (_work, out, dest, gh) = attested_install(0).await;
    assert!(out.status.success(), "{}", text(&out));
    let asset = format!("codereview-{target}.tar.gz");
    assert!(gh.starts_with("attestation verify /"), "{gh}");
    assert!(
        gh.trim_end().ends_with(&format!(
            "/{asset} --repo codereview/codereview --signer-workflow codereview/codereview/.github/workflows/release.yml --source-ref refs/tags/v9.9.9 --deny-self-hosted-runners"
        )),
        "{gh}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("verified by attestation"),
        "{}",
        text(&out)
    );
    assert!(dest.join("codereview").exists());

    let (_work, out, dest, gh) = attested_install(1).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!gh.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the provenance attestation of codereview-"),
        "{}",
        text(&out)
    );
    assert!(!dest.join("codereview").exists());
}

/// The `run` body of the release workflow's step whose name starts with `name`, in job `job`.
fn release_step(job: &str, name: &str) -> String {
    let workflow: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repo_root().join(".github/workflows/release.yml")).unwrap(),
    )
    .unwrap();
    workflow["jobs"][job]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["name"].as_str().is_some_and(|n| n.starts_with(name)))
        .unwrap_or_else(|| panic!("step {name} in job {job}"))["run"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Run a workflow step's body in `dir` as the runner does (bash -eo pipefail).
fn run_step(body: &str, dir: &Path, env: &[(&str, String)], path_prefix: Option<&Path>) -> Output {
    let mut cmd = Command::new("bash");
    cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", body])
        .current_dir(dir);
    if let Some(p) = path_prefix {
        cmd.env(
            "PATH",
            format!("{}:{}", p.display(), std::env::var("PATH").unwrap()),
        );
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Round trip: what release.yml commits (`release-checksums/<tag>.sha256`, from the built
/// assets and the tag's sources) is what the installer accepts for a checkout of that tag.
#[tokio::test(flavor = "multi_thread")]
async fn the_release_workflow_commits_checksums_the_installer_accepts() {
    let Some(target) = target() else {
        eprintln!("skipping: no release target for this platform");
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let checkout = checkout(work.path());
    let (tarball, _) = asset(work.path(), target, "codereview 9.9.9");
    let dist = work.path().join("runner-temp/dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(dist.join(format!("codereview-{target}.tar.gz")), &tarball).unwrap();
    std::fs::write(dist.join("codereview-other.tar.gz"), b"other").unwrap();
    // git and gh stand-ins: the step commits, pushes and opens a pull request.
    let bin = work.path().join("release-bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["git", "gh"] {
        std::fs::write(
            bin.join(tool),
            format!(
                "#!/bin/sh\necho \"{tool} $*\" >> {}/release-log\n",
                work.path().display()
            ),
        )
        .unwrap();
        chmod_x(&bin.join(tool));
    }
    let out = run_step(
        &release_step("checksums", "commit release-checksums"),
        &checkout,
        &[
            ("GITHUB_REF_NAME", VERSION.into()),
            (
                "RUNNER_TEMP",
                work.path().join("runner-temp").display().to_string(),
            ),
            ("GH_TOKEN", "ghs_x".into()),
        ],
        Some(&bin),
    );
    assert!(out.status.success(), "{}", text(&out));
    let committed =
        std::fs::read_to_string(checkout.join("release-checksums/v9.9.9.sha256")).unwrap();
    assert!(
        committed.contains(&format!("# source-digest {}\n", source_digest(&checkout))),
        "{committed}"
    );
    let log = std::fs::read_to_string(work.path().join("release-log")).unwrap();
    assert!(
        log.contains("git add release-checksums/v9.9.9.sha256")
            && log.contains("gh pr create --base main"),
        "{log}"
    );

    let server = MockServer::start().await;
    serve(&server, target, tarball, 1).await;
    let dest = work.path().join("bin");
    let out = install(
        &server,
        Run {
            checkout: &checkout,
            install_dir: &dest,
            env: vec![],
            path_prefix: None,
        },
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("verified by checksum"),
        "{}",
        text(&out)
    );
    server.verify().await;
}

/// The release workflow refuses a tag that is not the Cargo.toml version: the action would not
/// find its own release.
#[test]
fn the_release_workflow_refuses_a_tag_other_than_the_cargo_version() {
    let work = tempfile::tempdir().unwrap();
    let checkout = checkout(work.path());
    let body = release_step("version", "the tag is the version");
    let ok = run_step(
        &body,
        &checkout,
        &[("GITHUB_REF_NAME", VERSION.into())],
        None,
    );
    assert!(ok.status.success(), "{}", text(&ok));
    let bad = run_step(
        &body,
        &checkout,
        &[("GITHUB_REF_NAME", "v9.9.10".into())],
        None,
    );
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("tag v9.9.10 does not match Cargo.toml (v9.9.9)"),
        "{}",
        text(&bad)
    );
}
