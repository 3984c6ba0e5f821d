//! The `teams-graph` connector (the `teams` crate built with `graph`)
//! through `wharf serve` against a fake Microsoft Graph: connected by the
//! identity platform's authorization code flow (PKCE; `ChannelMessage.Send
//! Channel.ReadBasic.All offline_access`), checked by a `GET` of the
//! channel, rows of an `http-json` source posted as Adaptive Cards in the
//! attachment Graph wants (placeholders in the data sent as text), a card
//! too large for Teams rejected, a `429` and a `503` waited out and an
//! access token expiring mid-batch renewed, nothing posted twice; a failed
//! run posted to the channel through an event subscription; a team the
//! user is not in an authentication error in Graph's words; no token or
//! client secret in any answer or log.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

use super::Wharf;
use super::fakes::teams_graph::{
    self, CHANNEL_ID, CLIENT_ID, CLIENT_SECRET, OTHER_CHANNEL_ID, OTHER_TEAM_ID, TEAM_ID, TENANT_ID,
};
use crate::support::Upstream;

/// Record text that looks like the host's placeholders.
const PLACEHOLDERS: &str = "{{oauth:access_token}} and {{secret:oauth_client_secret}}";

/// What the `http-json` source reads: `GET /rows`, six rows (`/missing`
/// is not there).
async fn feed() -> Upstream {
    let rows = json!([
        {"name": "xero", "status": "failed", "detail": "token expired"},
        {"name": "shop", "status": "ok", "detail": "fine"},
        {"name": "huge", "status": "ok", "detail": "x".repeat(30_000)},
        {"name": "drive", "status": "ok", "detail": PLACEHOLDERS},
        {"name": "anaf", "status": "ok", "detail": "fine"},
        {"name": "files", "status": "ok", "detail": "fine"}
    ]);
    let app = Router::new().route(
        "/rows",
        get(move || {
            let rows = rows.clone();
            async move { axum::Json(rows) }
        }),
    );
    Upstream::start(app).await
}

/// A `teams-graph` config against the fake, with `extra` fields.
fn config(api: &Upstream, extra: Value) -> Value {
    let mut config = json!({"base_url": api.origin(), "login_url": api.origin(), "tenant": TENANT_ID,
        "team_id": TEAM_ID, "channel_id": CHANNEL_ID});
    if let (Value::Object(c), Value::Object(extra)) = (&mut config, extra) {
        c.extend(extra);
    }
    config
}

