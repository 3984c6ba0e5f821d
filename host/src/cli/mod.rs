//! The `wharf` command line: `serve`, the commands that manage a running
//! server over its REST API (`connector`, `connection`, `api-key`, `sync`,
//! `run`, `records`, `webhook`; in [`client`]), local maintenance
//! (`admin`), and `new`, `dev` and `connector keygen|sign` for connector
//! authors. Every command fails with the
//! one [`failure::Failure`] type, so exit codes mean the same everywhere.

mod client;
mod dev;
mod dev_rpc;
mod failure;
mod new;
mod output;
mod sign;
mod usage;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use self::client::{Client, Group, LegacyServerArgs};
use self::failure::Failure;
use crate::server::{self, ServeOptions};

/// Wharf: a WebAssembly-sandboxed connector runtime.
#[derive(Parser, Debug)]
#[command(name = "wharf", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    legacy: LegacyServerArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server: REST admin API, on SQLite in ./wharf-data by default.
    Serve(ServeArgs),
    /// Manage connectors on a server.
    Connector(Group<client::connectors::Command>),
    /// Manage connections on a server.
    Connection(Group<client::connections::Command>),
    /// Manage API keys on a server.
    #[command(name = "api-key")]
    ApiKey(Group<client::api_keys::Command>),
    /// Manage and run syncs on a server.
    Sync(Group<client::syncs::Command>),
    /// List, inspect and cancel runs on a server.
    Run(Group<client::runs::Command>),
    /// Read, export and import the records a sync stores on a server.
    Records(Group<client::records::Command>),
    /// Manage the endpoints a server sends events to.
    Webhook(Group<client::webhooks::Command>),
    /// Maintenance on the server's data (run where the server runs).
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Run a connector locally in the same sandbox the server uses (no
    /// server, no database): for connector authors.
    #[command(subcommand)]
    Dev(dev::DevCommand),
    /// Create a connector project that builds, tests itself in the
    /// sandbox and runs with `wharf dev` as generated.
    New(new::NewArgs),
}

#[derive(Args, Debug)]
struct DataArgs {
    /// Data directory (SQLite database, secret key file, compiled artifacts).
    #[arg(long, env = "WHARF_DATA_DIR", default_value = "./wharf-data")]
    data_dir: PathBuf,
    /// PostgreSQL URL (`postgres://…`); SQLite in the data directory if unset.
    #[arg(long, env = "WHARF_DATABASE_URL")]
    database_url: Option<String>,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "WHARF_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    data: DataArgs,
    /// Requests per second allowed per API key.
    #[arg(long, env = "WHARF_RATE_LIMIT", default_value_t = 50.0)]
    rate_limit: f64,
    /// Requests an API key may send at once before the rate applies.
    #[arg(long, env = "WHARF_RATE_BURST", default_value_t = 200.0)]
    rate_burst: f64,
    /// Failed sign-ins (unknown or revoked API keys) one client address may
    /// make per minute; beyond that it is answered 429 for a while.
    #[arg(long, env = "WHARF_FAILED_SIGN_INS", default_value_t = crate::api::FAILED_SIGN_INS_PER_MINUTE)]
    failed_sign_ins: u32,
    /// What this node does: all (API, scheduler, workers), api, or worker.
    #[arg(long, env = "WHARF_ROLE", value_enum, default_value = "all")]
    role: server::Role,
    /// Runs this node executes at once.
    #[arg(long, env = "WHARF_WORKERS", default_value_t = 4)]
    workers: usize,
    /// Runs using one connection at once on this node.
    #[arg(long, env = "WHARF_PER_CONNECTION", default_value_t = 2)]
    per_connection: usize,
    /// Seconds a run's lease lasts without a heartbeat before another node
    /// takes the run over.
    #[arg(long, env = "WHARF_LEASE_SECS", default_value_t = 30)]
    lease_secs: u64,
    /// On SIGTERM, seconds in-flight runs get to finish before they are
    /// released to the queue.
    #[arg(long, env = "WHARF_GRACE_SECS", default_value_t = 20)]
    grace_secs: u64,
    /// The URL this server is reached at from outside (OAuth2 redirect URI,
    /// incoming webhook URLs); default: http:// and the listen address.
    #[arg(long, env = "WHARF_PUBLIC_URL")]
    public_url: Option<String>,
    /// Connector instances that may exist at once (each may hold up to
    /// 64 MiB); with the pool's warm slots this bounds the memory
    /// connectors can use on this node (logged at start).
    #[arg(long, env = "WHARF_MAX_INSTANCES", default_value_t = 64)]
    max_instances: u32,
    /// Start every connector call in a fresh instance. By default a call
    /// runs in the instance the same run's last call left, when that call
    /// ended well (much faster for Python and JavaScript connectors).
    #[arg(long, env = "WHARF_FRESH_INSTANCES")]
    fresh_instances: bool,
    /// The most memory per instance (MiB) an administrator may give one
    /// connector at upload (`?memory_mib=`); the default is 64.
    #[arg(long, env = "WHARF_MAX_CONNECTOR_MEMORY_MIB", default_value_t = 256)]
    max_connector_memory_mib: u32,
    /// The longest call (seconds) an administrator may give one connector
    /// at upload (`?call_timeout_secs=`); the default is 30.
    #[arg(long, env = "WHARF_MAX_CALL_TIMEOUT_SECS", default_value_t = 300)]
    max_call_timeout_secs: u32,
    /// A publisher whose connector signatures this server trusts:
    /// NAME=ed25519:<base64 public key> (what the `.pub` file `wharf
    /// connector keygen` writes holds), or NAME=@FILE to read the key (that
    /// form, or a PEM public key) from a file; repeat for several.
    #[arg(
        long = "trusted-publisher",
        env = "WHARF_TRUSTED_PUBLISHERS",
        value_delimiter = ',',
        value_name = "NAME=KEY"
    )]
    trusted_publishers: Vec<String>,
    /// Refuse connectors that no trusted publisher signed (uploads, and
    /// runs of connectors registered before).
    #[arg(long, env = "WHARF_REQUIRE_SIGNED")]
    require_signed: bool,
    #[command(flatten)]
    oidc: OidcArgs,
}

