//! Every column that holds a Fernet token, in one list, so that key
//! rotation (and anything else that must see every sealed value) cannot
//! miss one: connection secrets, outgoing webhook signing secrets, OAuth2
//! access and refresh tokens, the PKCE verifiers of pending
//! authorizations, connector state values and login session tokens. A new sealed column belongs here in the change that adds
//! it; `tests/e2e/rotation.rs` uses every kind after a rotation.

use sqlx::Row;

use super::{Result, Store};

/// A column of sealed values and how its rows are identified.
#[derive(Debug)]
pub struct SealedColumn {
    /// Table.
    pub table: &'static str,
    /// Primary-key columns.
    pub key: &'static [&'static str],
    /// The column with the Fernet token.
    pub column: &'static str,
    /// What it holds, for people.
    pub what: &'static str,
}

/// Every sealed column of the schema.
pub const SEALED_COLUMNS: &[SealedColumn] = &[
    SealedColumn {
        table: "connection_secrets",
        key: &["connection_id", "name"],
        column: "token",
        what: "connection secret",
    },
    SealedColumn {
        table: "webhooks",
        key: &["id"],
        column: "secret",
        what: "webhook signing secret",
    },
    SealedColumn {
        table: "oauth_tokens",
        key: &["connection_id"],
        column: "access_token",
        what: "OAuth2 access token",
    },
    SealedColumn {
        table: "oauth_tokens",
        key: &["connection_id"],
        column: "refresh_token",
        what: "OAuth2 refresh token",
    },
    SealedColumn {
        table: "oauth_states",
        key: &["state_hash"],
        column: "verifier",
        what: "PKCE verifier of a pending authorization",
    },
    SealedColumn {
        table: "connection_state",
        key: &["connection_id", "key"],
        column: "value",
        what: "connector state value",
    },
    SealedColumn {
        table: "login_sessions",
        key: &["connection_id"],
        column: "token",
        what: "login session token",
    },
];

/// One sealed value and where it is stored.
#[derive(Debug, Clone)]
pub struct SealedValue {
    /// Its column.
    pub column: &'static SealedColumn,
    /// The row's key values, in the order of `column.key`.
    pub key: Vec<String>,
    /// The Fernet token.
    pub token: String,
}

impl SealedValue {
    /// `table.column` and the row's key, for messages.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.column.what, self.key.join("/"))
    }
}

impl Store {
    /// Every sealed value in the database.
    pub async fn sealed_values(&self) -> Result<Vec<SealedValue>> {
        let mut out = Vec::new();
        for column in SEALED_COLUMNS {
            let keys: Vec<String> = column
                .key
                .iter()
                .enumerate()
                .map(|(i, k)| format!("{k} AS k{i}"))
                .collect();
            let sql = format!(
                "SELECT {}, {c} AS token FROM {t} WHERE {c} IS NOT NULL ORDER BY {}",
                keys.join(", "),
                column.key.join(", "),
                c = column.column,
                t = column.table,
            );
            for row in sqlx::query(&sql).fetch_all(self.pool()).await? {
                let key = (0..column.key.len())
                    .map(|i| row.try_get::<String, _>(format!("k{i}").as_str()))
                    .collect::<std::result::Result<_, _>>()?;
                out.push(SealedValue {
                    column,
                    key,
                    token: row.try_get("token")?,
                });
            }
        }
        Ok(out)
    }

    /// Replace a sealed value only if it is still what was read (so a
    /// rotation racing a change never overwrites the newer value).
    pub async fn replace_sealed(&self, v: &SealedValue, new_token: &str) -> Result<bool> {
        let c = v.column;
        let matches: Vec<String> = c
            .key
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{k} = ${}", i + 3))
            .collect();
        let sql = format!(
            "UPDATE {t} SET {col} = $1 WHERE {col} = $2 AND {}",
            matches.join(" AND "),
            t = c.table,
            col = c.column,
        );
        let mut q = sqlx::query(&sql).bind(new_token).bind(&v.token);
        for k in &v.key {
            q = q.bind(k);
        }
        Ok(q.execute(self.pool()).await?.rows_affected() == 1)
    }
}
