//! The fake company's data, in the shapes of SAP's own examples (the
//! Service Layer guide's `BusinessPartners`, `Items` and `Orders` with
//! `DocumentLines`) and SAP's demo company's codes (`C20000`, `A00001`),
//! and the properties of each entity type as the Service Layer's
//! `$metadata` (OData v4, SAP Business One 10) declares them: a property
//! not listed is refused, as SAP refuses it.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// Entity sets: name, entity type, key.
pub const SETS: &[(&str, &str, &str)] = &[
    ("BusinessPartners", "BusinessPartner", "CardCode"),
    ("Items", "Item", "ItemCode"),
    ("Orders", "Document", "DocEntry"),
    ("Invoices", "Document", "DocEntry"),
    ("PurchaseInvoices", "Document", "DocEntry"),
    ("PurchaseOrders", "Document", "DocEntry"),
    ("DeliveryNotes", "Document", "DocEntry"),
    ("CreditNotes", "Document", "DocEntry"),
    ("JournalEntries", "JournalEntry", "JdtNum"),
    ("ChartOfAccounts", "ChartOfAccount", "Code"),
    ("IncomingPayments", "Payment", "DocEntry"),
    ("VendorPayments", "Payment", "DocEntry"),
];

/// The type and key of an entity set.
pub fn set(name: &str) -> Option<(&'static str, &'static str)> {
    SETS.iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, t, k)| (*t, *k))
}

/// The line table of a document set, as SAP names it in messages.
pub fn line_table(name: &str) -> &'static str {
    match name {
        "Orders" => "RDR1",
        "Invoices" => "INV1",
        "PurchaseInvoices" => "PCH1",
        "PurchaseOrders" => "POR1",
        "DeliveryNotes" => "DLN1",
        "CreditNotes" => "RIN1",
        _ => "LIN1",
    }
}

/// The properties of an entity type the fake models (a subset of SAP's).
pub fn properties(entity_type: &str) -> &'static [&'static str] {
    match entity_type {
        "BusinessPartner" => &[
            "CardCode",
            "CardName",
            "CardType",
            "GroupCode",
            "Phone1",
            "EmailAddress",
            "Currency",
            "CurrentAccountBalance",
            "FederalTaxID",
            "City",
            "Country",
            "CreateDate",
            "CreateTime",
            "UpdateDate",
            "UpdateTime",
            "Valid",
            "Frozen",
        ],
        "Item" => &[
            "ItemCode",
            "ItemName",
            "ItemType",
            "ItemsGroupCode",
            "SalesUnit",
            "QuantityOnStock",
            "BarCode",
            "CreateDate",
            "CreateTime",
            "UpdateDate",
            "UpdateTime",
            "Valid",
        ],
        "Document" => &[
            "DocEntry",
            "DocNum",
            "DocType",
            "DocDate",
            "DocDueDate",
            "CardCode",
            "CardName",
            "NumAtCard",
            "DocTotal",
            "DocCurrency",
            "Comments",
            "DocumentStatus",
            "Cancelled",
            "CreationDate",
            "UpdateDate",
            "UpdateTime",
            "DocumentLines",
        ],
        "DocumentLine" => &[
            "LineNum",
            "ItemCode",
            "ItemDescription",
            "Quantity",
            "UnitPrice",
            "LineTotal",
            "TaxCode",
            "WarehouseCode",
        ],
        "JournalEntry" => &[
            "JdtNum",
            "Number",
            "ReferenceDate",
            "DueDate",
            "TaxDate",
            "Memo",
            "Reference",
            "JournalEntryLines",
        ],
        "JournalEntryLine" => &["Line_ID", "AccountCode", "Debit", "Credit", "LineMemo"],
        "ChartOfAccount" => &[
            "Code",
            "Name",
            "FormatCode",
            "AcctCurrency",
            "ActiveAccount",
            "AccountType",
            "Balance",
        ],
        "Payment" => &[
            "DocEntry",
            "DocNum",
            "DocType",
            "DocDate",
            "CardCode",
            "CardName",
            "CashSum",
            "TransferSum",
            "TransferAccount",
            "DocCurrency",
            "Remarks",
            "Cancelled",
        ],
        _ => &[],
    }
}

