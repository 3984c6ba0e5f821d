//! What the fake Xero (`super::xero`) serves: organisations whose records
//! are shaped like the examples of Xero's OpenAPI file (`GET /Invoices`,
//! `/BankTransactions`, `/Contacts`, `/Accounts`, `/Journals`) and the
//! fixture of `docs/vendors/xero.md` §8, with the chart of accounts and
//! contact names of Xero's NZ demo company; how a list call selects from
//! them; and the webhook payloads. Deterministic: ids are
//! `KKKKKKKK-TTTT-4000-8000-NNNNNNNNNNNN` (kind, tenant, number), amounts
//! whole cents, dates from 2024-01-01.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use hmac::Mac;
use serde_json::{Value, json};

use super::xero::{WEBHOOK_KEY, Xero};

/// 2024-01-01T00:00:00Z in milliseconds.
pub const BASE_MS: i64 = 1_704_067_200_000;
const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
/// Expense accounts bank transactions and bills are coded to.
pub const EXPENSE_CODES: [&str; 6] = ["400", "429", "445", "449", "493", "494"];
/// Xero's NZ demo company chart, in part: code, type, name (420 archived).
const CHART: &str = "090 BANK Business Bank Account;200 REVENUE Sales;\
    260 REVENUE Other Revenue;400 OVERHEADS Advertising;404 OVERHEADS Bank Fees;\
    420 OVERHEADS Entertainment;429 OVERHEADS General Expenses;\
    445 OVERHEADS Light, Power, Heating;449 OVERHEADS Motor Vehicle Expenses;\
    469 OVERHEADS Rent;493 OVERHEADS Travel - National;494 OVERHEADS Travel - International;\
    610 CURRENT Accounts Receivable;800 CURRLIAB Accounts Payable;820 CURRLIAB GST";
const CONTACTS: &str = "ABC Furniture;Bayside Club;Boom FM;City Limousines;\
    DIISR - Small Business Services;Hamilton Smith Ltd;Marine Systems;\
    Petrie McLoud Watson & Associates;Port & Philip Freight;Ridgeway University;\
    Rex Media Group;Swanston Security;Basket Case;Young Bros Transport;Wilson Periodicals";
const TENANT: u32 = 0x7e4a_4e75;
const CONNECTION: u32 = 0xc044_ec71;
const CONTACT: u32 = 0xc0a7_ac75;
const INVOICE: u32 = 0x1a0f_1ce5;
const BANK: u32 = 0xba4c_7a45;
const ACCOUNT: u32 = 0xacc0_4a75;
const JOURNAL: u32 = 0x1043_4a15;
const LINE: u32 = 0x11ae_1e05;
static NULL: Value = Value::Null;

/// An organisation (tenant) and its records.
#[derive(Default)]
pub struct Org {
    /// Its place in `Xero::orgs`, part of its records' ids.
    pub index: usize,
    pub tenant_id: String,
    /// The connection's `id` in `/connections`, not the tenant's.
    pub connection_id: String,
    pub name: String,
    pub currency: &'static str,
    /// GST in percent.
    pub tax_rate: i64,
    /// False once disconnected.
    pub connected: bool,
    pub created_ms: i64,
    pub invoices: Vec<Value>,
    pub bank_transactions: Vec<Value>,
    pub contacts: Vec<Value>,
    pub accounts: Vec<Value>,
    pub journals: Vec<Value>,
}

impl Org {
    fn id(&self, kind: u32, n: usize) -> String {
        format!("{kind:08x}-{:04x}-4000-8000-{n:012x}", self.index)
    }

    /// The account of a code (Null if none).
    fn account(&self, code: &str) -> &Value {
        self.accounts
            .iter()
            .find(|a| a["Code"] == code)
            .unwrap_or(&NULL)
    }
}

impl Xero {
    pub fn tenant_id(&self, tenant: usize) -> String {
        self.orgs[tenant].tenant_id.clone()
    }

    /// A user edits a bank transaction: a new `UpdatedDateUTC`.
    pub fn touch_bank_transaction(&mut self, tenant: usize, index: usize, updated_ms: i64) {
        touch(&mut self.orgs[tenant].bank_transactions[index], updated_ms);
    }

    pub fn touch_invoice(&mut self, tenant: usize, index: usize, updated_ms: i64) {
        touch(&mut self.orgs[tenant].invoices[index], updated_ms);
    }

