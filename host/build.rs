//! Compiles every crate in `guests/` to a `wasm32-wasip2` component, so the
//! tests, benchmarks and the README's quick start have real connectors
//! without any manual step (as wasmtime's test-programs and Spin's
//! test-components do).
//!
//! - The nested cargo gets its own target directory (`target/guests`): the
//!   outer build holds the lock on the main one.
//! - The wasm target is added with rustup if the toolchain lacks it.
//! - The example connectors are copied to `target/connectors/<name>.wasm`;
//!   `WHARF_GUESTS_DIR` tells the tests where every guest is.
//! - A variant (a guest built with a feature, as a connector of its own
//!   name) gets a target directory of its own, `target/guests-variants`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
/// Guests that are products (the rest are test fixtures).
const EXAMPLES: &[&str] = &[
    "http-json",
    "field-map",
    "jq",
    "http-push",
    "hooks",
    "oauth-api",
    "erpnext",
    "neo4j",
    "trendyol",
    "shopify",
    "fancourier",
    "nextcloud",
    "google-drive",
    "anaf",
    "files",
    "xero",
    "slack",
    "discord",
    "teams",
    "aws-cost",
    "quickbooks",
    "sage",
    "azure-cost",
    "salesforce",
    "gcp-billing",
    "tiktok-ads",
    "meta-ads",
    "sap-b1",
    "mail",
    "bim360",
];

/// Connectors built from a guest crate with a feature, under a name of
/// their own: (name, package, feature). A spec declares one OAuth2 grant,
/// so Salesforce's JWT bearer flow is a build of its own.
const VARIANTS: &[(&str, &str, &str)] = &[
    ("salesforce-jwt", "salesforce", "jwt-bearer"),
    ("gmail", "mail", "gmail"),
    ("teams-graph", "teams", "graph"),
];

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest.parent().expect("host/ sits in the workspace root");
    // The workspace manifest holds the `guest` profile the guests build with.
    for dir in ["guests", "sdk", "wit", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    let target_root = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let guest_target = target_root.join("guests");
    let guests = guest_crates(&root.join("guests"));

    ensure_wasm_target();

    let mut cmd = nested_cargo(root, &guest_target);
    for g in &guests {
        cmd.args(["-p", g]);
    }
    run(cmd);
    // A variant is the same crate with a feature, so it is built apart:
    // in one build, cargo would unify the feature into the default one.
    let variant_target = target_root.join("guests-variants");
    for (_, package, feature) in VARIANTS {
        let mut cmd = nested_cargo(root, &variant_target);
        cmd.args(["-p", package, "--features", feature]);
        run(cmd);
    }

    let out = guest_target.join(TARGET).join("guest");
    let connectors = target_root.join("connectors");
    std::fs::create_dir_all(&connectors).expect("create target/connectors");
    for name in EXAMPLES {
        let built = out.join(format!("{}.wasm", name.replace('-', "_")));
        std::fs::copy(&built, connectors.join(format!("{name}.wasm")))
            .unwrap_or_else(|e| panic!("copy {}: {e}", built.display()));
    }
    for (name, package, _) in VARIANTS {
        let built = variant_target
            .join(TARGET)
            .join("guest")
            .join(format!("{}.wasm", package.replace('-', "_")));
        for to in [
            connectors.join(format!("{name}.wasm")),
            out.join(format!("{}.wasm", name.replace('-', "_"))),
        ] {
            std::fs::copy(&built, &to).unwrap_or_else(|e| panic!("copy {}: {e}", built.display()));
        }
    }
    println!("cargo:rustc-env=WHARF_GUESTS_DIR={}", out.display());
    println!(
        "cargo:rustc-env=WHARF_CONNECTORS_DIR={}",
        connectors.display()
    );
}

/// A cargo building guests for the wasm target into `target_dir` (the
/// outer build holds the lock on the main one).
fn nested_cargo(root: &Path, target_dir: &Path) -> Command {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--profile",
            "guest",
            "--target",
            TARGET,
            "--locked",
        ])
        .env("CARGO_TARGET_DIR", target_dir);
    // Settings meant for the outer (native) build must not leak into the
    // nested one: flags, wrappers (clippy), and build-script variables that
    // tools like cc read.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_PRIMARY_PACKAGE",
        "TARGET",
        "HOST",
        "OPT_LEVEL",
        "PROFILE",
        "DEBUG",
        "NUM_JOBS",
        "RUSTDOCFLAGS",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn run(mut cmd: Command) {
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build the guests: {e}"));
    assert!(
        status.success(),
        "building the guest components failed ({status}); run `cargo build --profile guest --target {TARGET} -p <guest>` to see why"
    );
}

/// Every directory under `guests/` with a Cargo.toml; the package name is
/// the directory name.
fn guest_crates(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read guests/")
        .filter_map(Result::ok)
        .filter(|e| e.path().join("Cargo.toml").exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// `RUSTUP_AUTO_INSTALL=0` machines do not add the toolchain file's targets
/// by themselves; add the wasm target if the sysroot lacks it.
fn ensure_wasm_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = sysroot.is_some_and(|s| s.join("lib/rustlib").join(TARGET).exists());
    if installed {
        return;
    }
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => panic!(
            "the {TARGET} target is missing and `rustup target add {TARGET}` failed ({other:?}); install it and build again"
        ),
    }
}