/// A date as the version writes it: `2026-11-02` (OData v3) or
/// `2026-11-02T00:00:00Z` (v4's `Edm.DateTimeOffset`).
pub fn day(date: &str, v1: bool) -> Value {
    if v1 {
        json!(date)
    } else {
        json!(format!("{date}T00:00:00Z"))
    }
}

fn partner(
    v1: bool,
    code: &str,
    name: &str,
    kind: &str,
    phone: &str,
    updated: (&str, &str),
) -> Value {
    json!({"CardCode": code, "CardName": name, "CardType": kind, "GroupCode": if kind == "cSupplier" { 101 } else { 100 },
        "Phone1": phone, "EmailAddress": format!("{}@example.com", code.to_lowercase()), "Currency": "$",
        "CurrentAccountBalance": 0.0, "FederalTaxID": null, "City": "Boston", "Country": "US",
        "CreateDate": day("2026-11-02", v1), "CreateTime": "09:12:00",
        "UpdateDate": day(updated.0, v1), "UpdateTime": updated.1, "Valid": "tYES", "Frozen": "tNO"})
}

fn item(v1: bool, code: &str, name: &str, stock: f64, updated: (&str, &str)) -> Value {
    json!({"ItemCode": code, "ItemName": name, "ItemType": "itItems", "ItemsGroupCode": 100,
        "SalesUnit": "Each", "QuantityOnStock": stock, "BarCode": null,
        "CreateDate": day("2026-11-02", v1), "CreateTime": "09:30:00",
        "UpdateDate": day(updated.0, v1), "UpdateTime": updated.1, "Valid": "tYES"})
}

/// A document line; its total is quantity times price.
pub fn line(n: i64, code: &str, description: &str, quantity: f64, price: f64) -> Value {
    json!({"LineNum": n, "ItemCode": code, "ItemDescription": description, "Quantity": quantity,
        "UnitPrice": price, "LineTotal": quantity * price, "TaxCode": "TAXON", "WarehouseCode": "01"})
}

#[allow(clippy::too_many_arguments)]
fn document(
    v1: bool,
    entry: i64,
    card: (&str, &str),
    date: &str,
    reference: &str,
    lines: Vec<Value>,
    updated: (&str, &str),
) -> Value {
    let total: f64 = lines.iter().filter_map(|l| l["LineTotal"].as_f64()).sum();
    json!({"DocEntry": entry, "DocNum": entry, "DocType": "dDocument_Items", "DocDate": day(date, v1),
        "DocDueDate": day(date, v1), "CardCode": card.0, "CardName": card.1, "NumAtCard": reference,
        "DocTotal": total, "DocCurrency": "$", "Comments": null, "DocumentStatus": "bost_Open",
        "Cancelled": "tNO", "CreationDate": day(date, v1), "UpdateDate": day(updated.0, v1),
        "UpdateTime": updated.1, "DocumentLines": lines})
}