/// Single sign-on through an OpenID Connect provider (docs/operations.md,
/// "Single sign-on").
#[derive(Args, Debug)]
struct OidcArgs {
    /// The identity provider's issuer URL (its discovery document is at
    /// ISSUER/.well-known/openid-configuration); enables single sign-on.
    #[arg(long, env = "WHARF_OIDC_ISSUER", requires = "oidc_client_id")]
    oidc_issuer: Option<String>,
    /// This Wharf's client id at the provider.
    #[arg(long, env = "WHARF_OIDC_CLIENT_ID", requires = "oidc_issuer")]
    oidc_client_id: Option<String>,
    /// A file holding the client secret (none: a public client, protected
    /// by PKCE alone).
    #[arg(long, env = "WHARF_OIDC_CLIENT_SECRET_FILE", requires = "oidc_issuer")]
    oidc_client_secret_file: Option<PathBuf>,
    /// Scopes to ask for beside `openid`; repeat or separate with commas.
    #[arg(
        long = "oidc-scope",
        env = "WHARF_OIDC_SCOPES",
        value_delimiter = ',',
        default_value = "email,profile"
    )]
    oidc_scopes: Vec<String>,
    /// The ID token claim roles are read from (a dotted path for nested
    /// claims, e.g. realm_access.roles).
    #[arg(long, env = "WHARF_OIDC_ROLE_CLAIM", default_value = "groups")]
    oidc_role_claim: String,
    /// ROLE=VALUE: people whose role claim holds VALUE get ROLE (admin,
    /// operator or viewer; VALUE `*` matches everyone); the highest wins,
    /// people matching none cannot sign in. Repeat for several.
    #[arg(
        long = "oidc-role",
        env = "WHARF_OIDC_ROLES",
        value_delimiter = ',',
        value_name = "ROLE=VALUE"
    )]
    oidc_roles: Vec<String>,
}

impl OidcArgs {
    /// The provider, if single sign-on is configured.
    fn sso(&self) -> Result<Option<std::sync::Arc<crate::sso::Sso>>, Failure> {
        let (Some(issuer), Some(client_id)) = (&self.oidc_issuer, &self.oidc_client_id) else {
            return Ok(None);
        };
        let client_secret = match &self.oidc_client_secret_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Failure::usage(format!("--oidc-client-secret-file {}: {e}", path.display()))
                })?;
                Some(crate::model::secret::SecretValue::new(
                    text.trim().to_string(),
                ))
            }
            None => None,
        };
        let roles = crate::sso::roles::RoleMap::new(&self.oidc_role_claim, &self.oidc_roles)
            .map_err(|e| Failure::usage(format!("--oidc-role: {e}")))?;
        let config = crate::sso::SsoConfig {
            issuer: issuer.clone(),
            client_id: client_id.clone(),
            client_secret,
            scopes: self
                .oidc_scopes
                .iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty() && s != "openid")
                .collect(),
            roles,
        };
        crate::sso::Sso::new(config)
            .map(|sso| Some(std::sync::Arc::new(sso)))
            .map_err(Failure::usage)
    }
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Re-encrypt every stored secret under the first key of
    /// WHARF_SECRET_KEYS; safe to interrupt and run again.
    RotateSecrets(DataArgs),
    /// Create an API key directly in the database (e.g. a lost admin key).
    CreateApiKey {
        #[command(flatten)]
        data: DataArgs,
        /// What it is for.
        #[arg(long, default_value = "admin (created with wharf admin)")]
        name: String,
        /// admin, write, operator, run or read.
        #[arg(long, default_value = "admin")]
        scope: String,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(matches!(cli.command, Command::Serve(_)));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return Failure::failed(format!("cannot start the async runtime: {e}")).report();
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

async fn dispatch(cli: Cli) -> Result<(), Failure> {
    use client::{api_keys, connections, connectors, records, runs, syncs, webhooks};
    // Given before a command that does not talk to a server, a server flag
    // would be silently ignored.
    let local = matches!(
        cli.command,
        Command::Serve(_) | Command::Admin(_) | Command::Dev(_) | Command::New(_)
    );
    if local && let Some(flag) = cli.legacy.given() {
        return Err(Failure::usage(format!(
            "{flag} is for the commands that talk to a server (connector, connection, api-key, sync, run, records, webhook)"
        )));
    }
    // A macro rather than a function: each module's `run` takes its own
    // command type.
    macro_rules! on_server {
        ($group:expr, $module:ident) => {{
            let group = $group;
            let c = Client::new(group.server, cli.legacy)?;
            $module::run(&c, group.command).await
        }};
    }
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Admin(cmd) => admin(cmd).await,
        Command::Dev(cmd) => dev::run(cmd).await,
        Command::New(args) => new::run(args),
        Command::Connector(g) if g.command.is_local() => sign::run(g.command).await,
        Command::Connector(g) => on_server!(g, connectors),
        Command::Connection(g) => on_server!(g, connections),
        Command::ApiKey(g) => on_server!(g, api_keys),
        Command::Sync(g) => on_server!(g, syncs),
        Command::Run(g) => on_server!(g, runs),
        Command::Records(g) => on_server!(g, records),
        Command::Webhook(g) => on_server!(g, webhooks),
    }
}

