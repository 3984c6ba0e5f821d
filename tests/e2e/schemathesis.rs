//! Schemathesis against the real `wharf serve`, from the document it
//! serves: examples, the coverage phase (boundaries, missing and wrong
//! values, other methods), fuzzing and stateful sequences, with valid and
//! invalid inputs. It must find no server error, no answer off its
//! documented status, content type or schema, and no input the document
//! allows that the server refuses for its shape.
//!
//! A valid input may still be refused for what the document cannot say;
//! those operations list the one status they may answer and why (see
//! `CONFIG`). Everything else that is valid must be accepted, or be `404`
//! (the generated ids name nothing) or `409`.

use std::process::Command;

use crate::openapi::pytools;
use crate::serve::Server;

/// The checks: no 5xx, every status, content type and body as documented,
/// and valid inputs accepted.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance,positive_data_acceptance";

/// What a well-formed request about things that do not exist (the ids are
/// generated) or that collide may be answered.
const CONFIG: &str = r#"
[generation]
database = "none"

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "429"]
"#;

/// Operations that also refuse, for what only the server can judge, a
/// request the schema allows: a connector upload whose bytes are not a
/// Wasm component that loads (422); a webhook URL whose host does not
/// resolve, or resolves to a blocked network not granted (422); an OAuth2
/// callback with a code and state this server did not issue (400). They run
/// apart, because schemathesis 4.32 lets one operation's expected statuses
/// leak into the others'.
const SEMANTIC: &[&str] = &["post_connectors", "post_webhooks", "get_oauth_callback"];
const SEMANTIC_CONFIG: &str = r#"
[generation]
database = "none"

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "400", "401", "403", "404", "409", "422", "429"]
"#;

/// Run schemathesis with `config` and the extra arguments; its output.
fn schemathesis(
    dir: &std::path::Path,
    name: &str,
    url: &str,
    key: &str,
    config: &str,
    extra: &[&str],
) -> (bool, String) {
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, config).unwrap();
    let out = Command::new(pytools().join("bin/st"))
        .current_dir(dir)
        .arg("--config-file")
        .arg(&file)
        .args(["run", url])
        .args(["-H", &format!("Authorization: Bearer {key}")])
        .args(["--checks", &CHECKS.split_whitespace().collect::<String>()])
        .args([
            "--mode",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
        ])
        .args([
            "--max-examples",
            "25",
            "--seed",
            "20261125",
            "--workers",
            "2",
        ])
        .args(["--no-color", "--report", "junit", "--report-junit-path"])
        .arg(dir.join(format!("{name}.junit.xml")))
        .args(extra)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_no_answer_off_schema_and_no_valid_input_refused() {
    pytools();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path().join("data"),
        None,
        // Schemathesis tries wrong keys on purpose: the limits would answer
        // everything 429 after a while.
        &["--rate-limit", "100000", "--failed-sign-ins", "100000"],
    )
    .await;
    let key = server
        .key
        .clone()
        .expect("the first start prints an admin key");
    let url = format!("{}/api/v1/openapi.json", server.url);
    let work = dir.path().to_path_buf();
    let (ok, out) = tokio::task::spawn_blocking(move || {
        let mut others = Vec::new();
        let mut only = Vec::new();
        for id in SEMANTIC {
            others.extend(["--exclude-operation-id", id]);
            only.extend(["--include-operation-id", id]);
        }
        let (a, out_a) = schemathesis(&work, "all", &url, &key, CONFIG, &others);
        let (b, out_b) = schemathesis(&work, "semantic", &url, &key, SEMANTIC_CONFIG, &only);
        (a && b, format!("{out_a}\n{out_b}"))
    })
    .await
    .unwrap();
    let log = server.output.lock().unwrap().clone();
    assert!(ok, "schemathesis found problems:\n{out}");
    assert!(
        !log.contains("database is locked"),
        "the server log shows SQLite lock failures:\n{log}"
    );
    assert!(
        !log.contains("internal error"),
        "the server logged internal errors:\n{log}"
    );
    eprintln!("{out}");
    server.stop().await;
}
