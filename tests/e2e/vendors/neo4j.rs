//! The `neo4j` connector through `wharf serve`: ERPNext customers (from the
//! fake Frappe site, through the `erpnext` connector) written as nodes and
//! relationships into a fake Neo4j; values only ever as parameters; a
//! constraint violation rejects just the record at fault; a wrong password
//! is `auth` in Neo4j's words; a deleted document deletes its node.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::Wharf;
use super::erpnext::{secrets, signature};
use super::fakes::frappe;
use super::fakes::neo4j::{self, Graph, PASSWORD, USER};

fn graph_config(graph: &crate::support::Upstream) -> Value {
    json!({
        "base_url": graph.origin(),
        "nodes": {"Customer": {"label": "Customer", "key": "name",
            "properties": ["name", "customer_name", "customer_type", "territory"]}},
        "relationships": [{"stream": "Customer", "type": "IN_TERRITORY",
            "from": {"label": "Customer", "key": "name", "field": "name"},
            "to": {"label": "Territory", "key": "name", "field": "territory"}}],
        "batch_size": 50
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erpnext_customers_become_a_graph() {
    let mut site = frappe::erpnext_site();
    // A second customer under an existing name: the graph's uniqueness
    // constraint on customer_name refuses it.
    let twin = json!({"name": "CUST-0050", "customer_name": "Customer 2", "customer_type": "Company",
        "territory": "Europe", "modified": "2024-04-04 00:00:00"});
    site.docs
        .get_mut("Customer")
        .unwrap()
        .push(twin.as_object().unwrap().clone());
    let (erp_site, erp_state) = frappe::start(site).await;
    let mut graph = Graph::default();
    graph
        .unique
        .push(("Customer".into(), "customer_name".into()));
    let (server, state) = neo4j::start(graph).await;

    let wharf = Wharf::start().await;
    let erpnext = wharf.upload("erpnext").await;
    let connector = wharf.upload("neo4j").await;
    let erp = wharf
        .connection(
            "erp",
            &erpnext,
            json!({"base_url": erp_site.origin(), "doctypes": ["Customer"]}),
            secrets(frappe::SECRET),
        )
        .await;

    let wrong = wharf
        .connection(
            "graph-wrong",
            &connector,
            graph_config(&server),
            json!({"username": USER, "password": "not-it"}),
        )
        .await;
    let a = wharf.check(&wrong).await;
    assert_eq!(
        (a.json["ok"].clone(), a.json["kind"].clone()),
        (json!(false), json!("auth")),
        "{:?}",
        a.json
    );
    let message = a.json["message"].as_str().unwrap();
    assert!(
        message.contains("Neo.ClientError.Security.Unauthorized"),
        "{message}"
    );

    let target = wharf
        .connection(
            "graph",
            &connector,
            graph_config(&server),
            json!({"username": USER, "password": PASSWORD}),
        )
        .await;
    assert_eq!(wharf.check(&target).await.json["ok"], true);

    let sync = wharf
        .sync(json!({"name": "erp-graph", "source": erp, "streams": ["Customer"], "mode": "incremental",
            "destination": target, "error_threshold": 5}))
        .await;
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counters"]["created"], 7, "{run}");
    let rejected = wharf.rejected(&run).await;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["key"], "CUST-0050");
    let why = rejected[0]["message"].as_str().unwrap();
    assert!(
        why.contains("Neo.ClientError.Schema.ConstraintValidationFailed"),
        "{why}"
    );
    {
        let g = state.lock().unwrap();
        assert_eq!(g.nodes("Customer").len(), 7);
        assert_eq!(
            g.nodes("Territory").len(),
            1,
            "CUST-0050's territory was rolled back with it"
        );
        assert_eq!(g.relationships("IN_TERRITORY").len(), 7);
        let one = g.node("Customer", "name", &json!("CUST-0001")).unwrap();
        assert_eq!(one.props["customer_name"], "Customer 1");
        assert!(
            one.props.get("modified").is_none(),
            "only the configured properties"
        );
        // The batch failed whole, then went record by record; no statement
        // ever held a value.
        assert!(
            g.statements.iter().any(|(_, rows, ok)| *rows == 8 && !ok),
            "{:?}",
            g.statements
        );
        assert!(
            g.statements
                .iter()
                .filter(|(_, rows, _)| *rows == 1)
                .count()
                >= 8
        );
        for (statement, _, _) in &g.statements {
            assert!(
                !statement.contains("Customer 1") && !statement.contains("CUST-"),
                "{statement}"
            );
        }
    }

    // The twin renamed at the source: it lands.
    erp_state.lock().unwrap().edit(
        "Customer",
        "CUST-0050",
        "customer_name",
        json!("Customer Fifty"),
    );
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert!(wharf.rejected(&run).await.is_empty());
    {
        let g = state.lock().unwrap();
        let fifty = g
            .node("Customer", "name", &json!("CUST-0050"))
            .expect("CUST-0050");
        assert_eq!(fifty.props["customer_name"], "Customer Fifty");
        assert_eq!(
            g.nodes("Customer").len(),
            8,
            "merged by key, never duplicated"
        );
        assert_eq!(g.nodes("Territory").len(), 2);
    }

    // A Frappe `on_trash` webhook deletes the node and its relationships.
    let hook = wharf.webhook(&erp).await;
    let trash = json!({"doctype": "Customer", "name": "CUST-0001"}).to_string();
    let a = wharf
        .deliver(
            &format!("{hook}?event=on_trash"),
            &[("x-frappe-webhook-signature", signature(trash.as_bytes()))],
            trash.as_bytes(),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.json);
    let g = state.lock().unwrap();
    assert!(g.node("Customer", "name", &json!("CUST-0001")).is_none());
    assert_eq!(g.relationships("IN_TERRITORY").len(), 7);
}
