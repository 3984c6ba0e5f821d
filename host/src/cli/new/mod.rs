//! `wharf new <name> --lang rust|python|javascript --role
//! source|destination|mapper`: a connector project that builds, passes its
//! own tests (against a cassette or scripted answers, through the harness of
//! its language, which drives `wharf dev rpc`) and runs with `wharf dev` as
//! generated. The templates are compiled into the binary.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::failure::Failure;

/// The language of a new connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// Rust, with the `wharf-sdk` crate.
    Rust,
    /// Python, with `sdk/python` (componentize-py).
    Python,
    /// JavaScript, with `sdk/js` (ComponentizeJS).
    #[value(alias = "js")]
    Javascript,
}

impl Lang {
    fn name(self) -> &'static str {
        match self {
            Self::Rust => "rust",
            Self::Python => "python",
            Self::Javascript => "javascript",
        }
    }
}

/// What a new connector does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// Reads records from a system.
    Source,
    /// Writes records to a system.
    Destination,
    /// Reshapes records between the two.
    Mapper,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::Destination => "destination",
            Self::Mapper => "mapper",
        }
    }
}

#[derive(Args, Debug)]
pub struct NewArgs {
    /// The connector's name: lowercase letters, digits and `-`, starting
    /// with a letter (also the directory created, unless --dir is given).
    name: String,
    /// The language.
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
    /// What it does.
    #[arg(long, value_enum, default_value = "source")]
    role: Role,
    /// Where to create it (default: ./<name>); it must not exist or be empty.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// A checkout of Wharf to take `wharf-sdk` and `wharf-harness` from
    /// (its root, holding `sdk/`); default: the one this binary was built
    /// from, when it is still there.
    #[arg(long, value_name = "DIR")]
    wharf_source: Option<PathBuf>,
}

/// One file of a template: where it goes, and its text.
struct File {
    path: &'static str,
    text: &'static str,
}

const RUST_COMMON: &[File] = &[
    File {
        path: "Cargo.toml",
        text: include_str!("rust/Cargo.toml.tmpl"),
    },
    File {
        path: "README.md",
        text: include_str!("rust/README.md.tmpl"),
    },
    File {
        path: ".gitignore",
        text: include_str!("rust/gitignore.tmpl"),
    },
];

fn rust_role(role: Role) -> &'static [File] {
    match role {
        Role::Source => &[
            File {
                path: "src/lib.rs",
                text: include_str!("rust/source/lib.rs.tmpl"),
            },
            File {
                path: "tests/connector.rs",
                text: include_str!("rust/source/test.rs.tmpl"),
            },
            File {
                path: "tests/cassettes/items.json",
                text: include_str!("rust/source/cassette.json.tmpl"),
            },
        ],
        Role::Destination => &[
            File {
                path: "src/lib.rs",
                text: include_str!("rust/destination/lib.rs.tmpl"),
            },
            File {
                path: "tests/connector.rs",
                text: include_str!("rust/destination/test.rs.tmpl"),
            },
            File {
                path: "tests/cassettes/push.json",
                text: include_str!("rust/destination/cassette.json.tmpl"),
            },
        ],
        Role::Mapper => &[
            File {
                path: "src/lib.rs",
                text: include_str!("rust/mapper/lib.rs.tmpl"),
            },
            File {
                path: "tests/connector.rs",
                text: include_str!("rust/mapper/test.rs.tmpl"),
            },
        ],
    }
}

const PYTHON_COMMON: &[File] = &[
    File {
        path: "README.md",
        text: include_str!("python/README.md.tmpl"),
    },
    File {
        path: ".gitignore",
        text: include_str!("python/gitignore.tmpl"),
    },
];

fn python_role(role: Role) -> &'static [File] {
    match role {
        Role::Source => &[
            File {
                path: "app.py",
                text: include_str!("python/source/app.py.tmpl"),
            },
            File {
                path: "test_connector.py",
                text: include_str!("python/source/test_connector.py.tmpl"),
            },
            File {
                path: "cassettes/items.json",
                text: include_str!("python/source/cassette.json.tmpl"),
            },
        ],
        Role::Destination => &[
            File {
                path: "app.py",
                text: include_str!("python/destination/app.py.tmpl"),
            },
            File {
                path: "test_connector.py",
                text: include_str!("python/destination/test_connector.py.tmpl"),
            },
            File {
                path: "cassettes/push.json",
                text: include_str!("python/destination/cassette.json.tmpl"),
            },
        ],
        Role::Mapper => &[
            File {
                path: "app.py",
                text: include_str!("python/mapper/app.py.tmpl"),
            },
            File {
                path: "test_connector.py",
                text: include_str!("python/mapper/test_connector.py.tmpl"),
            },
        ],
    }
}