    /// A new bank transaction in tenant `t` of `cents` before tax on account
    /// `code` (SPEND for an expense account, else RECEIVE), updated at `ms`,
    /// and its journal; its ID.
    pub fn add_bank_transaction(&mut self, t: usize, code: &str, cents: i64, ms: i64) -> String {
        let o = &mut self.orgs[t];
        let b = bank_transaction(o, o.bank_transactions.len(), code, cents, ms);
        let j = journal(o, o.journals.len() + 1, &b);
        let id = b["BankTransactionID"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        o.journals.push(j);
        o.bank_transactions.push(b);
        id
    }
}

fn touch(record: &mut Value, updated_ms: i64) {
    let reference = record["Reference"].as_str().unwrap_or_default();
    record["Reference"] = json!(format!("{reference} (edited)"));
    record["UpdatedDateUTC"] = json!(ms_date(updated_ms));
}

/// Tenant 0, "Demo Company (NZ)": 250 invoices (three pages at 100), 120
/// bank transactions, 15 contacts, 15 accounts, 150 journals. Tenant 1,
/// "Ridgeway Bikes Pty Ltd" (AUD, 10% GST): a handful.
pub fn demo() -> Xero {
    let mut x = Xero::default();
    let nz = org(0, "Demo Company (NZ)", "NZD", [250, 120, 15, 150]);
    let au = org(1, "Ridgeway Bikes Pty Ltd", "AUD", [7, 5, 3, 6]);
    x.orgs.extend([nz, au]);
    x
}

/// Organisation `index` with `[invoices, bank transactions, contacts,
/// journals]` records (at most 15 contacts); 15% GST in NZD, else 10%.
pub fn org(index: usize, name: &str, currency: &'static str, sizes: [usize; 4]) -> Org {
    let [invoices, banks, contacts, journals] = sizes;
    let tax_rate = if currency == "NZD" { 15 } else { 10 };
    let mut o = Org {
        index,
        name: name.into(),
        currency,
        tax_rate,
        connected: true,
        ..Org::default()
    };
    (o.tenant_id, o.connection_id) = (o.id(TENANT, 1), o.id(CONNECTION, 1));
    o.created_ms = BASE_MS - 30 * DAY;
    for (n, entry) in CHART.split(';').enumerate() {
        let a = account(&o, n, entry);
        o.accounts.push(a);
    }
    for (n, name) in CONTACTS.split(';').take(contacts).enumerate() {
        let c = contact(&o, n, name);
        o.contacts.push(c);
    }
    for n in 0..invoices {
        let i = invoice(&o, n);
        o.invoices.push(i);
    }
    for n in 0..banks {
        let code = if n % 5 == 4 {
            ["200", "260"][n / 5 % 2]
        } else {
            EXPENSE_CODES[n % 6]
        };
        let cents = 1_250 + (n as i64 * 4_391) % 60_000;
        let b = bank_transaction(&o, n, code, cents, BASE_MS + n as i64 * DAY + 11 * HOUR);
        o.bank_transactions.push(b);
    }
    // Journals as Xero posts them: for what is not a draft, in time order.
    let mut sources: Vec<&Value> = o
        .invoices
        .iter()
        .filter(|i| i["Status"] != "DRAFT")
        .collect();
    sources.extend(&o.bank_transactions);
    sources.sort_by_key(|s| ms_of(&s["UpdatedDateUTC"]));
    let mut posted = Vec::new();
    for (n, source) in sources.into_iter().take(journals).enumerate() {
        posted.push(journal(&o, n + 1, source));
    }
    o.journals = posted;
    o
}

fn ms_date(ms: i64) -> String {
    format!("/Date({ms}+0000)/")
}

/// `2024-05-02T00:00:00` of milliseconds (UTC).
pub(super) fn iso(ms: i64) -> String {
    let text = wharf_sdk::time::rfc3339(ms.div_euclid(1000));
    text.trim_end_matches('Z').to_string()
}

fn money(cents: i64) -> Value {
    json!(cents as f64 / 100.0)
}

fn account(o: &Org, n: usize, entry: &str) -> Value {
    let parts: Vec<&str> = entry.splitn(3, ' ').collect();
    let &[code, kind, name] = parts.as_slice() else {
        return Value::Null;
    };
    let (output, input) = if o.currency == "NZD" {
        ("OUTPUT2", "INPUT2")
    } else {
        ("OUTPUT", "INPUT")
    };
    let (class, tax) = match kind {
        "BANK" | "CURRENT" => ("ASSET", "NONE"),
        "REVENUE" => ("REVENUE", output),
        "CURRLIAB" => ("LIABILITY", "NONE"),
        _ => ("EXPENSE", input),
    };
    let status = if code == "420" { "ARCHIVED" } else { "ACTIVE" };
    let mut a = json!({"AccountID": o.id(ACCOUNT, n + 1), "Code": code, "Name": name,
        "Status": status, "Type": kind, "TaxType": tax, "Class": class, "ReportingCode": "",
        "EnablePaymentsToAccount": false, "ShowInExpenseClaims": class == "EXPENSE",
        "HasAttachments": false, "UpdatedDateUTC": ms_date(o.created_ms + n as i64 * 60_000)});
    if kind == "BANK" {
        a["BankAccountNumber"] = json!("0209087654321050");
        a["BankAccountType"] = json!("BANK");
        a["CurrencyCode"] = json!(o.currency);
    }
    a
}

fn contact(o: &Org, n: usize, name: &str) -> Value {
    let first = ["Ana", "Ben", "Chloe", "Dev", "Ema"][n % 5];
    let last = ["Walker", "Ngata", "Smith"][n % 3];
    let domain: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
    let email = format!(
        "{}@{}.example.com",
        first.to_lowercase(),
        domain.to_lowercase()
    );
    json!({"ContactID": o.id(CONTACT, n + 1), "ContactNumber": format!("C{:04}", n + 1),
        "ContactStatus": "ACTIVE", "Name": name, "FirstName": first, "LastName": last,
        "EmailAddress": email, "BankAccountDetails": "", "TaxNumber": "",
        "Addresses": [{"AddressType": "STREET", "City": "", "Region": "", "PostalCode": "", "Country": ""},
            {"AddressType": "POBOX", "AddressLine1": format!("PO Box {}", 100 + n * 17),
             "City": "Wellington", "Region": "", "PostalCode": "6011", "Country": "New Zealand"}],
        "Phones": [{"PhoneType": "DEFAULT", "PhoneNumber": format!("555-{:04}", n * 37),
            "PhoneAreaCode": "04", "PhoneCountryCode": "64"}],
        "UpdatedDateUTC": ms_date(BASE_MS - 20 * DAY + n as i64 * HOUR), "ContactGroups": [],
        "IsSupplier": !n.is_multiple_of(3), "IsCustomer": n % 3 != 1, "ContactPersons": [],
        "HasAttachments": false, "HasValidationErrors": false})
}

fn contact_ref(o: &Org, n: usize) -> Value {
    let c = o.contacts.get(n % o.contacts.len().max(1)).unwrap_or(&NULL);
    json!({"ContactID": c["ContactID"], "Name": c["Name"], "HasValidationErrors": false})
}

/// A line item, its amount and its tax (by the account's tax type).
fn line(o: &Org, n: usize, what: &str, quantity: i64, unit: i64, code: &str) -> (Value, i64, i64) {
    let tax_type = o.account(code)["TaxType"].as_str().unwrap_or("NONE");
    let amount = quantity * unit;
    let tax = (amount * o.tax_rate + 50) / 100 * i64::from(tax_type != "NONE");
    let v = json!({"LineItemID": o.id(LINE, n), "Description": what, "Quantity": quantity as f64,
        "UnitAmount": money(unit), "AccountCode": code, "TaxType": tax_type,
        "TaxAmount": money(tax), "LineAmount": money(amount), "Tracking": []});
    (v, amount, tax)
}

fn invoice(o: &Org, n: usize) -> Value {
    let sales = n % 3 != 2;
    let date = BASE_MS + n as i64 * DAY;
    let status = match n % 10 {
        0 => "DRAFT",
        1 => "PAID",
        9 => "VOIDED",
        _ => "AUTHORISED",
    };
    let (mut lines, mut sub, mut tax) = (Vec::new(), 0, 0);
    for k in 0..1 + n % 2 {
        let code = if sales {
            "200"
        } else {
            EXPENSE_CODES[(n + k) % 6]
        };
        let name = o.account(code)["Name"].as_str().unwrap_or_default();
        let what = if sales { "Consulting services" } else { name };
        let unit = 1_500 + (n as i64 * 737 + k as i64 * 211) % 20_000;
        let (l, a, t) = line(o, n * 4 + k + 1, what, 1 + n as i64 % 4, unit, code);
        lines.push(l);
        (sub, tax) = (sub + a, tax + t);
    }
    let total = sub + tax;
    let paid = if status == "PAID" { total } else { 0 };
    let due = if matches!(status, "PAID" | "VOIDED") {
        0
    } else {
        total
    };
    let number = format!("{}-{:04}", if sales { "INV" } else { "BILL" }, n + 1);
    let reference = if sales {
        format!("Order {}", 1000 + n)
    } else {
        String::new()
    };
    let kind = if sales { "ACCREC" } else { "ACCPAY" };
    let due_date = date + 20 * DAY;
    json!({"Type": kind, "InvoiceID": o.id(INVOICE, n + 1), "InvoiceNumber": number,
        "Reference": reference, "Payments": [], "CreditNotes": [], "Prepayments": [],
        "Overpayments": [], "AmountDue": money(due), "AmountPaid": money(paid),
        "AmountCredited": 0.0, "SentToContact": sales && status != "DRAFT", "CurrencyRate": 1.0,
        "IsDiscounted": false, "HasAttachments": false, "HasErrors": false,
        "Contact": contact_ref(o, n), "DateString": iso(date), "Date": ms_date(date),
        "DueDateString": iso(due_date), "DueDate": ms_date(due_date), "Status": status,
        "LineAmountTypes": "Exclusive", "LineItems": lines, "SubTotal": money(sub),
        "TotalTax": money(tax), "Total": money(total), "CurrencyCode": o.currency,
        "UpdatedDateUTC": ms_date(date + 10 * HOUR + n as i64 * 1000)})
}

/// A bank transaction (SPEND on an expense account, else RECEIVE) of
/// `cents` before tax, dated on the day of `updated`.
fn bank_transaction(o: &Org, n: usize, code: &str, cents: i64, updated: i64) -> Value {
    let spend = o.account(code)["Class"] == "EXPENSE";
    let what = o.account(code)["Name"].as_str().unwrap_or("Sundries");
    let (l, amount, tax) = line(o, 10_000 + n, what, 1, cents, code);
    let date = updated - updated.rem_euclid(DAY);
    let bank = o.account("090");
    let account = json!({"AccountID": bank["AccountID"], "Code": "090", "Name": bank["Name"]});
    json!({"BankTransactionID": o.id(BANK, n + 1), "BankAccount": account,
        "Type": if spend { "SPEND" } else { "RECEIVE" }, "Reference": format!("Ref {}", 5000 + n),
        "IsReconciled": n.is_multiple_of(2), "HasAttachments": false, "Contact": contact_ref(o, n * 7),
        "DateString": iso(date), "Date": ms_date(date), "Status": "AUTHORISED",
        "LineAmountTypes": "Exclusive", "LineItems": [l], "SubTotal": money(amount),
        "TotalTax": money(tax), "Total": money(amount + tax), "CurrencyCode": o.currency,
        "UpdatedDateUTC": ms_date(updated)})
}

fn journal_line(o: &Org, n: usize, code: &str, net: i64, tax: i64, what: &str) -> Value {
    let a = o.account(code);
    let mut l = json!({"JournalLineID": o.id(LINE, 100_000 + n), "AccountID": a["AccountID"],
        "AccountCode": code, "AccountType": a["Type"], "AccountName": a["Name"],
        "Description": what, "NetAmount": money(net), "GrossAmount": money(net + tax),
        "TaxAmount": money(tax), "TrackingCategories": []});
    if !what.is_empty() {
        l["TaxType"] = a["TaxType"].clone();
    }
    l
}

/// The journal Xero posts for an invoice or a bank transaction.
fn journal(o: &Org, number: usize, source: &Value) -> Value {
    let cents = |v: &Value| (v.as_f64().unwrap_or(0.0) * 100.0).round() as i64;
    let (total, tax) = (cents(&source["Total"]), cents(&source["TotalTax"]));
    let item = &source["LineItems"][0];
    let code = item["AccountCode"].as_str().unwrap_or_default();
    let what = item["Description"].as_str().unwrap_or_default();
    let (key, kind, sign, contra) = match source["Type"].as_str() {
        Some("ACCREC") => ("InvoiceID", "ACCREC", -1, "610"),
        Some("ACCPAY") => ("InvoiceID", "ACCPAY", 1, "800"),
        Some("SPEND") => ("BankTransactionID", "CASHPAID", 1, "090"),
        _ => ("BankTransactionID", "CASHREC", -1, "090"),
    };
    let k = number * 3;
    let lines = [
        journal_line(o, k, contra, -sign * total, 0, ""),
        journal_line(o, k + 1, code, sign * (total - tax), sign * tax, what),
        journal_line(o, k + 2, "820", sign * tax, 0, ""),
    ];
    let created = ms_of(&source["UpdatedDateUTC"]).unwrap_or(BASE_MS);
    json!({"JournalID": o.id(JOURNAL, number), "JournalDate": source["Date"],
        "JournalNumber": number, "CreatedDateUTC": ms_date(created), "Reference": source["Reference"],
        "SourceID": source[key], "SourceType": kind, "JournalLines": lines})
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    wharf_sdk::time::now_ms()
}

/// Milliseconds of `/Date(1714650000000+0000)/` (the offset ignored).
fn ms_of(v: &Value) -> Option<i64> {
    let inner = v.as_str()?.strip_prefix("/Date(")?;
    let end = 1 + inner.get(1..)?.find(['+', '-', ')'])?;
    inner[..end].parse().ok()
}

/// Whether `text` has the shape of `pattern`: `d` a digit, `a` a letter,
/// anything else itself.
fn shaped(text: &str, pattern: &str) -> bool {
    let fits = |(t, p): (u8, u8)| match p {
        b'd' => t.is_ascii_digit(),
        b'a' => t.is_ascii_alphabetic(),
        _ => t == p,
    };
    text.len() == pattern.len() && text.bytes().zip(pattern.bytes()).all(fits)
}

/// The number at `text[at..at + len]` (digits, as `shaped` checked).
fn n_at(text: &str, at: usize, len: usize) -> i64 {
    text.get(at..at + len)
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

/// Milliseconds of an `If-Modified-Since` value, and its form: `http-date`
/// (`Thu, 02 May 2024 10:00:00 GMT`), `rfc3339` (ISO 8601 with `Z` or an
/// offset; fractions ignored) or `iso` (no offset: UTC).
pub(super) fn parse_since(text: &str) -> Option<(i64, &'static str)> {
    if shaped(text, "aaa, dd aaa dddd dd:dd:dd GMT") {
        let secs = wharf_sdk::time::from_http_date(text)?;
        return Some((secs * 1000, "http-date"));
    }
    let head = text
        .get(..19)
        .filter(|h| shaped(h, "dddd-dd-ddTdd:dd:dd"))?;
    let mut tail = &text[19..];
    if let Some(fraction) = tail.strip_prefix('.') {
        tail = fraction.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let n = |at: usize, len: usize| n_at(head, at, len);
    let offset = |o: &str| n_at(o, 1, 2) * 3600 + n_at(o, 4, 2) * 60;
    let (form, shift) = match tail {
        "" => ("iso", 0),
        "Z" | "z" => ("rfc3339", 0),
        o if shaped(o, "+dd:dd") => ("rfc3339", offset(o)),
        o if shaped(o, "-dd:dd") => ("rfc3339", -offset(o)),
        _ => return None,
    };
    let (month, day, hour, minute) = (n(5, 2), n(8, 2), n(11, 2), n(14, 2));
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let days = wharf_sdk::time::days(n(0, 4), month as u32, day as u32);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + n(17, 2) - shift;
    Some((secs * 1000, form))
}

fn records<'a>(o: &'a Org, resource: &str) -> &'a [Value] {
    match resource {
        "Invoices" => &o.invoices,
        "BankTransactions" => &o.bank_transactions,
        "Contacts" => &o.contacts,
        "Accounts" => &o.accounts,
        _ => &o.journals,
    }
}

/// `GET /{resource}/{key}`: by ID, InvoiceNumber, ContactNumber or JournalNumber.
pub(super) fn single(o: &Org, resource: &str, key: &str) -> Option<Value> {
    const KEYS: &str = "InvoiceID InvoiceNumber BankTransactionID ContactID ContactNumber \
        AccountID JournalID JournalNumber";
    let text = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .or(v.as_u64().map(|n| n.to_string()))
    };
    let named = |v: &Value| text(v).is_some_and(|t| t.eq_ignore_ascii_case(key));
    let hit = |r: &&Value| KEYS.split_whitespace().any(|k| named(&r[k]));
    records(o, resource).iter().find(hit).cloned()
}

