//! `.gitlab-ci-template.yml`: its job is what `docs/gitlab.md` says it is, the include snippets in
//! the docs are the ones the template supports, and its install script, run the way a GitLab
//! runner runs it (bash, `set -eo pipefail`, the job's variables exported), installs the release
//! the template names (never `latest`) from a fake release server, verified against the checksum
//! committed in this repository (served from another place than the asset), or falls back to
//! `cargo install` of that release's tag when it cannot.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed run, with its location

use serde_yaml_ng::{Mapping, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const JOB: &str = "codereview:status";
const TEMPLATE: &str = ".gitlab-ci-template.yml";
const REMOTE: &str =
    "https://raw.githubusercontent.com/codereview/codereview/main/.gitlab-ci-template.yml";
const TARGETS: [&str; 4] = [
    "x86_64-unknown-linux-musl",
    "aarch64-unknown-linux-musl",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn template_text() -> String {
    std::fs::read_to_string(repo_root().join(TEMPLATE)).expect("the template exists")
}

fn template() -> Value {
    serde_yaml_ng::from_str(&template_text()).expect("the template is YAML")
}

fn job() -> Mapping {
    template()
        .get(JOB)
        .and_then(Value::as_mapping)
        .cloned()
        .expect("the template defines the job")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .expect("a list")
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

fn variable(name: &str) -> String {
    job()["variables"][name]
        .as_str()
        .unwrap_or_else(|| panic!("variable {name} is a string"))
        .to_string()
}

#[test]
fn the_template_adds_one_job_and_no_global_keys() {
    let top: Vec<String> = template()
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    // No stages, variables, workflow, default or include: including it changes nothing else.
    assert_eq!(top, vec![JOB]);
}

#[test]
fn the_job_runs_only_in_merge_request_pipelines() {
    let job = job();
    let rules = job["rules"].as_sequence().expect("rules");
    assert_eq!(rules.len(), 1);
    let rule = rules[0].as_mapping().unwrap();
    assert_eq!(rule.len(), 1, "only the if: {rule:?}");
    assert_eq!(
        rule["if"].as_str(),
        Some(r#"$CI_PIPELINE_SOURCE == "merge_request_event""#)
    );
    for legacy in ["only", "except", "when"] {
        assert!(!job.contains_key(legacy), "{legacy} would fight the rules");
    }
    assert_eq!(job["stage"].as_str(), Some("test"));
    assert_eq!(job["interruptible"].as_bool(), Some(true));
}

#[test]
fn the_job_fetches_history_and_keeps_the_summary_and_dotenv() {
    assert_eq!(variable("GIT_DEPTH"), "0");
    // The release the template runs is the version of the commit it is included from.
    assert_eq!(
        variable("CODEREVIEW_VERSION"),
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        variable("CODEREVIEW_CHECKSUMS_URL"),
        "https://raw.githubusercontent.com/codereview/codereview/main/release-checksums"
    );
    assert_eq!(
        variable("CODEREVIEW_RELEASE_URL"),
        "https://github.com/codereview/codereview/releases"
    );
    assert_eq!(
        variable("CODEREVIEW_GIT_URL"),
        "https://github.com/codereview/codereview"
    );
    let job = job();
    let artifacts = &job["artifacts"];
    assert_eq!(artifacts["when"].as_str(), Some("always"));
    assert_eq!(strings(&artifacts["paths"]), vec!["codereview-summary.md"]);
    assert_eq!(
        artifacts["reports"]["dotenv"].as_str(),
        Some("codereview.env")
    );
    assert_eq!(artifacts["expose_as"].as_str(), Some("codereview summary"));
    let image = job["image"].as_str().expect("an image");
    assert!(image.starts_with("debian:"), "{image}");
}

#[test]
fn the_script_installs_the_release_assets_and_runs_codereview_status() {
    let job = job();
    assert_eq!(strings(&job["script"]), vec!["codereview status"]);
    let install = strings(&job["before_script"]).join("\n");
    for target in TARGETS {
        assert!(
            install.contains(&format!(") target={target} ;;")),
            "{target}"
        );
    }
    for needed in [
        r#"asset="codereview-$target.tar.gz""#,
        r#"checksums="$CODEREVIEW_CHECKSUMS_URL/$CODEREVIEW_VERSION.sha256""#,
        r#"download="$CODEREVIEW_RELEASE_URL/download/$CODEREVIEW_VERSION""#,
        r#"cargo install --locked --git "$CODEREVIEW_GIT_URL" --tag "$CODEREVIEW_VERSION""#,
    ] {
        assert!(install.contains(needed), "{needed}");
    }
    // Nothing is ever taken from `latest`, nor checked against a checksum beside the asset.
    assert!(!install.contains("/latest/"));
    assert!(!install.contains("$asset.sha256"));
}

/// The fenced YAML between `<!-- {marker}:start -->` and `<!-- {marker}:end -->` in
/// `docs/gitlab.md`, dedented.
fn docs_snippet(marker: &str) -> String {
    snippet_in("docs/gitlab.md", marker)
}

/// The same for any Markdown file of the repository.
fn snippet_in(file: &str, marker: &str) -> String {
    let docs = std::fs::read_to_string(repo_root().join(file)).unwrap();
    let start = format!("<!-- {marker}:start -->");
    let end = format!("<!-- {marker}:end -->");
    let block = &docs[docs.find(&start).expect("start marker") + start.len()
        ..docs.find(&end).expect("end marker")];
    let lines: Vec<&str> = block
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("```"))
        .collect();
    dedent(&lines).join("\n")
}

fn dedent(lines: &[&str]) -> Vec<String> {
    let indent = lines
        .iter()
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    lines.iter().map(|l| l[indent..].to_string()).collect()
}

/// Whether the template's header comment shows `snippet` (same lines, any indentation).
fn template_header_shows(snippet: &str) -> bool {
    let text = template_text();
    let header: Vec<&str> = text
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim_end())
        .collect();
    let want: Vec<&str> = snippet.lines().collect();
    header.windows(want.len()).any(|w| {
        dedent(w)
            .iter()
            .map(String::as_str)
            .eq(want.iter().copied())
    })
}

#[test]
fn the_docs_include_snippets_are_what_the_template_supports() {
    let remote = docs_snippet("codereview:gitlab-include");
    let parsed: Value = serde_yaml_ng::from_str(&remote).unwrap();
    let include = parsed["include"].as_sequence().expect("include list");
    assert_eq!(include.len(), 1);
    assert_eq!(include[0]["remote"].as_str(), Some(REMOTE));
    // The remote URL names this very file at the repository root.
    assert!(REMOTE.ends_with(&format!("/main/{TEMPLATE}")));
    assert!(template_header_shows(&remote), "template header:\n{remote}");

    let project = docs_snippet("codereview:gitlab-include-project");
    let parsed: Value = serde_yaml_ng::from_str(&project).unwrap();
    let include = &parsed["include"][0];
    assert_eq!(include["file"].as_str(), Some(TEMPLATE));
    assert!(include["project"].as_str().is_some_and(|p| p.contains('/')));
    assert!(include["ref"].as_str().is_some());
    assert!(
        template_header_shows(&project),
        "template header:\n{project}"
    );

    // The README's quick start shows the same include as the docs.
    assert_eq!(snippet_in("README.md", "codereview:gitlab-include"), remote);

    // The job the docs tell people to redefine is the template's.
    let docs = std::fs::read_to_string(repo_root().join("docs/gitlab.md")).unwrap();
    assert!(docs.contains(&format!("`{JOB}`")));
}

// ---- Running the install script as a runner would ----

fn target() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "aarch64-unknown-linux-musl",
        _ => "x86_64-unknown-linux-musl",
    }
}