const JS_COMMON: &[File] = &[
    File {
        path: "README.md",
        text: include_str!("javascript/README.md.tmpl"),
    },
    File {
        path: ".gitignore",
        text: include_str!("javascript/gitignore.tmpl"),
    },
    File {
        path: "package.json",
        text: include_str!("javascript/package.json.tmpl"),
    },
];

fn js_role(role: Role) -> &'static [File] {
    match role {
        Role::Source => &[
            File {
                path: "connector.js",
                text: include_str!("javascript/source/connector.js.tmpl"),
            },
            File {
                path: "connector.test.js",
                text: include_str!("javascript/source/connector.test.js.tmpl"),
            },
            File {
                path: "tests/cassettes/items.json",
                text: include_str!("javascript/source/cassette.json.tmpl"),
            },
        ],
        Role::Destination => &[
            File {
                path: "connector.js",
                text: include_str!("javascript/destination/connector.js.tmpl"),
            },
            File {
                path: "connector.test.js",
                text: include_str!("javascript/destination/connector.test.js.tmpl"),
            },
            File {
                path: "tests/cassettes/push.json",
                text: include_str!("javascript/destination/cassette.json.tmpl"),
            },
        ],
        Role::Mapper => &[
            File {
                path: "connector.js",
                text: include_str!("javascript/mapper/connector.js.tmpl"),
            },
            File {
                path: "connector.test.js",
                text: include_str!("javascript/mapper/connector.test.js.tmpl"),
            },
        ],
    }
}

/// Every file of a project in `lang` with `role`.
fn files(lang: Lang, role: Role) -> impl Iterator<Item = &'static File> {
    let (common, own): (&'static [File], &'static [File]) = match lang {
        Lang::Rust => (RUST_COMMON, rust_role(role)),
        Lang::Python => (PYTHON_COMMON, python_role(role)),
        Lang::Javascript => (JS_COMMON, js_role(role)),
    };
    common.iter().chain(own)
}

/// The commands a README shows, per role.
fn examples(role: Role, lib: &str) -> (&'static str, String, String) {
    let wasm = format!("target/wasm32-wasip2/release/{lib}.wasm");
    match role {
        Role::Source => (
            "The test replays `tests/cassettes/items.json`.",
            format!(
                "wharf dev fetch {wasm} --config '{{\"base_url\": \"https://api.example.com\"}}' \\\n    --stream items --secret api_token=env:API_TOKEN"
            ),
            format!(
                "wharf dev fetch {wasm} --config @config.json --stream items \\\n    --secret api_token=env:API_TOKEN --record tests/cassettes/items.json"
            ),
        ),
        Role::Destination => (
            "The test replays `tests/cassettes/push.json`.",
            format!(
                "echo '{{\"stream\": \"items\", \"key\": \"1\", \"data\": {{\"title\": \"hi\"}}}}' | \\\n    wharf dev push {wasm} --config '{{\"base_url\": \"https://api.example.com\"}}' --secret api_token=env:API_TOKEN"
            ),
            format!(
                "wharf dev push {wasm} --config @config.json --secret api_token=env:API_TOKEN \\\n    --record tests/cassettes/push.json < records.jsonl"
            ),
        ),
        Role::Mapper => (
            "A mapper makes no requests: its test calls `map` directly.",
            format!(
                "echo '{{\"stream\": \"items\", \"key\": \"1\", \"data\": {{\"title\": \"hi\"}}}}' | \\\n    wharf dev map {wasm} --config '{{\"output_stream\": \"tasks\"}}'"
            ),
            format!(
                "wharf dev map {wasm} --config @config.json --record tests/cassettes/map.json < records.jsonl"
            ),
        ),
    }
}