/// The first text of a posted card.
fn first_text(card: &Value) -> String {
    card["body"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_graph_posts_cards_waits_renews_and_notifies() {
    let (api, fake) = teams_graph::start(teams_graph::TeamsGraph::default()).await;
    let rows = feed().await;
    let wharf = Wharf::start().await;
    let connector = wharf.upload("teams-graph").await;
    assert!(connector.starts_with("teams-graph@"), "{connector}");
    let http_json = wharf.upload("http-json").await;
    let streams = json!({"rows": {"path": "/rows", "key": "name"},
        "missing": {"path": "/missing", "key": "name"}});
    let source = wharf
        .connection(
            "rows",
            &http_json,
            json!({"base_url": rows.origin(), "streams": streams}),
            json!({}),
        )
        .await;
    let secrets = json!({"oauth_client_id": CLIENT_ID, "oauth_client_secret": CLIENT_SECRET});

    // The channel id as a link gives it, URL-encoded.
    let copied = CHANNEL_ID.replace(':', "%3a").replace('@', "%40");
    let templates = json!({"channel_id": copied, "subject": "Sync {name}",
        "title": "Sync {name}: {status}", "text": "{detail}"});
    let channel = wharf
        .connection(
            "teams-graph-alerts",
            &connector,
            config(&api, templates),
            secrets.clone(),
        )
        .await;
    wharf.connect_oauth(&channel).await;
    {
        let f = teams_graph::lock(&fake);
        assert_eq!(
            f.issued.len(),
            2,
            "offline_access: an access and a refresh token"
        );
        let asked: Vec<&str> = f.consented[0].split(' ').collect();
        for scope in [
            "ChannelMessage.Send",
            "Channel.ReadBasic.All",
            "offline_access",
        ] {
            assert!(asked.contains(&scope), "{asked:?}");
        }
    }
    let check = wharf.check(&channel).await;
    assert_eq!(check.json["ok"], true, "{:?}", check.json);

    // The second post is throttled, the fourth finds the token expired, the
    // fifth finds Graph busy; the third row is too large for Teams.
    {
        let mut f = teams_graph::lock(&fake);
        f.throttle_on_post = Some(1);
        f.expire_on_post = Some(3);
        f.unavailable_on_post = Some(4);
    }
    let sync = wharf
        .sync(
            json!({"name": "to-teams-graph", "source": source, "streams": ["rows"],
            "mode": "full", "destination": channel, "error_threshold": 5}),
        )
        .await;
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counters"]["created"], 5, "{run}");
    let errors = wharf.rejected(&run).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["key"], "huge");
    let why = errors[0]["message"].as_str().unwrap_or_default();
    assert!(why.contains("RequestEntityTooLarge"), "{why}");
    {
        let f = teams_graph::lock(&fake);
        assert!(f.violations.is_empty(), "{:?}", f.violations);
        let refused: Vec<(u16, &str)> = f.refused.iter().map(|(s, c)| (*s, c.as_str())).collect();
        let expected: [(u16, &str); 4] = [
            (429, "TooManyRequests"),
            (413, "RequestEntityTooLarge"),
            (401, "InvalidAuthenticationToken"),
            (503, "ServiceUnavailable"),
        ];
        assert_eq!(refused, expected);
        assert_eq!(f.refreshes, 1, "the expired token was refreshed once");
        let texts: Vec<String> = f.posted.iter().map(|p| first_text(&p.card)).collect();
        let each_once = [
            "Sync xero: failed",
            "Sync shop: ok",
            "Sync drive: ok",
            "Sync anaf: ok",
            "Sync files: ok",
        ];
        assert_eq!(texts, each_once, "each row once, in order");
        let first = &f.posted[0];
        assert_eq!(
            (first.team.as_str(), first.channel.as_str()),
            (TEAM_ID, CHANNEL_ID)
        );
        assert_eq!(first.card["type"], "AdaptiveCard");
        assert_eq!(first.card["version"], "1.4");
        assert_eq!(first.card["body"][0]["weight"], "Bolder");
        assert_eq!(first.card["body"][1]["text"], "token expired");
        assert_eq!(first.subject.as_deref(), Some("Sync xero"));
        assert!(!first.id.is_empty());
        // Placeholders in the data went as the text they are.
        assert_eq!(f.posted[2].card["body"][1]["text"], PLACEHOLDERS);
        assert!(
            f.max_in_window(Duration::from_millis(800)) <= 4,
            "at most 4 requests a second on a channel"
        );
        for p in &f.posted {
            for token in &f.issued {
                assert!(!p.raw.contains(token.as_str()), "a token in a message");
            }
            assert!(!p.raw.contains(CLIENT_SECRET));
        }
    }

    // Failed runs are posted through a connection without templates: the
    // subscription's text is the card's.
    let notify = wharf
        .connection(
            "teams-graph-notify",
            &connector,
            config(&api, json!({})),
            secrets.clone(),
        )
        .await;
    wharf.connect_oauth(&notify).await;
    let sub = wharf
        .post(
            "/api/v1/webhooks",
            json!({"connection": notify, "events": ["run.failed"]}),
        )
        .await;
    assert_eq!(sub.status, 201, "{:?}", sub.json);
    let broken = wharf
        .sync(
            json!({"name": "broken-feed", "source": source, "streams": ["missing"],
            "mode": "full", "destination": channel}),
        )
        .await;
    let failed = wharf.run(&broken).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let mut notified = None;
    for _ in 0..200 {
        notified = teams_graph::lock(&fake)
            .posted
            .iter()
            .find(|p| first_text(&p.card).starts_with("Sync broken-feed failed"))
            .cloned();
        if notified.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let notified = notified.expect("the failed run was posted to the channel");
    assert_eq!(notified.channel, CHANNEL_ID);
    assert_eq!(notified.card["type"], "AdaptiveCard");

    // A team the connected user is not a member of: Graph's 403, as an
    // authentication error in its words.
    let outsider = wharf
        .connection(
            "teams-graph-outsider",
            &connector,
            config(
                &api,
                json!({"team_id": OTHER_TEAM_ID, "channel_id": OTHER_CHANNEL_ID}),
            ),
            secrets.clone(),
        )
        .await;
    wharf.connect_oauth(&outsider).await;
    let denied = wharf.check(&outsider).await;
    assert_eq!(
        (denied.json["ok"].clone(), denied.json["kind"].clone()),
        (json!(false), json!("auth")),
        "{:?}",
        denied.json
    );
    let message = denied.json["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Forbidden") && message.contains("not a member"),
        "{message}"
    );

    // No token or client secret in any answer, log or rejection.
    let mut everything = format!("{}{}{}{}", check.text, denied.text, sub.text, run);
    for id in [&channel, &notify, &outsider] {
        let shown = wharf.get(&format!("/api/v1/connections/{id}")).await;
        everything.push_str(&shown.text);
    }
    for ran in [&run, &failed] {
        let id = ran["id"].as_str().unwrap();
        everything.push_str(&wharf.get(&format!("/api/v1/runs/{id}/logs")).await.text);
        everything.push_str(&ran.to_string());
    }
    everything.push_str(&serde_json::to_string(&errors).unwrap());
    let f = teams_graph::lock(&fake);
    assert!(f.violations.is_empty(), "{:?}", f.violations);
    assert!(!f.issued.is_empty());
    for token in &f.issued {
        assert!(!everything.contains(token.as_str()), "a token leaked");
    }
    assert!(!everything.contains(CLIENT_SECRET));
}
