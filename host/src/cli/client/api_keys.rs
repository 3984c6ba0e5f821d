//! `wharf api-key`: create, list and revoke API keys. A key is named by its
//! id (the `wharf_<id>_…` prefix) or by its name; names need not be
//! unique, so a name must match exactly one active key.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Client, enc};
use crate::cli::failure::Failure;
use crate::cli::output::{self, text, when};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a key (shown once).
    Create {
        /// What it is for.
        name: String,
        /// admin, write, operator, run or read.
        #[arg(long, default_value = "read")]
        scope: String,
    },
    /// List keys.
    List,
    /// Revoke a key.
    Revoke {
        /// Id or name.
        key: String,
    },
}

pub async fn run(c: &Client, cmd: Command) -> Result<(), Failure> {
    match cmd {
        Command::Create { name, scope } => {
            let a = c
                .send_json(
                    Method::POST,
                    "/api/v1/api-keys",
                    &json!({"name": name, "scope": scope}),
                )
                .await?;
            c.print(&a.body, |v| {
                println!(
                    "created {} key {} ({}); shown once:\n\n    {}\n",
                    text(&v["scope"]),
                    text(&v["id"]),
                    text(&v["name"]),
                    text(&v["key"])
                )
            });
        }
        Command::List => {
            let items = c.list_all("/api/v1/api-keys").await?;
            c.print_list(&items, |items| {
                let rows = items.iter().map(|i| {
                    let state = if i["revoked_at"].is_null() {
                        "active".to_string()
                    } else {
                        format!("revoked {}", when(&i["revoked_at"]))
                    };
                    vec![
                        text(&i["id"]),
                        text(&i["name"]),
                        text(&i["scope"]),
                        when(&i["created_at"]),
                        when(&i["last_used_at"]),
                        state,
                    ]
                });
                output::table(
                    &["id", "name", "scope", "created", "last used", "state"],
                    rows.collect(),
                );
            });
        }
        Command::Revoke { key } => {
            let found = resolve(c, &key).await?;
            let id = text(&found["id"]);
            c.call(
                Method::DELETE,
                &format!("/api/v1/api-keys/{}", enc(&id)),
                None,
            )
            .await?;
            println!("revoked {id} ({})", text(&found["name"]));
        }
    }
    Ok(())
}

/// The key with this id, or the one active key with this name.
async fn resolve(c: &Client, wanted: &str) -> Result<Value, Failure> {
    let keys = c.list_all("/api/v1/api-keys").await?;
    if let Some(k) = keys.iter().find(|k| k["id"].as_str() == Some(wanted)) {
        return Ok(k.clone());
    }
    // A revoked key cannot be revoked again, so only active ones count:
    // an old revoked key of the same name does not make a name ambiguous.
    let named: Vec<&Value> = keys
        .iter()
        .filter(|k| k["name"].as_str() == Some(wanted) && k["revoked_at"].is_null())
        .collect();
    match named.as_slice() {
        [] => Err(Failure::failed(format!(
            "no active API key named `{wanted}` or with that id"
        ))),
        [one] => Ok((*one).clone()),
        many => Err(Failure::usage(format!(
            "{} active API keys are named `{wanted}` ({}): name one by id",
            many.len(),
            many.iter()
                .map(|k| text(&k["id"]))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}
