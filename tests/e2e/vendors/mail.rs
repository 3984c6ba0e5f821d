//! The `mail` connector (Microsoft Graph) and its `gmail` build through
//! `wharf serve`, each against a fake of its provider: connected by the
//! provider's authorization code flow (PKCE; Microsoft's `offline_access`,
//! Google's `access_type=offline`), checked, read in full into the records
//! store while attachments go as files to an HTTP destination (their bytes
//! asserted), then incrementally after the access token expired (a new
//! message, a deleted one as a delete); an expired delta link or history
//! id starts over; 429 and 503 with `Retry-After` are waited out. Graph's
//! subscription validation (`validationToken`) is answered with the token
//! as text/plain and forged notifications are refused. No token reaches a
//! record or a log. Straight on the runtime, with the host's response cap
//! and blob space made small: Gmail reads 20 messages a call, attachments
//! too large for a response are listed without content, Outlook lists
//! messages whose only attachments are inline, and a run whose blob space
//! is spent stops and leaves the rest to the next run.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::put;
use serde_json::{Value, json};
use wharf::model::grants::HostPattern;
use wharf::model::record::{Page, Record};
use wharf::model::secret::SecretValue;
use wharf::runtime::{Connector, FixedToken, Limits, Runtime, Session, SessionOptions};

use super::Wharf;
use super::fakes::gmail;
use super::fakes::graph_mail::{self, TENANT_ID, notify};
use crate::support::{Upstream, load, runtime_with};

/// The `clientState` given when the Graph subscription is created; the
/// connection holds it as `webhook_secret`.
const CLIENT_STATE: &str = "wharf-graph-client-state-3c9f1e7a5b2d4086";

/// What the HTTP destination received: (method, stream, key, body).
type Received = Arc<Mutex<Vec<(String, String, String, Vec<u8>)>>>;

/// Where `http-push` sends attachments: `PUT /files/{stream}/{key}` with
/// the file as the body.
async fn sink() -> (Upstream, Received) {
    let received: Received = Arc::default();
    let puts = received.clone();
    let deletes = received.clone();
    let app = Router::new()
        .route(
            "/files/{stream}/{key}",
            put(
                move |Path((stream, key)): Path<(String, String)>, body: axum::body::Bytes| {
                    let into = puts.clone();
                    async move {
                        let entry = ("PUT".to_string(), stream, key, body.to_vec());
                        into.lock().unwrap().push(entry);
                        StatusCode::CREATED
                    }
                },
            )
            .delete(move |Path((stream, key)): Path<(String, String)>| {
                let into = deletes.clone();
                async move {
                    let entry = ("DELETE".to_string(), stream, key, Vec::new());
                    into.lock().unwrap().push(entry);
                    StatusCode::NO_CONTENT
                }
            }),
        )
        .layer(axum::extract::DefaultBodyLimit::max(16 << 20));
    (Upstream::start(app).await, received)
}

/// The body the destination received for `key`, if any.
fn file(received: &Received, key: &str) -> Option<Vec<u8>> {
    let got = received.lock().unwrap();
    got.iter()
        .rev()
        .find(|(method, stream, k, _)| method == "PUT" && stream == "attachments" && k == key)
        .map(|(_, _, _, body)| body.clone())
}

/// An `http-push` connection sending each record's blob to the sink.
async fn files_destination(wharf: &Wharf, files: &Upstream) -> String {
    let connector = wharf.upload("http-push").await;
    let config = json!({"url": files.url("/files/{stream}/{key}"), "body": "blob"});
    wharf
        .connection("attachment-files", &connector, config, json!({}))
        .await
}

/// Every run's log, the records of `syncs`, and `extra` answers, as one text.
async fn everything(wharf: &Wharf, runs: &[Value], syncs: &[(&str, &str)], extra: &str) -> String {
    let mut text = extra.to_string();
    for run in runs {
        let id = run["id"].as_str().unwrap();
        text.push_str(&wharf.get(&format!("/api/v1/runs/{id}/logs")).await.text);
    }
    for (sync, stream) in syncs {
        text.push_str(&serde_json::to_string(&wharf.records(sync, stream).await).unwrap());
    }
    text
}

/// The id of the Gmail message with `subject`.
fn id_of(g: &gmail::Gmail, subject: &str) -> String {
    let found = g.messages.values().find(|m| m.subject == subject);
    found.expect("a message with that subject").id.clone()
}