async fn serve(args: ServeArgs) -> Result<(), Failure> {
    let publishers = sign::read_publisher_keys(&args.trusted_publishers)?;
    let trust = crate::model::signature::TrustPolicy::new(&publishers, args.require_signed)
        .map_err(|e| Failure::usage(format!("--trusted-publisher: {e}")))?;
    let sso = args.oidc.sso()?;
    let options = ServeOptions {
        trust,
        sso,
        listen: args.listen,
        data_dir: args.data.data_dir,
        database_url: args.data.database_url,
        secret_keys: std::env::var("WHARF_SECRET_KEYS").ok(),
        rate_limit: args.rate_limit,
        rate_burst: args.rate_burst,
        failed_sign_ins: args.failed_sign_ins,
        role: args.role,
        max_instances: args.max_instances,
        fresh_instances: args.fresh_instances,
        max_connector_memory_mib: args.max_connector_memory_mib,
        max_call_timeout_secs: args.max_call_timeout_secs,
        app: crate::app::AppOptions {
            workers: args.workers,
            per_connection: args.per_connection,
            lease: std::time::Duration::from_secs(args.lease_secs.max(2)),
            heartbeat: std::time::Duration::from_secs((args.lease_secs / 4).clamp(1, 10)),
            grace: std::time::Duration::from_secs(args.grace_secs),
            public_url: args
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", args.listen)),
            ..crate::app::AppOptions::default()
        },
    };
    server::serve(options).await.map_err(Into::into)
}

async fn admin(cmd: AdminCommand) -> Result<(), Failure> {
    match cmd {
        AdminCommand::RotateSecrets(data) => {
            let keys = std::env::var("WHARF_SECRET_KEYS").ok();
            let store = server::open_store(data.database_url.as_deref(), &data.data_dir).await?;
            let vault = server::open_vault(keys.as_deref(), &data.data_dir)?;
            let (rotated, current) = server::rotate_secrets(&store, &vault).await?;
            println!(
                "re-encrypted {rotated} secrets under key {}; {current} were already current",
                vault.fingerprint()
            );
        }
        AdminCommand::CreateApiKey { data, name, scope } => {
            let scope = crate::api::Scope::parse(&scope).ok_or_else(|| {
                Failure::usage(format!(
                    "unknown scope `{scope}`: admin, write, operator, run or read"
                ))
            })?;
            let store = server::open_store(data.database_url.as_deref(), &data.data_dir).await?;
            let key = server::create_api_key(&store, &name, scope).await?;
            println!(
                "created a {} key; shown once:\n\n    {key}\n",
                scope.as_str()
            );
        }
    }
    Ok(())
}

fn init_tracing(serving: bool) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let default = if serving {
        "info"
    } else {
        "warn,wharf::runtime::log=off"
    };
    let filter = EnvFilter::try_from_env("WHARF_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // Colour codes are noise in a log file or a journal; NO_COLOR
    // (no-color.org) turns them off on a terminal too.
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && !no_color);
    let _ = if serving && std::env::var("WHARF_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn server_flags_only_on_server_commands() {
        // Built first: global flags reach subcommands only when the whole
        // tree is built.
        let mut cli = Cli::command();
        cli.build();
        let long = |path: &[&str]| {
            let mut cmd = cli.clone();
            for p in path {
                cmd = cmd.find_subcommand(p).unwrap().clone();
            }
            let mut help = Vec::new();
            cmd.write_long_help(&mut help).unwrap();
            String::from_utf8(help).unwrap()
        };
        for local in [
            &["serve"][..],
            &["admin", "rotate-secrets"],
            &["dev", "fetch"],
        ] {
            let help = long(local);
            assert!(!help.contains("--api-key"), "{local:?}: {help}");
            assert!(!help.contains("--json"), "{local:?}: {help}");
        }
        let help = long(&["connection", "list"]);
        assert!(
            help.contains("--api-key") && help.contains("WHARF_API_KEY"),
            "{help}"
        );
    }
}