/// Records, and the `pagination` object when paged.
pub(super) type Page = (Vec<Value>, Option<Value>);

/// A list call's answer.
pub(super) fn list(o: &Org, resource: &str, q: &[(String, String)], since: Option<i64>) -> Page {
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let stamp = if resource == "Journals" {
        "CreatedDateUTC"
    } else {
        "UpdatedDateUTC"
    };
    // To the second: a record of 10:00:00.500 is "since 10:00:00".
    let recent = |u: i64| since.is_none_or(|m| u.div_euclid(1000) * 1000 >= m);
    let rows = records(o, resource)
        .iter()
        .filter(|r| ms_of(&r[stamp]).is_some_and(recent));
    let mut rows: Vec<Value> = rows.cloned().collect();
    // `order=Field [ASC|DESC]`: Xero's sort by any element.
    if let Some(order) = get("order") {
        let mut words = order.split_whitespace();
        let field = words.next().unwrap_or_default().to_string();
        let text = |r: &Value| match &r[field.as_str()] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        rows.sort_by_key(text);
        if words.next().is_some_and(|w| w.eq_ignore_ascii_case("DESC")) {
            rows.reverse();
        }
    }
    match (resource, get("page")) {
        ("Journals", _) => {
            let offset: i64 = get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
            rows.retain(|r| r["JournalNumber"].as_i64().is_some_and(|n| n > offset));
            rows.sort_by_key(|r| r["JournalNumber"].as_i64());
            rows.truncate(100);
            (rows, None)
        }
        ("Accounts", _) => (rows, None),
        // Unpaged: every record, without line items.
        (_, None) => {
            for r in rows.iter_mut().filter(|r| r.get("LineItems").is_some()) {
                r["LineItems"] = json!([]);
            }
            (rows, None)
        }
        (_, Some(page)) => {
            let page = page.parse::<usize>().unwrap_or(1).max(1);
            let size = get("pageSize").and_then(|v| v.parse::<usize>().ok());
            let size = size.unwrap_or(100).clamp(1, 1000);
            let count = rows.len();
            let skip = (page - 1).saturating_mul(size);
            let rows: Vec<Value> = rows.into_iter().skip(skip).take(size).collect();
            let pages = count.div_ceil(size);
            let pagination = json!({"page": page, "pageSize": size, "pageCount": pages,
                "itemCount": count});
            (rows, Some(pagination))
        }
    }
}