fn counters(run: &Value) -> (i64, i64, i64) {
    let c = &run["counters"];
    (
        c["created"].as_i64().unwrap_or(0),
        c["updated"].as_i64().unwrap_or(0),
        c["deleted"].as_i64().unwrap_or(0),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outlook_mail_by_delta_query_with_attachments_and_notifications() {
    let (api, graph) = graph_mail::start(graph_mail::mailbox()).await;
    let (files, received) = sink().await;
    let wharf = Wharf::start().await;
    let connector = wharf.upload("mail").await;
    assert!(connector.starts_with("mail@"), "{connector}");
    let config = json!({"base_url": api.origin(), "login_url": api.origin(), "tenant": TENANT_ID, "page_size": 2});
    let secrets = json!({"oauth_client_id": graph_mail::CLIENT_ID,
        "oauth_client_secret": graph_mail::CLIENT_SECRET, "webhook_secret": CLIENT_STATE});
    let conn = wharf
        .connection("outlook", &connector, config, secrets)
        .await;
    wharf.connect_oauth(&conn).await;
    let issued = graph.lock().unwrap().issued.len();
    assert_eq!(issued, 2, "offline_access: an access and a refresh token");
    let check = wharf.check(&conn).await;
    assert_eq!(check.json["ok"], true, "{:?}", check.json);
    let streams: Vec<Value> = wharf.discover(&conn).await;
    let names: Vec<&str> = streams.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["messages", "attachments"]);

    let destination = files_destination(&wharf, &files).await;
    let messages = wharf
        .sync(json!({"name": "outlook-messages", "source": conn, "streams": ["messages"], "mode": "incremental", "destination": "records"}))
        .await;
    let attachments = wharf
        .sync(json!({"name": "outlook-files", "source": conn, "streams": ["attachments"], "mode": "incremental", "destination": destination}))
        .await;
    let (report, pdf, logo) = {
        let mut g = graph.lock().unwrap();
        // The next call is throttled, the one after finds Graph busy.
        g.throttle = 1;
        g.unavailable = 1;
        let m = g
            .messages
            .values()
            .find(|m| m.subject == "Q4 report")
            .unwrap();
        (
            m.id.clone(),
            m.attachments[0].clone(),
            m.attachments[1].clone(),
        )
    };
    let mut runs = Vec::new();
    let run = wharf.run(&messages).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(counters(&run), (5, 0, 0), "{run}");
    runs.push(run);
    let run = wharf.run(&attachments).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    runs.push(run);
    {
        let g = graph.lock().unwrap();
        assert_eq!(
            g.refused,
            [
                (429, "ApplicationThrottled".to_string()),
                (503, "ServiceUnavailable".to_string())
            ],
            "both waited out"
        );
        assert!(
            g.prefer.iter().any(|p| p.contains("odata.maxpagesize=2")),
            "{:?}",
            g.prefer
        );
        assert!(
            g.prefer
                .iter()
                .all(|p| p.contains("IdType=\"ImmutableId\"")),
            "{:?}",
            g.prefer
        );
        assert!(g.max_in_flight <= 4);
        let links = g
            .seen
            .iter()
            .filter(|s| s.uri.contains("%24skiptoken=") || s.uri.contains("$skiptoken="))
            .count();
        assert!(links >= 2, "pages of two followed by nextLink");
        let downloads: Vec<_> = g
            .seen
            .iter()
            .filter(|s| s.uri.ends_with("/$value"))
            .collect();
        assert_eq!(
            downloads.len(),
            1,
            "only the PDF: the logo is inline, the attached message no file"
        );
        assert!(
            downloads
                .iter()
                .all(|s| s.method == "GET" && s.status == 200)
        );
    }
    let stored = wharf.records(&messages, "messages").await;
    assert_eq!(stored.len(), 5);
    let q4 = stored
        .iter()
        .find(|r| r["key"] == json!(report))
        .expect("the report");
    assert_eq!(q4["data"]["subject"], "Q4 report");
    assert_eq!(q4["data"]["body"]["contentType"], "text", "bodies as text");
    assert_eq!(
        q4["data"]["from"]["emailAddress"]["address"],
        "MeganB@contoso.com"
    );
    assert!(q4["data"].get("@odata.etag").is_none());
    let key = format!("{report}/{}", pdf.id);
    assert_eq!(file(&received, &key).expect("the PDF"), pdf.bytes);
    assert!(file(&received, &format!("{report}/{}", logo.id)).is_none());

    // An hour later: the token expired; a message arrived with a CSV, one
    // was deleted, one read.
    let (lunch, invoice, csv) = {
        let mut g = graph.lock().unwrap();
        g.expire_access_tokens();
        let lunch = g
            .messages
            .values()
            .find(|m| m.subject == "Lunch on Friday?")
            .unwrap()
            .id
            .clone();
        let digest = g
            .messages
            .values()
            .find(|m| m.subject == "Weekly digest #1")
            .unwrap()
            .id
            .clone();
        let csv = g.file(
            "INV-100.csv",
            "text/csv",
            b"item,amount\r\nconsulting,1200\r\n",
        );
        let invoice = g.deliver("Invoice INV-100", "Attached.", vec![csv.clone()]);
        g.delete(&lunch);
        g.mark_read(&digest);
        (lunch, invoice, csv)
    };
    let run = wharf.run(&messages).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(counters(&run), (1, 1, 1), "new, read, deleted: {run}");
    runs.push(run);
    let run = wharf.run(&attachments).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    runs.push(run);
    assert_eq!(
        graph.lock().unwrap().refreshes,
        1,
        "refreshed once, not re-consented"
    );
    let stored = wharf.records(&messages, "messages").await;
    assert!(
        stored.iter().all(|r| r["key"] != json!(lunch)),
        "the deleted message is gone"
    );
    assert!(stored.iter().any(|r| r["key"] == json!(invoice)));
    assert_eq!(
        file(&received, &format!("{invoice}/{}", csv.id)).expect("the CSV"),
        csv.bytes
    );

    // Outlook evicted the delta token: the next run starts a new round.
    let late = {
        let mut g = graph.lock().unwrap();
        g.expire_delta_tokens();
        g.deliver("Late message", "Arrived after the eviction.", Vec::new())
    };
    let run = wharf.run(&messages).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    runs.push(run);
    assert!(
        graph.lock().unwrap().gone >= 1,
        "410 SyncStateNotFound answered"
    );
    assert_eq!(wharf.records_all(&messages, "messages").await, 6);
    assert!(
        !wharf
            .records_where(&messages, "messages", &late)
            .await
            .is_empty()
    );

    // Change notifications: Graph validates the URL when the subscription
    // is created, and wants the token back as text/plain.
    let path = wharf.webhook(&conn).await;
    let (sub, validation) = notify::subscribe(&graph, &wharf.url(&path), CLIENT_STATE)
        .await
        .unwrap_or_else(|(why, v)| panic!("{why}: {v:?}"));
    assert_eq!(validation.status, 200);
    assert!(
        validation.content_type.starts_with("text/plain"),
        "{validation:?}"
    );
    assert_eq!(validation.body, validation.token);
    assert_eq!(sub.resource, "me/mailFolders('inbox')/messages");
    assert_eq!(graph.lock().unwrap().subscriptions.len(), 1);
    // A forged notification: a guessed clientState in the body is refused
    // (a header claiming the right one does not help).
    let forged = notify::notification(&sub, "created", &late, "guess");
    let (status, answer) = notify::post(
        &sub,
        forged.clone(),
        &[("clientstate", CLIENT_STATE.to_string())],
    )
    .await;
    assert_eq!(status, 401, "{answer}");
    let (status, _) = notify::post(&sub, forged, &[]).await;
    assert_eq!(status, 401);
    // Graph's own notifications (clientState in the body, checked by the
    // host): the message is read back into a record, a deletion deletes.
    let (fresh, gone) = {
        let mut g = graph.lock().unwrap();
        let fresh = g.deliver("Notified message", "Read back on notification.", Vec::new());
        let gone = g
            .messages
            .values()
            .find(|m| m.subject == "Weekly digest #2")
            .unwrap()
            .id
            .clone();
        g.delete(&gone);
        (fresh, gone)
    };
    let created = notify::notification(&sub, "created", &fresh, &sub.client_state);
    let (status, answer) = notify::post(&sub, created, &[]).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["result"]["records"], 1, "{answer}");
    let found = wharf.records_where(&messages, "messages", &fresh).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["data"]["subject"], "Notified message");
    let deleted = notify::notification(&sub, "deleted", &gone, &sub.client_state);
    let (status, answer) = notify::post(&sub, deleted, &[]).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["result"]["deletes"], 1, "{answer}");
    assert!(
        wharf
            .records_where(&messages, "messages", &gone)
            .await
            .is_empty()
    );

    let g = graph.lock().unwrap().violations.clone();
    assert_eq!(
        g,
        Vec::<String>::new(),
        "requests Graph's documentation does not allow"
    );
    let text = everything(
        &wharf,
        &runs,
        &[
            (messages.as_str(), "messages"),
            (attachments.as_str(), "attachments"),
        ],
        &check.text,
    )
    .await;
    let issued = graph.lock().unwrap().issued.clone();
    assert!(issued.len() >= 4);
    for token in &issued {
        assert!(!text.contains(token.as_str()), "a token leaked");
    }
    assert!(!text.contains(graph_mail::CLIENT_SECRET));
    assert!(!text.contains(CLIENT_STATE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gmail_by_history_with_attachments() {
    let (api, fake) = gmail::start(gmail::mailbox()).await;
    let (files, received) = sink().await;
    let wharf = Wharf::start().await;
    let connector = wharf.upload("gmail").await;
    assert!(connector.starts_with("gmail@"), "{connector}");
    let config = json!({"base_url": api.origin(), "auth_url": api.url("/o/oauth2/v2/auth"),
        "token_url": api.url("/token"), "page_size": 2});
    let secrets =
        json!({"oauth_client_id": gmail::CLIENT_ID, "oauth_client_secret": gmail::CLIENT_SECRET});
    let conn = wharf.connection("gmail", &connector, config, secrets).await;
    wharf.connect_oauth(&conn).await;
    assert_eq!(
        fake.lock().unwrap().issued.len(),
        2,
        "access_type=offline with prompt=consent: a refresh token"
    );
    let check = wharf.check(&conn).await;
    assert_eq!(check.json["ok"], true, "{:?}", check.json);
    let names: Vec<String> = wharf
        .discover(&conn)
        .await
        .iter()
        .filter_map(|s| s["name"].as_str().map(str::to_string))
        .collect();
    assert_eq!(names, ["messages", "attachments"]);

    let destination = files_destination(&wharf, &files).await;
    let messages = wharf
        .sync(json!({"name": "gmail-messages", "source": conn, "streams": ["messages"], "mode": "incremental", "destination": "records"}))
        .await;
    let attachments = wharf
        .sync(json!({"name": "gmail-files", "source": conn, "streams": ["attachments"], "mode": "incremental", "destination": destination}))
        .await;
    let (invoice, pdf) = {
        let mut f = fake.lock().unwrap();
        f.throttle = 1;
        let m = f
            .messages
            .values()
            .find(|m| m.subject == "Invoice 2026-001")
            .unwrap();
        (m.id.clone(), m.attachments[0].bytes.clone())
    };
    let mut runs = Vec::new();
    let run = wharf.run(&messages).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(counters(&run), (3, 0, 0), "the Inbox's three: {run}");
    runs.push(run);
    let run = wharf.run(&attachments).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    runs.push(run);
    let stored = wharf.records(&messages, "messages").await;
    let first = stored
        .iter()
        .find(|r| r["key"] == json!(invoice))
        .expect("the invoice");
    let data = &first["data"];
    assert_eq!(data["subject"], "Invoice 2026-001");
    assert_eq!(data["from"], "Ion Popescu <ion@example.org>");
    assert_eq!(data["body_text"], "Please find the invoice attached.");
    assert!(data["body_html"].as_str().unwrap().contains("<div"));
    assert_eq!(data["attachments"].as_array().unwrap().len(), 2);
    assert!(data["received_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        file(&received, &format!("{invoice}/1")).expect("the PDF"),
        pdf
    );
    assert!(
        file(&received, &format!("{invoice}/2")).is_none(),
        "the inline logo is left out"
    );

    // An hour later: the token expired; a message came with a CSV, one was
    // deleted, one archived (out of the Inbox).
    let (new, csv, deleted, archived) = {
        let mut f = fake.lock().unwrap();
        f.expire_access_tokens();
        let deleted = id_of(&f, "Meeting notes");
        let archived = id_of(&f, "Contract renewal");
        let csv = f.file("usage.csv", "text/csv", b"day,calls\n2026-01-02,42\n");
        let new = f.receive(
            &["INBOX"],
            "Usage report",
            "Usage attached.",
            vec![csv.clone()],
        );
        f.delete(&deleted);
        f.archive(&archived);
        (new, csv, deleted, archived)
    };
    let run = wharf.run(&messages).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(counters(&run), (1, 0, 2), "new, deleted, archived: {run}");
    runs.push(run);
    let run = wharf.run(&attachments).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    runs.push(run);
    assert_eq!(fake.lock().unwrap().refreshes, 1);
    let keys: Vec<Value> = wharf
        .records(&messages, "messages")
        .await
        .iter()
        .map(|r| r["key"].clone())
        .collect();
    assert!(
        keys.contains(&json!(new))
            && !keys.contains(&json!(deleted))
            && !keys.contains(&json!(archived)),
        "{keys:?}"
    );
    assert_eq!(
        file(&received, &format!("{new}/1")).expect("the CSV"),
        csv.bytes
    );

    // A week later Google no longer has that history: a full pass again.
    let late = {
        let mut f = fake.lock().unwrap();
        let late = f.receive(&["INBOX"], "Late message", "After a week.", Vec::new());
        f.expire_history();
        late
    };
    let run = wharf.run(&messages).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    runs.push(run);
    assert_eq!(wharf.records_all(&messages, "messages").await, 3);
    assert!(
        !wharf
            .records_where(&messages, "messages", &late)
            .await
            .is_empty()
    );
    {
        let f = fake.lock().unwrap();
        assert!(f.expired >= 1, "the history answered 404");
        assert_eq!(
            f.violations,
            Vec::<String>::new(),
            "requests the discovery document does not describe"
        );
        let history: Vec<_> = f
            .seen
            .iter()
            .filter(|s| s.uri.contains("/history?"))
            .collect();
        assert!(!history.is_empty());
        assert!(
            history
                .iter()
                .all(|s| s.method == "GET" && s.uri.contains("labelId=INBOX"))
        );
        assert!(
            f.seen.iter().any(|s| s.status == 429),
            "throttled once and waited out"
        );
    }
    let text = everything(
        &wharf,
        &runs,
        &[
            (messages.as_str(), "messages"),
            (attachments.as_str(), "attachments"),
        ],
        &check.text,
    )
    .await;
    let issued = fake.lock().unwrap().issued.clone();
    assert!(issued.len() >= 3);
    for token in &issued {
        assert!(!text.contains(token.as_str()), "a token leaked");
    }
    assert!(!text.contains(gmail::CLIENT_SECRET));
}

/// The host's limits made small enough to reach: responses of at most
/// 1 MiB, and 1.25 MiB of blobs a run (room for two of the 512 KiB files
/// below, not three).
fn small_limits() -> Runtime {
    runtime_with(Limits {
        http_response_bytes: 1 << 20,
        blob_bytes: (5 << 20) / 4,
        ..Limits::default()
    })
}

/// One run of `connector` straight on the runtime against `api`, the host
/// holding `token` as the connection's OAuth2 access token.
fn open(
    rt: &Runtime,
    connector: &Arc<Connector>,
    config: Value,
    api: &Upstream,
    token: &str,
) -> Session {
    let options = SessionOptions {
        config,
        hosts: vec![HostPattern::parse(&api.origin()).expect("host pattern")],
        networks: vec!["127.0.0.0/8".parse().expect("cidr")],
        oauth: Some(Arc::new(FixedToken(SecretValue::new(token)))),
        ..SessionOptions::default()
    };
    Session::new(rt, connector, options, |log| log).expect("session")
}

fn keys(page: &Page) -> Vec<String> {
    page.records.iter().filter_map(|r| r.key.clone()).collect()
}

/// A record's file, as the run holds it.
fn content(run: &Session, record: &Record) -> Vec<u8> {
    let blob = record.blob.as_deref().expect("the record carries its file");
    run.blobs().bytes(blob).expect("a blob of the run").to_vec()
}

/// A file of `len` bytes that differs with `n`.
fn bytes(len: usize, n: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 7 + n) % 251) as u8).collect()
}