fn sh(dir: &Path, script: &str) {
    let out = Command::new("sh")
        .current_dir(dir)
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A release asset holding a stand-in `codereview` that reports its arguments, and its checksum
/// as `sha256sum` prints it.
fn release_asset(dir: &Path) -> (Vec<u8>, String) {
    let asset = format!("codereview-{}.tar.gz", target());
    std::fs::create_dir_all(dir.join("pkg/codereview-dist")).unwrap();
    std::fs::write(
        dir.join("pkg/codereview-dist/codereview"),
        "#!/bin/sh\necho \"released codereview ran: $*\"\n",
    )
    .unwrap();
    sh(
        dir,
        &format!(
            "chmod 755 pkg/codereview-dist/codereview && tar -czf {asset} -C pkg codereview-dist && sha256sum {asset} > {asset}.sha256"
        ),
    );
    (
        std::fs::read(dir.join(&asset)).unwrap(),
        std::fs::read_to_string(dir.join(format!("{asset}.sha256"))).unwrap(),
    )
}

/// Run `before_script` then `script` with bash, as the runner does, with the job's variables
/// (some overridden) exported.
fn run_job(overrides: &[(&str, String)], path_prefix: Option<&Path>, home: &Path) -> Output {
    let job = job();
    let body = format!(
        "set -eo pipefail\n{}\n{}\n",
        strings(&job["before_script"]).join("\n"),
        strings(&job["script"]).join("\n")
    );
    let mut cmd = Command::new("bash");
    cmd.env_clear().args(["-c", &body]).current_dir(home);
    let path = std::env::var("PATH").unwrap();
    cmd.env(
        "PATH",
        match path_prefix {
            Some(p) => format!("{}:{path}", p.display()),
            None => path,
        },
    );
    cmd.env("HOME", home);
    for (k, v) in job["variables"].as_mapping().unwrap() {
        cmd.env(k.as_str().unwrap(), v.as_str().unwrap());
    }
    for (k, v) in overrides {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn serve(server: &MockServer, url_path: String, body: Vec<u8>) {
    serve_n(server, url_path, body, 1).await;
}

async fn serve_n(server: &MockServer, url_path: String, body: Vec<u8>, times: u64) {
    Mock::given(method("GET"))
        .and(path(url_path))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(body))
        .expect(times)
        .mount(server)
        .await;
}

/// The release host also publishes a `.sha256` beside each asset, matching whatever it serves,
/// and a `latest` alias: the job must use neither.
async fn serve_decoys(server: &MockServer, version: &str, served: &[u8]) {
    let asset = format!("codereview-{}.tar.gz", target());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(&asset), served).unwrap();
    sh(dir.path(), &format!("sha256sum {asset} > {asset}.sha256"));
    serve_n(
        server,
        format!("/releases/download/{version}/{asset}.sha256"),
        std::fs::read(dir.path().join(format!("{asset}.sha256"))).unwrap(),
        0,
    )
    .await;
    Mock::given(path_regex("/latest/"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(server)
        .await;
}

fn pinned() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

async fn job_with(
    server: &MockServer,
    dir: &Path,
    extra: Vec<(&'static str, String)>,
    cargo: Option<PathBuf>,
) -> Output {
    let uri = server.uri();
    let home = dir.to_path_buf();
    let install_dir = dir.join("bin");
    tokio::task::spawn_blocking(move || {
        let mut overrides = vec![
            ("CODEREVIEW_RELEASE_URL", format!("{uri}/releases")),
            (
                "CODEREVIEW_CHECKSUMS_URL",
                format!("{uri}/repo/main/release-checksums"),
            ),
            ("CODEREVIEW_INSTALL_DIR", install_dir.display().to_string()),
            (
                "CODEREVIEW_GIT_URL",
                "https://example.invalid/codereview".into(),
            ),
        ];
        overrides.extend(extra);
        run_job(&overrides, cargo.as_deref(), &home)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_job_installs_the_pinned_release_verified_by_the_committed_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let (tarball, checksum) = release_asset(dir.path());
    let server = MockServer::start().await;
    let asset = format!("codereview-{}.tar.gz", target());
    let version = pinned();
    serve_decoys(&server, &version, &tarball).await;
    serve(
        &server,
        format!("/releases/download/{version}/{asset}"),
        tarball,
    )
    .await;
    serve(
        &server,
        format!("/repo/main/release-checksums/{version}.sha256"),
        format!(
            "# codereview {version}\n{}  codereview-other.tar.gz\n{checksum}",
            "1".repeat(64)
        )
        .into_bytes(),
    )
    .await;
    let out = job_with(&server, dir.path(), vec![], None).await;
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "codereview: release {version} ({asset}, sha256 verified against release-checksums/{version}.sha256)"
        )),
        "{}",
        text(&out)
    );
    assert!(
        stdout.contains("released codereview ran: status"),
        "{}",
        text(&out)
    );
    assert!(dir.path().join("bin/codereview").exists());
    server.verify().await;
}

/// A stand-in `cargo` that records its arguments and "installs" a codereview into `--root`.
fn fake_cargo(dir: &Path) -> PathBuf {
    let bin = dir.join("fake-cargo");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(
        bin.join("cargo"),
        format!(
            "#!/bin/sh\necho \"$*\" > {}/cargo-args\nwhile [ \"$1\" != --root ]; do shift; done\nmkdir -p \"$2/bin\"\nprintf '#!/bin/sh\\necho \"built codereview ran: $*\"\\n' > \"$2/bin/codereview\"\nchmod 755 \"$2/bin/codereview\"\n",
            dir.display()
        ),
    )
    .unwrap();
    sh(dir, "chmod 755 fake-cargo/cargo");
    bin
}

/// The attack: the asset is replaced on the release host together with the `.sha256` beside it.
/// The checksum committed in the repository does not match: the job says so, never runs the
/// download and builds the same version from its tag instead.
#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_asset_is_refused_even_with_a_matching_checksum_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_, genuine) = release_asset(dir.path());
    std::fs::write(
        dir.path().join("pkg/codereview-dist/codereview"),
        "#!/bin/sh\necho \"tampered codereview ran: $*\"\n",
    )
    .unwrap();
    let asset = format!("codereview-{}.tar.gz", target());
    sh(
        dir.path(),
        &format!("tar -czf {asset} -C pkg codereview-dist"),
    );
    let evil = std::fs::read(dir.path().join(&asset)).unwrap();
    let server = MockServer::start().await;
    serve_decoys(&server, "v9.9.9", &evil).await;
    serve(&server, format!("/releases/download/v9.9.9/{asset}"), evil).await;
    serve(
        &server,
        "/repo/main/release-checksums/v9.9.9.sha256".into(),
        genuine.into_bytes(),
    )
    .await;
    let cargo_dir = fake_cargo(dir.path());
    let out = job_with(
        &server,
        dir.path(),
        vec![("CODEREVIEW_VERSION", "v9.9.9".into())],
        Some(cargo_dir),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "WARNING: {asset} does not match the checksum committed for v9.9.9; not using it"
        )),
        "{}",
        text(&out)
    );
    let args = std::fs::read_to_string(dir.path().join("cargo-args")).unwrap();
    assert!(
        args.starts_with(
            "install --locked --git https://example.invalid/codereview --tag v9.9.9 --root "
        ) && args.trim_end().ends_with(" codereview"),
        "{args}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("built codereview ran: status"),
        "{}",
        text(&out)
    );
    assert!(!stdout.contains("tampered codereview"), "{}", text(&out));
    server.verify().await;
}