/// `x-xero-signature` of a webhook body: base64(HMAC-SHA256(key, body)).
pub fn sign(body: &[u8]) -> String {
    let key = WEBHOOK_KEY.as_bytes();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The intent-to-receive payload Xero posts when a webhook is set up.
pub fn intent_to_receive() -> Vec<u8> {
    let body =
        r#"{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"S0m3r4Nd0mt3xt"}"#;
    body.as_bytes().to_vec()
}

/// One event (`INVOICE`, `CONTACT`, `CREDITNOTE`; `CREATE`, `UPDATE`), its
/// `resourceUrl` on `origin` (the fake's, for a connector to fetch it there).
pub fn event_at(origin: &str, tenant: &str, id: &str, category: &str, kind: &str) -> Vec<u8> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(76);
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let resource = match category {
        "INVOICE" => "Invoices",
        "CONTACT" => "Contacts",
        "CREDITNOTE" => "CreditNotes",
        other => other,
    };
    let now = now_ms();
    let url = format!("{origin}/api.xro/2.0/{resource}/{id}");
    let at = format!("{}.{:03}", iso(now), now.rem_euclid(1000));
    let entropy = format!("{:020X}", seq.wrapping_mul(0x9E37_79B9_7F4A));
    let event = json!({"resourceUrl": url, "resourceId": id, "tenantId": tenant,
        "tenantType": "ORGANISATION", "eventCategory": category, "eventType": kind,
        "eventDateUtc": at});
    let payload = json!({"events": [event], "firstEventSequence": seq, "lastEventSequence": seq,
        "entropy": entropy});
    payload.to_string().into_bytes()
}