/// Create the project.
pub fn run(args: NewArgs) -> Result<(), Failure> {
    check_name(&args.name)?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(Failure::usage(format!(
            "{} exists and is not empty; choose another name or --dir",
            dir.display()
        )));
    }
    let root = wharf_checkout(args.wharf_source.as_deref())?;
    if root.is_none() && args.lang != Lang::Rust {
        return Err(Failure::usage(format!(
            "a {} connector is built with the SDK in a Wharf checkout: name it with --wharf-source DIR",
            args.lang.name()
        )));
    }
    let (sdk, harness) = dependencies(root.as_deref());
    let wharf = root
        .as_ref()
        .map(|r| r.display().to_string())
        .unwrap_or_default();
    let lib = args.name.replace('-', "_");
    let (test_note, dev_example, record_example) = examples(args.role, &lib);
    let fill = |text: &str| {
        text.replace("__NAME__", &args.name)
            .replace("__LIB__", &lib)
            .replace("__ROLE__", args.role.name())
            .replace("__SDK__", &sdk)
            .replace("__HARNESS__", &harness)
            .replace("__TEST_NOTE__", test_note)
            .replace("__DEV_EXAMPLE__", &dev_example)
            .replace("__RECORD_EXAMPLE__", &record_example)
            .replace("__WHARF__", &wharf)
    };
    for file in files(args.lang, args.role) {
        let path = dir.join(file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Failure::usage(format!("cannot create {}: {e}", parent.display())))?;
        }
        std::fs::write(&path, fill(file.text))
            .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))?;
    }
    let next = match args.lang {
        Lang::Rust => {
            "cargo test      # builds the component and tests it in Wharf's sandbox\n  cargo build --release --target wasm32-wasip2"
        }
        Lang::Python => {
            "python3 -m unittest -v      # builds the component and tests it in Wharf's sandbox"
        }
        Lang::Javascript => "npm test      # builds the component and tests it in Wharf's sandbox",
    };
    eprintln!(
        "created {} ({} {}) in {}\n\nnext:\n  cd {}\n  {next}",
        args.name,
        args.lang.name(),
        args.role.name(),
        dir.display(),
        dir.display()
    );
    Ok(())
}

/// A connector name: what a spec accepts and a crate name can be.
fn check_name(name: &str) -> Result<(), Failure> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Failure::usage(format!(
            "`{name}` is not a connector name: use lowercase letters, digits and `-`, starting with a letter (at most 64)"
        )))
    }
}

/// The Wharf checkout the SDKs come from: `--wharf-source`, else the one
/// this binary was built from, when it is still there.
fn wharf_checkout(source: Option<&Path>) -> Result<Option<PathBuf>, Failure> {
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = match source {
        Some(dir) => {
            if !dir.join("sdk").join("Cargo.toml").is_file() {
                return Err(Failure::usage(format!(
                    "{} is not a Wharf checkout (no sdk/Cargo.toml)",
                    dir.display()
                )));
            }
            Some(dir.to_path_buf())
        }
        None => built_from
            .join("sdk")
            .join("Cargo.toml")
            .is_file()
            .then_some(built_from),
    };
    let root = root.map(|r| r.canonicalize().unwrap_or(r));
    // The path goes into generated code (a Python string, a JavaScript
    // import, JSON, TOML) as written: characters any of them would read
    // differently are refused rather than escaped four ways.
    if let Some(r) = &root {
        let text = r.display().to_string();
        if text
            .chars()
            .any(|c| c.is_control() || matches!(c, '"' | '\\' | '\'' | '#' | '%' | '?' | '`'))
        {
            return Err(Failure::usage(format!(
                "the Wharf checkout's path `{text}` has a character generated code would misread (quote, backslash, #, %, ?); move it, or name another with --wharf-source"
            )));
        }
    }
    Ok(root)
}

/// The `wharf-sdk` and `wharf-harness` dependencies of a Rust project:
/// paths into the checkout when there is one, else the published versions.
fn dependencies(root: Option<&Path>) -> (String, String) {
    let version = env!("CARGO_PKG_VERSION");
    match root {
        Some(root) => {
            let path = |p: &str| format!("{{ path = {:?} }}", root.join(p).display().to_string());
            (path("sdk"), path("sdk/harness"))
        }
        None => (format!("\"{version}\""), format!("\"{version}\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_connector_names() {
        assert!(check_name("shop-orders2").is_ok());
        for bad in [
            "",
            "Shop",
            "2shop",
            "shop_orders",
            "shop-",
            "a b",
            &"a".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_placeholder_of_every_template_is_filled() {
        let known = [
            "__NAME__",
            "__LIB__",
            "__ROLE__",
            "__SDK__",
            "__HARNESS__",
            "__TEST_NOTE__",
            "__DEV_EXAMPLE__",
            "__RECORD_EXAMPLE__",
            "__WHARF__",
        ];
        for (lang, role) in [Lang::Rust, Lang::Python, Lang::Javascript]
            .into_iter()
            .flat_map(|l| [Role::Source, Role::Destination, Role::Mapper].map(|r| (l, r)))
        {
            for file in files(lang, role) {
                let mut text = file.text.to_string();
                for k in known {
                    text = text.replace(k, "");
                }
                // Placeholders are `__UPPER_CASE__`; Python's `__name__`
                // and the like are not.
                let unfilled = text.split("__").skip(1).step_by(2).find(|w| {
                    !w.is_empty() && w.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                });
                assert!(
                    unfilled.is_none(),
                    "{} ({lang:?} {role:?}) has a placeholder no one fills: {unfilled:?}",
                    file.path
                );
            }
        }
    }
}