/// Gmail straight on the runtime: a page of 100 is read 20 messages a
/// call (each one a request; the host gives a call 30 s); an attachment
/// too large for one response is recorded without content, before asking
/// (its base64url in JSON would pass 16 MiB) or when the host refuses the
/// answer, and the stream goes on; when the run's blob space is spent the
/// run stops, and the next run, with space of its own, goes on from that
/// file: no attachment is left without content for lack of space.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gmail_reads_twenty_messages_a_call_and_files_wait_for_blob_space() {
    let mut mailbox = gmail::mailbox();
    let invoice = id_of(&mailbox, "Invoice 2026-001");
    let pdf = mailbox.messages[&invoice].attachments[0].bytes.clone();
    let scan = mailbox.file("scan.tiff", "image/tiff", &vec![0x49; 12 << 20]);
    let scanned = mailbox.receive(
        &["INBOX"],
        "Scanned contract",
        "Signed.",
        vec![scan.clone()],
    );
    let photos = mailbox.file("photos.zip", "application/zip", &bytes(900 << 10, 0));
    let site = mailbox.receive(&["INBOX"], "Site photos", "Today's.", vec![photos.clone()]);
    let mut parts = Vec::new();
    for n in 1..=3 {
        let file = mailbox.file(
            &format!("part-{n}.bin"),
            "application/octet-stream",
            &bytes(512 << 10, n),
        );
        let id = mailbox.receive(
            &["INBOX"],
            &format!("Part {n}"),
            "Attached.",
            vec![file.clone()],
        );
        parts.push((format!("{id}/1"), file.bytes));
    }
    for n in 1..=15 {
        mailbox.receive(
            &["INBOX"],
            &format!("Note {n}"),
            "No attachment.",
            Vec::new(),
        );
    }
    let inbox = mailbox
        .messages
        .values()
        .filter(|m| m.labels.iter().any(|l| l == "INBOX"))
        .count();
    assert!((21..=40).contains(&inbox), "{inbox}");
    let token = mailbox.grant("https://www.googleapis.com/auth/gmail.readonly");
    let (api, fake) = gmail::start(mailbox).await;
    let rt = small_limits();
    let connector = load(&rt, "gmail").await;
    let config =
        json!({"base_url": api.origin(), "page_size": 100, "max_attachment_bytes": 64 << 20});

    let run = open(&rt, &connector, config.clone(), &api, &token);
    let page = run.fetch("messages", None).await.unwrap();
    let reads = |f: &gmail::Gmail| {
        f.seen
            .iter()
            .filter(|s| s.uri.contains("format=full"))
            .count()
    };
    assert_eq!(page.records.len(), 20, "a page of {inbox} listed, 20 read");
    assert!(page.more);
    assert_eq!(reads(&fake.lock().unwrap()), 20);
    let page = run.fetch("messages", page.cursor.as_deref()).await.unwrap();
    assert_eq!(page.records.len(), inbox - 20);
    assert!(!page.more);

    // Newest first: parts 3 and 2 fill the run's blob space; part 1 waits.
    let first = open(&rt, &connector, config.clone(), &api, &token);
    let page = first.fetch("attachments", None).await.unwrap();
    assert!(!page.more, "the run stops where its blob space ran out");
    assert_eq!(keys(&page), [parts[2].0.clone(), parts[1].0.clone()]);
    for (record, (_, file)) in page.records.iter().zip([&parts[2], &parts[1]]) {
        assert_eq!(&content(&first, record), file);
    }
    let cursor = page.cursor.clone().expect("a cursor");
    assert!(
        cursor.contains(parts[0].0.trim_end_matches("/1")),
        "{cursor}"
    );

    // The next run, with space of its own, goes on from part 1.
    let next = open(&rt, &connector, config, &api, &token);
    let page = next
        .fetch("attachments", Some(cursor.as_str()))
        .await
        .unwrap();
    assert!(!page.more, "the pass is over");
    let photos_key = format!("{site}/1");
    let scan_key = format!("{scanned}/1");
    let invoice_key = format!("{invoice}/1");
    assert_eq!(
        keys(&page),
        [
            parts[0].0.clone(),
            photos_key.clone(),
            scan_key.clone(),
            invoice_key.clone()
        ]
    );
    let by_key = |key: &str| {
        page.records
            .iter()
            .find(|r| r.key.as_deref() == Some(key))
            .unwrap()
    };
    assert_eq!(content(&next, by_key(&parts[0].0)), parts[0].1);
    assert_eq!(content(&next, by_key(&invoice_key)), pdf);
    let skipped = |key: &str| {
        let data = by_key(key).fields();
        data.get("content_skipped")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        skipped(&photos_key).contains("larger than the host allows"),
        "{}",
        skipped(&photos_key)
    );
    assert!(
        skipped(&scan_key).contains("base64url"),
        "{}",
        skipped(&scan_key)
    );
    assert!(by_key(&scan_key).blob.is_none() && by_key(&photos_key).blob.is_none());
    let f = fake.lock().unwrap();
    assert!(
        !f.seen.iter().any(|s| s.uri.contains(&scan.attachment_id)),
        "the scan was not asked for"
    );
    assert!(
        f.seen
            .iter()
            .any(|s| s.uri.contains(&photos.attachment_id) && s.status == 200)
    );
    assert_eq!(f.violations, Vec::<String>::new());
}

