//! The documents of the fake Frappe site: ERPNext's Customer and Frappe's
//! ToDo with their DocType metadata (fields as `frappe/desk/doctype/todo/
//! todo.py` and ERPNext's `customer.py` declare them), the documentation's
//! example documents, and the site's clock for `modified`.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{Map, Value, json};

use super::frappe::USER;

/// A request the site served.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub status: u16,
    pub at: Instant,
}

/// The site's documents (DocType metadata included, as documents of
/// `DocType`) and what it was asked.
pub struct Site {
    pub docs: BTreeMap<String, Vec<Map<String, Value>>>,
    pub seen: Vec<Seen>,
    /// The next this many list requests are refused by the rate limiter.
    pub throttle: u32,
    pub(super) clock: u32,
}

impl Site {
    /// The documents of `doctype`.
    pub fn of(&self, doctype: &str) -> &[Map<String, Value>] {
        self.docs.get(doctype).map_or(&[], Vec::as_slice)
    }

    pub fn doc(&self, doctype: &str, name: &str) -> Option<&Map<String, Value>> {
        self.of(doctype).iter().find(|d| d["name"] == name)
    }

    /// `modified` of the next write: later than every seeded document.
    pub(super) fn tick(&mut self) -> String {
        self.clock += 1;
        format!(
            "2024-06-01 12:{:02}:{:02}.{:06}",
            self.clock / 60,
            self.clock % 60,
            self.clock * 7
        )
    }

    /// Change a document as a user of the site would (bumps `modified`).
    pub fn edit(&mut self, doctype: &str, name: &str, field: &str, value: Value) {
        let modified = self.tick();
        let doc = self
            .docs
            .get_mut(doctype)
            .and_then(|docs| docs.iter_mut().find(|d| d["name"] == name))
            .expect("document");
        doc.insert(field.into(), value);
        doc.insert("modified".into(), modified.into());
    }

    /// Add a document as a user of the site would.
    pub fn add(&mut self, doctype: &str, mut doc: Map<String, Value>) {
        let modified = self.tick();
        for (k, v) in standard(doctype, &modified) {
            doc.entry(k).or_insert(v);
        }
        self.docs.entry(doctype.into()).or_default().push(doc);
    }
}

pub(super) fn standard(doctype: &str, at: &str) -> Map<String, Value> {
    let Value::Object(map) = json!({
        "owner": USER, "creation": at, "modified": at, "modified_by": USER,
        "docstatus": 0, "idx": 0, "doctype": doctype,
    }) else {
        unreachable!()
    };
    map
}

fn field(name: &str, fieldtype: &str, label: &str, reqd: u8, options: &str) -> Value {
    json!({"fieldname": name, "fieldtype": fieldtype, "label": label, "reqd": reqd, "options": options, "doctype": "DocField"})
}

/// ERPNext's Customer and Frappe's ToDo, with their DocType documents.
pub fn erpnext_site() -> Site {
    let mut docs: BTreeMap<String, Vec<Map<String, Value>>> = BTreeMap::new();
    let meta = |name: &str, module: &str, istable: u8, fields: Vec<Value>| {
        let Value::Object(m) = json!({"name": name, "module": module, "istable": istable, "issingle": 0,
            "modified": "2024-01-01 00:00:00", "doctype": "DocType", "fields": fields})
        else {
            unreachable!()
        };
        m
    };
    docs.insert(
        "DocType".into(),
        vec![
            meta(
                "Customer",
                "Selling",
                0,
                vec![
                    field("customer_name", "Data", "Customer Name", 1, ""),
                    field(
                        "customer_type",
                        "Select",
                        "Customer Type",
                        1,
                        "Company\nIndividual\nPartnership",
                    ),
                    field(
                        "customer_group",
                        "Link",
                        "Customer Group",
                        0,
                        "Customer Group",
                    ),
                    field("territory", "Link", "Territory", 0, "Territory"),
                    field("column_break_1", "Column Break", "", 0, ""),
                    field("disabled", "Check", "Disabled", 0, ""),
                    field(
                        "credit_limits",
                        "Table",
                        "Credit Limit",
                        0,
                        "Customer Credit Limit",
                    ),
                ],
            ),
            meta(
                "DocType",
                "Core",
                0,
                vec![
                    field("module", "Link", "Module", 1, "Module Def"),
                    field("istable", "Check", "Is Child Table", 0, ""),
                    field("issingle", "Check", "Is Single", 0, ""),
                ],
            ),
            meta(
                "Customer Credit Limit",
                "Selling",
                1,
                vec![field("credit_limit", "Currency", "Credit Limit", 0, "")],
            ),
            meta(
                "ToDo",
                "Desk",
                0,
                vec![
                    field("status", "Select", "Status", 0, "Open\nClosed\nCancelled"),
                    field("priority", "Select", "Priority", 0, "High\nMedium\nLow"),
                    field("description", "Text Editor", "Description", 1, ""),
                ],
            ),
        ],
    );
    let doc = |v: Value| match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    docs.insert("ToDo".into(), vec![
        doc(json!({"name":"a1b2c3d4e5","owner":USER,"creation":"2024-05-01 09:00:00.000001","modified":"2024-05-02 10:15:30.123456","modified_by":USER,"docstatus":0,"idx":0,"status":"Open","priority":"High","description":"Buy milk","doctype":"ToDo"})),
        doc(json!({"name":"f6g7h8i9j0","owner":USER,"creation":"2024-05-01 08:00:00","modified":"2024-05-01 08:00:00","modified_by":USER,"docstatus":0,"idx":0,"status":"Closed","priority":"Low","description":"Call ACME","doctype":"ToDo"})),
    ]);
    let customers = (1..=7)
        .map(|i| {
            doc(
                json!({"name": format!("CUST-{i:04}"), "customer_name": format!("Customer {i}"),
                "customer_type": if i % 2 == 0 { "Individual" } else { "Company" },
                "customer_group": "Commercial", "territory": "All Territories", "disabled": 0,
                "owner": "Administrator", "creation": "2024-04-01 12:00:00.500000",
                "modified": format!("2024-04-0{} 16:20:11.402117", 1 + i % 3),
                "modified_by": "Administrator", "docstatus": 0, "idx": 0, "doctype": "Customer"}),
            )
        })
        .collect();
    docs.insert("Customer".into(), customers);
    Site {
        docs,
        seen: Vec::new(),
        throttle: 0,
        clock: 0,
    }
}