/// The company: SAP's demo codes, a few of each.
pub fn demo(v1: bool) -> BTreeMap<String, Vec<Value>> {
    let mut sets: BTreeMap<String, Vec<Value>> = SETS
        .iter()
        .map(|(n, _, _)| (n.to_string(), Vec::new()))
        .collect();
    sets.insert(
        "BusinessPartners".into(),
        vec![
            partner(
                v1,
                "C20000",
                "Norm Thompson",
                "cCustomer",
                "508-555-0101",
                ("2026-11-20", "16:40:10"),
            ),
            partner(
                v1,
                "C23900",
                "Parameter Technology",
                "cCustomer",
                "508-555-0102",
                ("2026-11-21", "10:05:00"),
            ),
            partner(
                v1,
                "C30000",
                "Microchips",
                "cCustomer",
                "508-555-0103",
                ("2026-11-25", "08:00:00"),
            ),
            partner(
                v1,
                "C40000",
                "Earthshaker Corporation",
                "cCustomer",
                "508-555-0104",
                ("2026-12-01", "11:30:00"),
            ),
            partner(
                v1,
                "V10000",
                "Acme Associates",
                "cSupplier",
                "508-555-0201",
                ("2026-12-02", "14:00:00"),
            ),
        ],
    );
    sets.insert(
        "Items".into(),
        vec![
            item(
                v1,
                "A00001",
                "J.B. Officeprint 1420",
                1120.0,
                ("2026-11-18", "12:00:00"),
            ),
            item(
                v1,
                "A00002",
                "J.B. Officeprint 1111",
                860.0,
                ("2026-11-19", "12:00:00"),
            ),
            item(
                v1,
                "A00003",
                "J.B. Officeprint 1186",
                930.0,
                ("2026-11-30", "09:45:00"),
            ),
            item(
                v1,
                "A00004",
                "Rainbow Color Printer 7.5",
                410.0,
                ("2026-12-03", "15:20:00"),
            ),
        ],
    );
    let norm = ("C20000", "Norm Thompson");
    let chips = ("C30000", "Microchips");
    sets.insert(
        "Orders".into(),
        vec![
            document(
                v1,
                1,
                norm,
                "2026-11-28",
                "PO-4711",
                vec![line(0, "A00001", "J.B. Officeprint 1420", 2.0, 400.0)],
                ("2026-11-28", "10:00:00"),
            ),
            document(
                v1,
                2,
                chips,
                "2026-11-30",
                "PO-4712",
                vec![
                    line(0, "A00002", "J.B. Officeprint 1111", 5.0, 250.0),
                    line(1, "A00004", "Rainbow Color Printer 7.5", 1.0, 600.0),
                ],
                ("2026-12-01", "09:10:00"),
            ),
            document(
                v1,
                3,
                norm,
                "2026-12-02",
                "PO-4713",
                vec![line(0, "A00003", "J.B. Officeprint 1186", 3.0, 320.0)],
                ("2026-12-02", "17:05:00"),
            ),
        ],
    );
    sets.insert(
        "Invoices".into(),
        vec![
            document(
                v1,
                1,
                norm,
                "2026-11-29",
                "PO-4711",
                vec![line(0, "A00001", "J.B. Officeprint 1420", 2.0, 400.0)],
                ("2026-11-29", "11:00:00"),
            ),
            document(
                v1,
                2,
                chips,
                "2026-12-02",
                "PO-4712",
                vec![line(0, "A00002", "J.B. Officeprint 1111", 5.0, 250.0)],
                ("2026-12-02", "08:30:00"),
            ),
        ],
    );
    sets.insert(
        "JournalEntries".into(),
        (1..=3)
            .map(|n| json!({"JdtNum": n, "Number": n, "ReferenceDate": day("2026-11-29", v1), "DueDate": day("2026-11-29", v1),
                "TaxDate": day("2026-11-29", v1), "Memo": format!("A/R Invoices - C2000{n}"), "Reference": n.to_string(),
                "JournalEntryLines": [
                    {"Line_ID": 0, "AccountCode": "_SYS00000000002", "Debit": 800.0 * n as f64, "Credit": 0.0, "LineMemo": "Receivable"},
                    {"Line_ID": 1, "AccountCode": "_SYS00000000004", "Debit": 0.0, "Credit": 800.0 * n as f64, "LineMemo": "Revenue"}]}))
            .collect(),
    );
    sets.insert(
        "ChartOfAccounts".into(),
        [
            ("_SYS00000000001", "Cash", "111000", "at_Other"),
            (
                "_SYS00000000002",
                "Accounts Receivable",
                "112000",
                "at_Other",
            ),
            ("_SYS00000000003", "Inventory", "114000", "at_Other"),
            ("_SYS00000000004", "Sales Revenue", "411000", "at_Revenues"),
        ]
        .iter()
        .map(|(code, name, format, kind)| {
            json!({"Code": code, "Name": name, "FormatCode": format,
            "AcctCurrency": "##", "ActiveAccount": "tYES", "AccountType": kind, "Balance": 0.0})
        })
        .collect(),
    );
    sets.insert(
        "IncomingPayments".into(),
        vec![
            json!({"DocEntry": 1, "DocNum": 1, "DocType": "rCustomer", "DocDate": day("2026-11-30", v1), "CardCode": "C20000",
                "CardName": "Norm Thompson", "CashSum": 0.0, "TransferSum": 800.0, "TransferAccount": "_SYS00000000001",
                "DocCurrency": "$", "Remarks": null, "Cancelled": "tNO"}),
            json!({"DocEntry": 2, "DocNum": 2, "DocType": "rCustomer", "DocDate": day("2026-12-03", v1), "CardCode": "C30000",
                "CardName": "Microchips", "CashSum": 1250.0, "TransferSum": 0.0, "TransferAccount": null,
                "DocCurrency": "$", "Remarks": "cash", "Cancelled": "tNO"}),
        ],
    );
    sets
}
