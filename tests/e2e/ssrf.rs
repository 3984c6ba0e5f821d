//! Every destination in `../shared/vectors/ssrf-denied.txt` is refused
//! before any connection is made, and a granted network lets the same
//! request through.
//!
//! The test re-runs itself inside fresh network and mount namespaces
//! (`unshare`), where it can put the vectors' addresses on the loopback
//! interface, listen on their ports (80, 22, 5432, 6379: taken on the real
//! machine) and point names at blocked addresses through its own
//! `/etc/hosts`, without touching the machine. Listeners count every
//! accepted connection; after the refusals they must count zero.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

use crate::support::{load, runtime, session};

const CHILD_ENV: &str = "WHARF_SSRF_NETNS";
const TEST_NAME: &str = "ssrf::vectors_are_refused_before_any_connection";

fn vectors() -> Vec<String> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/ssrf-denied.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "read {}: {e} (../shared must sit beside the project)",
            path.display()
        )
    });
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn vectors_are_refused_before_any_connection() {
    if std::env::var_os(CHILD_ENV).is_some() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(inside_namespace());
        return;
    }
    let hosts = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        hosts.path(),
        "127.0.0.1 localhost\n::1 localhost\n127.0.0.1 rebind.test\n::1 rebind6.test\n10.0.0.1 internal.test\n",
    )
    .unwrap();
    let exe = std::env::current_exe().unwrap();
    let script = format!(
        "mount --bind {} /etc/hosts && exec {} --exact {TEST_NAME} --nocapture --test-threads 1",
        hosts.path().display(),
        exe.display()
    );
    let out = Command::new("unshare")
        .args(["--net", "--mount", "--", "sh", "-c", &script])
        .env(CHILD_ENV, "1")
        .output()
        .expect("run unshare (util-linux) to create a network namespace");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "the test inside the network namespace failed:\n{stdout}\n{stderr}"
    );
}

/// Put an address on `lo` inside the namespace (errors are fine: some
/// vectors, such as multicast, cannot be local addresses).
fn add_local_address(addr: &str) {
    let prefix = if addr.contains(':') { "128" } else { "32" };
    let _ = Command::new("ip")
        .args(["addr", "add", &format!("{addr}/{prefix}"), "dev", "lo"])
        .output();
}

/// Accepts on `[::]:port` (dual stack), counts connections, answers HTTP.
async fn listen(port: u16, count: Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind(("::", port))
        .await
        .unwrap_or_else(|e| panic!("bind [::]:{port} inside the namespace: {e}"));
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let _ = sock
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\nreached",
                    )
                    .await;
            });
        }
    });
}

async fn inside_namespace() {
    let status = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .unwrap();
    assert!(status.success(), "bring lo up");
    for addr in [
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "fd00:ec2::254",
        "fc00::1",
        "64:ff9b::7f00:1",
        "2002:7f00:1::1",
        "::7f00:1",
    ] {
        add_local_address(addr);
    }
    let mut counters = BTreeMap::new();
    for port in [80u16, 22, 5432, 6379] {
        let count = Arc::new(AtomicUsize::new(0));
        listen(port, count.clone()).await;
        counters.insert(port, count);
    }
    let total = || {
        counters
            .values()
            .map(|c| c.load(Ordering::SeqCst))
            .sum::<usize>()
    };

    let rt = runtime();
    let hostile = load(&rt, "hostile").await;
    let mut vectors = vectors();
    // Names that resolve (through this namespace's /etc/hosts) to blocked
    // addresses are refused too.
    vectors.extend(
        [
            "http://rebind.test/",
            "http://rebind6.test/",
            "http://internal.test/",
        ]
        .map(String::from),
    );
    assert!(vectors.len() > 40, "the vector file was read");

    for line in &vectors {
        // Grant exactly the vector's origin, so the refusal must come from
        // the address rules, not from a missing host grant.
        let grant = Url::parse(line)
            .ok()
            .and_then(|u| wharf::model::grants::HostPattern::origin_of(&u).ok())
            .map(|p| p.to_string());
        let grants: Vec<&str> = grant.iter().map(String::as_str).collect();
        let s = session(
            &rt,
            &hostile,
            json!({"attack": "request", "url": line}),
            &grants,
            &[],
            &[],
        );
        let err = match s.fetch("out", None).await {
            Ok(page) => panic!("{line} was fetched: {page:?}"),
            Err(e) => e,
        };
        let text = err.to_string();
        assert!(
            text.contains("refused by the host") || text.contains("invalid request"),
            "{line}: refused for the wrong reason (a connection may have been tried): {text}"
        );
        assert_eq!(total(), 0, "{line} reached a listener");
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(total(), 0, "no listener may have seen a connection");

    // A granted network lets the same requests through.
    for line in [
        "http://127.0.0.1/",
        "http://0x7f000001/",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://127.0.0.1:5432/",
        "http://rebind.test/",
    ] {
        let before = total();
        let grant = wharf::model::grants::HostPattern::origin_of(&Url::parse(line).unwrap())
            .unwrap()
            .to_string();
        let s = session(
            &rt,
            &hostile,
            json!({"attack": "request", "url": line}),
            &[&grant],
            &["127.0.0.0/8", "::1/128", "10.0.0.0/8"],
            &[],
        );
        let page = s
            .fetch("out", None)
            .await
            .unwrap_or_else(|e| panic!("{line} with its network granted: {e}"));
        assert_eq!(page.records[0].fields()["body"], json!("reached"), "{line}");
        assert_eq!(total(), before + 1, "{line} made exactly one connection");
    }
}
