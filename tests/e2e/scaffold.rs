//! `wharf new`: every generated project (Rust, Python, JavaScript ×
//! source, destination, mapper) builds, passes its own tests in the sandbox
//! (the language's harness driving `wharf dev rpc`: a cassette replayed,
//! scripted answers, a mapping), and a Rust one's component runs with
//! `wharf dev`.

use std::path::Path;
use std::process::Command;

use crate::dev_cli::wharf;

/// Settings of the outer build that must not reach the projects' own.
const OUTER_BUILD: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_TARGET",
    "CARGO_MANIFEST_DIR",
    "CARGO_PKG_NAME",
];

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_rust_projects_build_and_pass_their_own_tests() {
    let dir = tempfile::tempdir().unwrap();
    // One target directory for the three projects, under the workspace's
    // (so a second run of the suite builds nothing again).
    let target = workspace().join("target").join("scaffolds");
    for role in ["source", "destination", "mapper"] {
        let name = format!("acme-{role}");
        let project = dir.path().join(&name);
        let out = wharf(
            &[
                "new",
                &name,
                "--lang",
                "rust",
                "--role",
                role,
                "--dir",
                &project.display().to_string(),
            ],
            None,
        )
        .await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(out.stderr.contains("cargo test"), "{}", out.stderr);
        for file in [
            "Cargo.toml",
            "README.md",
            "src/lib.rs",
            "tests/connector.rs",
        ] {
            assert!(project.join(file).is_file(), "{role}: {file}");
        }
        // The workspace's lock pins the same versions (and builds nothing
        // it has not already built).
        std::fs::copy(workspace().join("Cargo.lock"), project.join("Cargo.lock")).unwrap();

        let mut test = Command::new(env!("CARGO"));
        test.current_dir(&project)
            .args(["test", "--quiet"])
            .env("CARGO_TARGET_DIR", &target)
            .env("WHARF", env!("CARGO_BIN_EXE_wharf"));
        for var in OUTER_BUILD {
            test.env_remove(var);
        }
        let ran = tokio::task::spawn_blocking(move || test.output())
            .await
            .unwrap()
            .unwrap();
        let stdout = String::from_utf8_lossy(&ran.stdout);
        let stderr = String::from_utf8_lossy(&ran.stderr);
        assert!(
            ran.status.success(),
            "{role}: cargo test failed\n{stdout}\n{stderr}"
        );
        assert!(stdout.contains("test result: ok"), "{role}: {stdout}");

        // As generated, the component runs with `wharf dev`.
        let wasm = target
            .join("wharf-component/wasm32-wasip2/release")
            .join(format!("{}.wasm", name.replace('-', "_")));
        let spec = wharf(&["dev", "spec", &wasm.display().to_string()], None).await;
        assert_eq!(spec.code, 0, "{}", spec.stderr);
        let spec: serde_json::Value = serde_json::from_str(&spec.stdout).unwrap();
        assert_eq!(spec["spec"]["name"], name.as_str());
        assert_eq!(spec["spec"]["roles"][0], role);
    }

    // A name that is not a connector's, and a directory in use, are refused.
    let out = wharf(&["new", "Acme", "--dir", "/nonexistent/x"], None).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("not a connector name"),
        "{}",
        out.stderr
    );
    let out = wharf(
        &["new", "acme", "--dir", &dir.path().display().to_string()],
        None,
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("is not empty"), "{}", out.stderr);
}

/// Python and JavaScript projects: generated, then their own test command
/// (`python3 -m unittest`, `npm test`), which builds the component with
/// the language's toolchain (installed into target/ once) and drives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_python_and_javascript_projects_pass_their_own_tests() {
    let dir = tempfile::tempdir().unwrap();
    let cache = workspace().join("target").join("scaffold-cache");
    for (lang, test, guest) in [
        (
            "python",
            &["python3", "-m", "unittest", "-v"][..],
            &crate::languages::PYTHON,
        ),
        (
            "javascript",
            &["npm", "test"][..],
            &crate::languages::JAVASCRIPT,
        ),
    ] {
        // The toolchain is installed once, by the language's own test.
        crate::languages::built(guest).await;
        for role in ["source", "destination", "mapper"] {
            let name = format!("acme-{lang}-{role}");
            let project = dir.path().join(&name);
            let out = wharf(
                &[
                    "new",
                    &name,
                    "--lang",
                    lang,
                    "--role",
                    role,
                    "--dir",
                    &project.display().to_string(),
                ],
                None,
            )
            .await;
            assert_eq!(out.code, 0, "{}", out.stderr);
            let mut cmd = Command::new(test[0]);
            cmd.args(&test[1..])
                .current_dir(&project)
                .env("WHARF", env!("CARGO_BIN_EXE_wharf"))
                // Compiled components are cached across the projects.
                .env("XDG_CACHE_HOME", &cache);
            let ran = tokio::task::spawn_blocking(move || cmd.output())
                .await
                .unwrap()
                .unwrap();
            let output = format!(
                "{}\n{}",
                String::from_utf8_lossy(&ran.stdout),
                String::from_utf8_lossy(&ran.stderr)
            );
            assert!(
                ran.status.success(),
                "{lang} {role}: tests failed\n{output}"
            );
            assert!(
                output.contains("OK") || output.contains("# pass"),
                "{lang} {role}: {output}"
            );
        }
    }
}