/// Outlook straight on the runtime: with inline attachments read, a
/// message whose only attachment is inline (Graph says `hasAttachments`
/// false) is listed too; when the run's blob space is spent the run stops
/// and the next run goes on from that file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outlook_inline_only_messages_and_files_waiting_for_blob_space() {
    let mut mailbox = graph_mail::mailbox();
    let q4 = mailbox
        .messages
        .values()
        .find(|m| m.subject == "Q4 report")
        .unwrap()
        .clone();
    let mut expected: Vec<(String, Vec<u8>)> = q4
        .attachments
        .iter()
        .filter(|a| !a.item)
        .map(|a| (format!("{}/{}", q4.id, a.id), a.bytes.clone()))
        .collect();
    let mut banner = mailbox.file("banner.png", "image/png", b"\x89PNG\r\n\x1a\nbanner");
    banner.inline = true;
    let newsletter = mailbox.deliver("Newsletter", "Pictures only.", vec![banner.clone()]);
    expected.push((format!("{newsletter}/{}", banner.id), banner.bytes.clone()));
    for n in 1..=3 {
        let file = mailbox.file(
            &format!("part-{n}.bin"),
            "application/octet-stream",
            &bytes(512 << 10, n),
        );
        let id = mailbox.deliver(&format!("Part {n}"), "Attached.", vec![file.clone()]);
        expected.push((format!("{id}/{}", file.id), file.bytes));
    }
    let token = mailbox.grant("Mail.Read");
    let (api, fake) = graph_mail::start(mailbox).await;
    let rt = small_limits();
    let connector = load(&rt, "mail").await;
    let config = json!({"base_url": api.origin(), "page_size": 100, "include_inline": true});
    let keys_of = |range: std::ops::Range<usize>| -> Vec<String> {
        expected[range].iter().map(|(k, _)| k.clone()).collect()
    };

    // Five messages a call: the report's PDF and inline logo, then the
    // three digests and lunch without attachments.
    let first = open(&rt, &connector, config.clone(), &api, &token);
    let page = first.fetch("attachments", None).await.unwrap();
    assert!(page.more);
    assert_eq!(keys(&page), keys_of(0..2));
    let mut files: Vec<(Record, Vec<u8>)> = page
        .records
        .iter()
        .map(|r| (r.clone(), content(&first, r)))
        .collect();
    // The newsletter's inline banner, parts 1 and 2; part 3 has no room.
    let page = first
        .fetch("attachments", page.cursor.as_deref())
        .await
        .unwrap();
    assert!(!page.more, "the run stops where its blob space ran out");
    assert_eq!(keys(&page), keys_of(2..5));
    files.extend(page.records.iter().map(|r| (r.clone(), content(&first, r))));
    let next = open(&rt, &connector, config, &api, &token);
    let page = next
        .fetch("attachments", page.cursor.as_deref())
        .await
        .unwrap();
    assert!(!page.more);
    assert_eq!(keys(&page), keys_of(5..6));
    files.extend(page.records.iter().map(|r| (r.clone(), content(&next, r))));
    for ((record, got), (key, want)) in files.iter().zip(&expected) {
        assert_eq!(record.key.as_deref(), Some(key.as_str()));
        assert!(
            record.fields().get("content_skipped").is_none(),
            "{record:?}"
        );
        assert_eq!(got, want, "{key}");
    }
    assert_eq!(files.len(), expected.len());
    assert_eq!(fake.lock().unwrap().violations, Vec::<String>::new());
}