/// No checksum committed for the pinned version (404): no asset is downloaded at all, and the
/// pinned version's tag is built.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_committed_checksum_the_pinned_tag_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await; // answers 404 to everything
    let cargo_dir = fake_cargo(dir.path());
    let out = job_with(&server, dir.path(), vec![], Some(cargo_dir)).await;
    assert!(out.status.success(), "{}", text(&out));
    let args = std::fs::read_to_string(dir.path().join("cargo-args")).unwrap();
    assert!(
        args.starts_with(&format!(
            "install --locked --git https://example.invalid/codereview --tag {} --root ",
            pinned()
        )),
        "{args}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no committed checksum for codereview-"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("built codereview ran: status"));
    let requests: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_string())
        .collect();
    assert_eq!(
        requests,
        vec![format!("/repo/main/release-checksums/{}.sha256", pinned())]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn latest_is_refused_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    let cargo_dir = fake_cargo(dir.path());
    let out = job_with(
        &server,
        dir.path(),
        vec![("CODEREVIEW_VERSION", "latest".into())],
        Some(cargo_dir),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("CODEREVIEW_VERSION=latest is refused"),
        "{}",
        text(&out)
    );
    assert!(!dir.path().join("cargo-args").exists());
    assert!(server.received_requests().await.unwrap().is_empty());
}
