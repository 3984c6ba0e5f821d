//! What the fake QuickBooks Online (`super::quickbooks`) serves and answers
//! by: the samples of Intuit's API reference (Invoice 130, Bill 25,
//! Customer 2, Vendor 30, Account 94, CompanyInfo; <https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/invoice>
//! and its siblings) as printed, and copies under the sandbox company's
//! names so that a page of 10 is not all (115 and 116 share a
//! `LastUpdatedTime` across a page boundary, as an import leaves them);
//! the query language, a save's checks and sums, fault texts, Intuit's
//! times (`-07:00`) and the webhook payload with its `intuit-signature`.

use axum::http::StatusCode;
use base64::Engine as _;
use hmac::Mac;
use serde_json::{Map, Value, json};
use wharf_sdk::scalar_text;

use super::quickbooks::{Answer, QuickBooks, VERIFIER_TOKEN};

/// Name lists: queried active only, made inactive rather than deleted.
pub(super) const NAMES: &str = "Customer Vendor Employee Account Item Class Department Term";
const TRANSACTIONS: &str = "Invoice Bill Payment BillPayment JournalEntry Purchase SalesReceipt \
    CreditMemo Deposit Estimate PurchaseOrder RefundReceipt VendorCredit Transfer TimeActivity";
/// Sales forms: a subtotal line and a document number.
const SALES: &str = "Invoice SalesReceipt CreditMemo Estimate RefundReceipt";
/// What an entity cannot be created without.
const REQUIRED: &str = "Invoice CustomerRef Line;Estimate CustomerRef Line;SalesReceipt Line;\
    CreditMemo CustomerRef Line;Bill VendorRef Line;Purchase AccountRef PaymentType Line;\
    JournalEntry Line;Deposit DepositToAccountRef Line;Payment CustomerRef TotalAmt;Item Name;\
    BillPayment VendorRef PayType TotalAmt;Account Name;Customer DisplayName;Vendor DisplayName";
/// Intuit's sandbox customers (`Id Name`); 2 is the API reference's sample.
const CUSTOMERS: &str = "1 Amy's Bird Sanctuary;2 Bill's Windsurf Shop;3 Cool Cars;\
    4 Diego Rodriguez;6 Dylan Sollfrank;7 Freeman Sporting Goods;10 Geeta Kalapatapu;\
    12 Jeff's Jalopies;13 John Melton;14 Kate Whelan;15 Kookies by Kathy;16 Mark Cho;\
    18 Rago Travel Agency;19 Red Rock Diner;21 Shara Barnett;24 Sonnenschein Family Store;\
    25 Sushi by Katsuyuki;26 Travis Waldron;27 Video Games by Dan;29 Weiskopf Consulting";
/// The sandbox's vendors; 30 is the sample.
const VENDORS: &str = "30 Books by Bessie;31 Bob's Burger Joint;32 Brosnahan Insurance Agency;\
    33 Cal Telephone;34 Chin's Gas and Oil;35 Cigna Health Care;36 Computers by Jenni;\
    37 Diego's Road Warrior Bodyshop;38 Ellis Equipment Rental;41 Hicks Hardware;\
    44 Lee Advertising;46 Norton Lumber and Building Materials;50 Robertson & Associates;\
    51 Tim Philip Masonry;52 Tania's Nursery";
/// The sandbox's chart, in part: `Id|FullyQualifiedName|AccountType|AccountSubType`.
const CHART: &str = "33|Accounts Payable (A/P)|Accounts Payable|AccountsPayable;\
    84|Accounts Receivable (A/R)|Accounts Receivable|AccountsReceivable;35|Checking|Bank|Checking;\
    36|Savings|Bank|Savings;1|Services|Income|ServiceFeeIncome;15|Automobile|Expense|Auto;\
    79|Sales of Product Income|Income|SalesOfProductIncome;7|Advertising|Expense|AdvertisingPromotional;\
    64|Job Expenses:Job Materials:Decks and Patios|Expense|OtherMiscellaneousServiceCost;\
    17|Rent or Lease|Expense|RentOrLeaseOfBuildings;20|Supplies|Expense|SuppliesMaterials;\
    22|Travel|Expense|Travel;24|Utilities|Expense|Utilities;\
    58|Job Expenses|Expense|OtherMiscellaneousServiceCost";
const EXPENSES: [&str; 6] = ["7", "15", "64", "17", "20", "24"];
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
/// The company's zone (Pacific daylight time), in which Intuit writes times.
const ZONE: i64 = -7 * 3600;

/// The entity a name or a path segment means (`invoice` → `Invoice`).
pub(super) fn canonical(name: &str) -> Option<&'static str> {
    let mut all = NAMES.split(' ').chain(TRANSACTIONS.split_whitespace());
    all.find(|e| e.eq_ignore_ascii_case(name))
}

pub(super) fn listed(list: &str, entity: &str) -> bool {
    list.split_whitespace().any(|n| n == entity)
}

pub fn now_ms() -> i64 {
    wharf_sdk::time::now_ms()
}

/// `2024-05-02T10:15:30-07:00`: a `MetaData` time.
pub fn stamp(ms: i64) -> String {
    local(ms, String::new())
}

/// `2024-05-02T10:20:00.000-07:00`: an answer's `time`.
pub fn stamp_ms(ms: i64) -> String {
    local(ms, format!(".{:03}", ms.rem_euclid(1000)))
}

fn local(ms: i64, fraction: String) -> String {
    let text = wharf_sdk::time::rfc3339(ms.div_euclid(1000) + ZONE);
    format!("{}{fraction}-07:00", text.trim_end_matches('Z'))
}

/// `YYYY-MM-DD` of a time, in the company's zone.
pub fn day_of(ms: i64) -> String {
    wharf_sdk::time::date(ms.div_euclid(1000) + ZONE)
}

/// Milliseconds of a `DateTime` as Intuit takes it: a date, or
/// `2024-05-02T10:15:30` with optional fractional seconds, then `Z`, an
/// offset or nothing (the company's zone).
pub fn parse_time(text: &str) -> Option<i64> {
    let tail = if text.len() == 10 { "T00:00:00" } else { "" };
    let full = format!("{text}{tail}");
    let (head, mut zone) = full.split_at_checked(19)?;
    let secs = wharf_sdk::time::from_rfc3339_utc(&format!("{head}Z"))?;
    let mut millis = 0;
    if let Some(fraction) = zone.strip_prefix('.') {
        let end = fraction.find(|c: char| !c.is_ascii_digit());
        let end = end.unwrap_or(fraction.len());
        millis = format!("{:0<3}", &fraction[..end])[..3].parse().ok()?;
        zone = &fraction[end..];
    }
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let offset = match zone.split_at_checked(1) {
        None => ZONE,
        Some(("Z" | "z", "")) => 0,
        Some((sign @ ("+" | "-"), hm)) if hm.len() == 5 && digits(&hm.replacen(':', "", 1)) => {
            let secs = hm[..2].parse::<i64>().ok()? * 3600 + hm[3..].parse::<i64>().ok()? * 60;
            if sign == "-" { -secs } else { secs }
        }
        _ => return None,
    };
    Some((secs - offset) * 1000 + millis)
}

/// `intuit-signature`: base64(HMAC-SHA256(verifier token, body)).
pub fn sign(body: &[u8]) -> String {
    let key = VERIFIER_TOKEN.as_bytes();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A webhook delivery of one change (`Create`, `Update`, `Delete`, `Merge`,
/// `Void`, `Emailed`), `lastUpdated` as Intuit's example writes it.
pub fn event(realm: &str, entity: &str, id: &str, operation: &str) -> Vec<u8> {
    let at = stamp(now_ms());
    let at = format!("{}{}", &at[..22], &at[23..]);
    let change = json!({"name": entity, "id": id, "operation": operation, "lastUpdated": at});
    let body = json!({"eventNotifications": [{"realmId": realm,
        "dataChangeEvent": {"entities": [change]}}]});
    body.to_string().into_bytes()
}

/// Intuit's fault for `code`, with its status, type and message.
pub(super) fn fault(code: &str, detail: &str) -> Answer {
    let message = match code {
        "3001" => "message=ThrottleExceeded; errorCode=003001; statusCode=429",
        "2020" => "Required param missing, need to supply the required value for the API",
        "610" => "Object Not Found",
        "5010" => "Stale Object Error",
        "4000" => "Error parsing query",
        "4001" => "Invalid query",
        "2010" => "Request has invalid or unsupported property",
        _ => "Unsupported Operation",
    };
    let throttled = code == "3001";
    let kind = ["ValidationFault", "SERVICE"][usize::from(throttled)];
    let status = [StatusCode::BAD_REQUEST, StatusCode::TOO_MANY_REQUESTS][usize::from(throttled)];
    let error = json!({"Message": message, "Detail": detail, "code": code, "element": ""});
    let body = json!({"Fault": {"Error": [error], "type": kind}, "time": stamp_ms(now_ms())});
    (status, body)
}

pub(super) fn missing(field: &str) -> Answer {
    let detail = format!("Required parameter {field} is missing in the request");
    fault("2020", &detail)
}

pub(super) fn not_found() -> Answer {
    let detail = "Object Not Found : Something you're trying to use has been made inactive. \
        Check the fields with accounts, customers, items, vendors or employees.";
    fault("610", detail)
}

pub(super) fn stale() -> Answer {
    let detail = "Stale Object Error : You and root were working on this at the same time. \
        root finished before you did, so your work was not saved.";
    fault("5010", detail)
}

/// `LastUpdatedTime` in seconds (0 if none).
fn updated(e: &Value) -> i64 {
    let at = e["MetaData"]["LastUpdatedTime"].as_str();
    at.and_then(parse_time).unwrap_or(0).div_euclid(1000)
}

pub(super) fn id_number(e: &Value) -> u64 {
    e["Id"].as_str().and_then(|i| i.parse().ok()).unwrap_or(0)
}

/// The `QueryResponse` to `select * from E [where [Active IN (true,false) and]
/// [MetaData.LastUpdatedTime >= 'DateTime']] [order by MetaData.LastUpdatedTime [asc|desc]]
/// [STARTPOSITION n] [MAXRESULTS n]` (`>` too); other statements are not modelled:
/// `QueryParserError`s. Names and accounts are active ones only unless asked (Intuit: `select *
/// from Customer` "retrieves all active customers").
pub(super) fn query(q: &QuickBooks, text: &str) -> Result<Value, Answer> {
    let near = |word: &str| fault("4000", &format!("QueryParserError: Encountered \"{word}\""));
    let invalid = |why: String| fault("4001", &format!("QueryValidationError: {why}"));
    let w: Vec<&str> = text.split_whitespace().collect();
    let word = |i: usize| w.get(i).copied().unwrap_or("<EOF>");
    let is = |i: usize, k: &str| word(i).eq_ignore_ascii_case(k);
    if let Some(bad) = (0..3).find(|&i| !is(i, ["select", "*", "from"][i])) {
        return Err(near(word(bad)));
    }
    let context = || invalid(format!("Invalid context declaration : {}", word(3)));
    let entity = canonical(word(3)).ok_or_else(context)?;
    let (mut i, mut since, mut order) = (4, (">=", 0), None);
    let mut inactive_too = false;
    if is(i, "where") {
        i += 1;
        loop {
            if is(i, "Active") && is(i + 1, "in") && is(i + 2, "(true,false)") {
                inactive_too = true;
                i += 3;
            } else {
                let op = word(i + 1);
                if !is(i, "MetaData.LastUpdatedTime") || !matches!(op, ">=" | ">") {
                    return Err(near(word(i)));
                }
                let inner = word(i + 2).strip_prefix('\'');
                let at = inner
                    .and_then(|v| v.strip_suffix('\''))
                    .and_then(parse_time);
                let why = || invalid(format!("{} is no DateTime", word(i + 2)));
                since = (op, at.ok_or_else(why)?.div_euclid(1000));
                i += 3;
            }
            if !is(i, "and") {
                break;
            }
            i += 1;
        }
    }
    let by = usize::from(is(i, "orderby")) + 2 * usize::from(is(i, "order") && is(i + 1, "by"));
    if by > 0 {
        if !is(i + by, "MetaData.LastUpdatedTime") {
            return Err(near(word(i + by)));
        }
        i += by + 1;
        order = Some(is(i, "desc"));
        i += usize::from(is(i, "desc") || is(i, "asc"));
    }
    let (mut start, mut max) = (None, None);
    while i < w.len() {
        let n: i64 = word(i + 1).parse().map_err(|_| near(word(i + 1)))?;
        match (word(i).to_ascii_lowercase().as_str(), start, max) {
            ("startposition", None, _) => start = Some(n),
            ("maxresults", _, None) => max = Some(n),
            _ => return Err(near(word(i))),
        }
        i += 2;
    }
    let (start, max) = (start.unwrap_or(1), max.unwrap_or(100));
    let low = start.min(max);
    let why = match max > 1000 {
        true => format!("value {max} is too large. Max allowed value is: 1000"),
        false => format!("value {low} is too small. Min allowed value is: 1"),
    };
    if max > 1000 || low < 1 {
        return Err(invalid(why));
    }
    let wanted = |e: &&Value| {
        let active = inactive_too || !listed(NAMES, entity) || e["Active"] != false;
        let at = updated(e);
        active && (at > since.1 || (at == since.1 && since.0 == ">="))
    };
    let mut rows: Vec<&Value> = q.all(entity).iter().filter(wanted).collect();
    rows.sort_by_key(|e| (order.map_or(0, |_| updated(e)), id_number(e)));
    if order == Some(true) {
        rows.reverse();
    }
    let (skip, take) = (start as usize - 1, max as usize);
    let page: Vec<Value> = rows.into_iter().skip(skip).take(take).cloned().collect();
    if page.is_empty() {
        return Ok(json!({}));
    }
    Ok(json!({entity: page, "startPosition": start, "maxResults": page.len()}))
}

/// What of `entity` CDC reports since `since` (seconds), deletions too, `room` at most.
pub(super) fn changes(q: &QuickBooks, entity: &str, since: i64, room: usize) -> Vec<Value> {
    let live = q.all(entity).iter().filter(|e| updated(e) >= since);
    let mut found: Vec<(i64, Value)> = live.map(|e| (updated(e), e.clone())).collect();
    for (_, id, at) in q.deleted.iter().filter(|d| d.0 == entity) {
        let gone = json!({"domain": "QBO", "status": "Deleted", "Id": id,
            "MetaData": {"LastUpdatedTime": stamp(*at)}});
        found.push((at.div_euclid(1000), gone));
    }
    found.retain(|c| c.0 >= since);
    found.sort_by_key(|c| c.0);
    found.into_iter().take(room).map(|c| c.1).collect()
}

/// What QuickBooks checks before it saves: the required fields and the
/// lines' kinds and amounts.
pub(super) fn check(entity: &str, e: &Map<String, Value>) -> Result<(), Answer> {
    let rules = REQUIRED.split(';').map(str::split_whitespace);
    let mut fields = rules.filter_map(|mut r| (r.next() == Some(entity)).then_some(r));
    for field in fields.next().into_iter().flatten() {
        let present = match e.get(field) {
            None | Some(Value::Null) => false,
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::String(x)) => !x.trim().is_empty(),
            Some(Value::Object(o)) => o.get("value").and_then(scalar_text).is_some(),
            Some(_) => true,
        };
        if !present {
            return Err(missing(field));
        }
    }
    let lines = e.get("Line").and_then(Value::as_array);
    for line in lines.into_iter().flatten() {
        if line["DetailType"].as_str().is_none() {
            return Err(missing("Line.DetailType"));
        }
        if line["Amount"].as_f64().is_none() {
            return Err(missing("Line.Amount"));
        }
    }
    Ok(())
}

fn cents(v: &Value) -> i64 {
    (v.as_f64().unwrap_or(0.0) * 100.0).round() as i64
}

fn money(cents: i64) -> Value {
    json!(cents as f64 / 100.0)
}

/// From the lines: their ids, a sales form's subtotal line, `TotalAmt` (with the tax) and an
/// invoice's or a bill's `Balance`.
pub(super) fn totals(entity: &str, e: &mut Map<String, Value>) {
    let tax = e.get("TxnTaxDetail").map_or(0, |t| cents(&t["TotalTax"]));
    let Some(Value::Array(lines)) = e.get_mut("Line") else {
        return;
    };
    lines.retain(|l| l["DetailType"] != "SubTotalLineDetail");
    let mut sum = 0;
    for (n, line) in lines.iter_mut().enumerate() {
        sum += cents(&line["Amount"]);
        if line.get("Id").is_none() {
            line["Id"] = json!((n + 1).to_string());
            line["LineNum"] = json!(n + 1);
        }
    }
    if listed(SALES, entity) {
        let subtotal = json!({"DetailType": "SubTotalLineDetail", "Amount": money(sum),
            "SubTotalLineDetail": {}});
        lines.push(subtotal);
    }
    if matches!(entity, "Invoice" | "Bill") {
        e.insert("Balance".into(), money(sum + tax));
    }
    if entity != "JournalEntry" {
        e.insert("TotalAmt".into(), money(sum + tax));
    }
}

/// What QuickBooks fills in on a new entity (as the samples show); `doc`: the next number.
pub(super) fn defaults(entity: &str, today: &str, doc: &str, name: &Value) -> Value {
    let usd = json!({"name": "United States Dollar", "value": "USD"});
    match entity {
        "Customer" => json!({"Active": true, "Balance": 0, "BalanceWithJobs": 0, "Job": false,
            "BillWithParent": false, "Taxable": false, "PreferredDeliveryMethod": "Print",
            "FullyQualifiedName": name, "PrintOnCheckName": name, "CurrencyRef": usd}),
        "Vendor" => json!({"Active": true, "Balance": 0, "Vendor1099": false,
            "PrintOnCheckName": name, "CurrencyRef": usd}),
        e if listed(NAMES, e) => json!({"Active": true, "FullyQualifiedName": name}),
        e if listed(SALES, e) => json!({"TxnDate": today, "DocNumber": doc, "CurrencyRef": usd,
            "LinkedTxn": [], "EmailStatus": "NotSet", "PrintStatus": "NotSet", "Deposit": 0,
            "ApplyTaxAfterDiscount": false, "TxnTaxDetail": {"TotalTax": 0}}),
        "Bill" => json!({"TxnDate": today, "CurrencyRef": usd, "LinkedTxn": [],
            "APAccountRef": {"name": "Accounts Payable (A/P)", "value": "33"}}),
        _ => json!({"TxnDate": today, "CurrencyRef": usd}),
    }
}

/// The company, as `GET /companyinfo/{realm}` answers it (the sample).
pub(super) fn company_info() -> Value {
    let addr = json!({"City": "Mountain View", "Country": "US", "Line1": "2500 Garcia Ave",
        "PostalCode": "94043", "CountrySubDivisionCode": "CA", "Id": "1"});
    json!({"SyncToken": "4", "domain": "QBO", "LegalAddr": addr, "SupportedLanguages": "en",
        "CompanyName": "Larry's Bakery", "Country": "US", "CompanyAddr": addr, "sparse": false,
        "Id": "1", "WebAddr": {}, "FiscalYearStartMonth": "January",
        "CustomerCommunicationAddr": addr, "PrimaryPhone": {"FreeFormNumber": "(650)944-4444"},
        "LegalName": "Larry's Bakery", "CompanyStartDate": "2015-06-05", "EmployerId": "123456789",
        "Email": {"Address": "donotreply@intuit.com"},
        "NameValue": [{"Name": "NeoEnabled", "Value": "true"},
            {"Name": "IndustryType", "Value": "Bread and Bakery Product Manufacturing"},
            {"Name": "SubscriptionStatus", "Value": "PAID"},
            {"Name": "OfferingSku", "Value": "QuickBooks Online Plus"}],
        "MetaData": {"CreateTime": "2015-06-05T13:55:54-07:00",
            "LastUpdatedTime": "2015-07-06T08:51:50-07:00"}})
}

/// The company: 25 invoices, 12 bills, 20 customers, 15 vendors, 15
/// accounts; the other entities empty (no rows, as Intuit answers).
pub fn company() -> QuickBooks {
    let mut q = QuickBooks::default();
    let customers = people(CUSTOMERS, customer(), "2014-09-10T16:00:00-07:00");
    let vendors = people(VENDORS, vendor(), "2014-09-12T10:00:00-07:00");
    let accounts = chart();
    q.entities.insert("Invoice".into(), invoices(&customers));
    q.entities.insert("Bill".into(), bills(&vendors, &accounts));
    q.entities.insert("Customer".into(), customers);
    q.entities.insert("Vendor".into(), vendors);
    q.entities.insert("Account".into(), accounts);
    q
}

/// `MetaData` of `ms` after one of the times written here.
fn meta(after: &str, ms: i64) -> Value {
    let at = parse_time(after).unwrap_or_default() + ms;
    json!({"CreateTime": stamp(at - HOUR), "LastUpdatedTime": stamp(at)})
}

/// Set `fields` on a copy of `sample`; `null` ones are left out.
fn copy(sample: &Value, fields: Value) -> Value {
    let mut out = sample.clone();
    for (k, v) in fields.as_object().into_iter().flatten() {
        out[k] = v.clone();
    }
    out.as_object_mut()
        .into_iter()
        .for_each(|o| o.retain(|_, v| !v.is_null()));
    out
}

/// The Customer sample.
fn customer() -> Value {
    json!({"PrimaryEmailAddr": {"Address": "Surf@Intuit.com"}, "SyncToken": "0", "domain": "QBO",
        "GivenName": "Bill", "DisplayName": "Bill's Windsurf Shop", "BillWithParent": false,
        "FullyQualifiedName": "Bill's Windsurf Shop", "CompanyName": "Bill's Windsurf Shop",
        "FamilyName": "Lucchini", "sparse": false, "PrimaryPhone": {"FreeFormNumber": "(415) 444-6538"},
        "Active": true, "Job": false, "BalanceWithJobs": 85.0,
        "BillAddr": {"City": "Half Moon Bay", "Line1": "12 Ocean Dr.", "PostalCode": "94213",
            "Lat": "37.4307072", "Long": "-122.4295234", "CountrySubDivisionCode": "CA", "Id": "3"},
        "PreferredDeliveryMethod": "Print", "Taxable": false, "PrintOnCheckName": "Bill's Windsurf Shop",
        "Balance": 85.0, "Id": "2",
        "MetaData": {"CreateTime": "2014-09-11T16:49:28-07:00", "LastUpdatedTime": "2014-09-18T12:56:01-07:00"}})
}

/// The Vendor sample.
fn vendor() -> Value {
    json!({"PrimaryEmailAddr": {"Address": "Books@Intuit.com"}, "Vendor1099": false, "domain": "QBO",
        "GivenName": "Bessie", "DisplayName": "Books by Bessie",
        "BillAddr": {"City": "Palo Alto", "Line1": "15 Main St.", "PostalCode": "94303",
            "Lat": "37.445013", "Long": "-122.1391443", "CountrySubDivisionCode": "CA", "Id": "31"},
        "SyncToken": "0", "PrintOnCheckName": "Books by Bessie", "FamilyName": "Williams",
        "PrimaryPhone": {"FreeFormNumber": "(650) 555-7745"}, "AcctNum": "1345",
        "CompanyName": "Books by Bessie", "WebAddr": {"URI": "http://www.booksbybessie.co"},
        "sparse": false, "Active": true, "Balance": 0, "Id": "30",
        "MetaData": {"CreateTime": "2014-09-12T10:07:56-07:00", "LastUpdatedTime": "2014-09-17T11:13:46-07:00"}})
}

/// Customers or vendors: the sample as it is, and a copy of it for each
/// other name, two hours apart from `from`.
fn people(table: &str, sample: Value, from: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for (n, entry) in table.split(';').enumerate() {
        let (id, name) = entry.trim().split_once(' ').unwrap_or_default();
        if sample["Id"] == id {
            out.push(sample.clone());
            continue;
        }
        let word = name.replace(['\'', '&', ' '], "");
        let balance = money(i64::from(n % 3 != 0) * (2_500 + n as i64 * 1_733));
        let jobs = sample.get("BalanceWithJobs").map(|_| balance.clone());
        out.push(copy(&sample, json!({"Id": id, "DisplayName": name, "FullyQualifiedName": name,
            "PrintOnCheckName": name, "CompanyName": name, "GivenName": null, "FamilyName": null,
            "PrimaryEmailAddr": {"Address": format!("{word}@Intuit.com")}, "Balance": balance,
            "BalanceWithJobs": jobs, "PrimaryPhone": {"FreeFormNumber": format!("(650) 555-{:04}", 1000 + n * 37)},
            "BillAddr": {"Line1": format!("{} Main St.", 10 + n * 7), "City": "Palo Alto",
                "PostalCode": "94303", "CountrySubDivisionCode": "CA", "Id": (100 + n).to_string()},
            "MetaData": meta(from, n as i64 * 2 * HOUR)})));
    }
    out
}

/// The sandbox's accounts, then the Account sample (94, "MyJobs").
fn chart() -> Vec<Value> {
    let sample = json!({"FullyQualifiedName": "MyJobs", "domain": "QBO", "Name": "MyJobs",
        "Classification": "Asset", "AccountSubType": "AccountsReceivable",
        "CurrencyRef": {"name": "United States Dollar", "value": "USD"},
        "CurrentBalanceWithSubAccounts": 0, "sparse": false,
        "MetaData": {"CreateTime": "2014-12-31T09:29:05-08:00", "LastUpdatedTime": "2014-12-31T09:29:05-08:00"},
        "AccountType": "Accounts Receivable", "CurrentBalance": 0, "Active": true, "SyncToken": "0",
        "Id": "94", "SubAccount": false});
    let mut out = Vec::new();
    for (n, row) in CHART.split(';').enumerate() {
        let fields: Vec<&str> = row.trim().split('|').collect();
        let &[id, qualified, kind, sub] = fields.as_slice() else {
            continue;
        };
        let class = match kind {
            "Bank" | "Accounts Receivable" => "Asset",
            "Accounts Payable" => "Liability",
            "Income" => "Revenue",
            _ => "Expense",
        };
        let name = qualified.rsplit(':').next().unwrap_or(qualified);
        let balance = money(i64::from(class != "Expense") * (10_000 + n as i64 * 12_345));
        out.push(copy(&sample, json!({"FullyQualifiedName": qualified, "Name": name, "Id": id,
            "Classification": class, "AccountSubType": sub, "AccountType": kind,
            "CurrentBalanceWithSubAccounts": balance, "CurrentBalance": balance,
            "SubAccount": qualified.contains(':'), "MetaData": meta("2014-09-09T14:00:00-07:00", n as i64 * 600_000)})));
    }
    out.push(sample);
    out
}

/// The Invoice sample.
fn invoice() -> Value {
    let line = |n: u32, what: &str, item: (&str, &str), qty: f64, price: f64| {
        json!({"Description": what, "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {"TaxCodeRef": {"value": "TAX"}, "Qty": qty, "UnitPrice": price,
                "ItemRef": {"name": item.1, "value": item.0}},
            "LineNum": n, "Amount": qty * price, "Id": n.to_string()})
    };
    json!({"TxnDate": "2014-09-19", "domain": "QBO", "PrintStatus": "NeedToPrint",
        "SalesTermRef": {"value": "3"}, "TotalAmt": 362.07,
        "Line": [line(1, "Rock Fountain", ("5", "Rock Fountain"), 1.0, 275.0),
            line(2, "Fountain Pump", ("11", "Pump"), 1.0, 12.75),
            line(3, "Concrete for fountain installation", ("3", "Concrete"), 5.0, 9.5),
            {"DetailType": "SubTotalLineDetail", "Amount": 335.25, "SubTotalLineDetail": {}}],
        "DueDate": "2014-10-19", "ApplyTaxAfterDiscount": false, "DocNumber": "1037", "sparse": false,
        "CustomerMemo": {"value": "Thank you for your business and have a great day!"},
        "Deposit": 0, "Balance": 362.07, "CustomerRef": {"name": "Sonnenschein Family Store", "value": "24"},
        "TxnTaxDetail": {"TxnTaxCodeRef": {"value": "2"}, "TotalTax": 26.82,
            "TaxLine": [{"DetailType": "TaxLineDetail", "Amount": 26.82,
                "TaxLineDetail": {"NetAmountTaxable": 335.25, "TaxPercent": 8,
                    "TaxRateRef": {"value": "3"}, "PercentBased": true}}]},
        "SyncToken": "0", "LinkedTxn": [{"TxnId": "100", "TxnType": "Estimate"}],
        "BillEmail": {"Address": "Familiystore@intuit.com"},
        "ShipAddr": {"City": "Middlefield", "Line1": "5647 Cypress Hill Ave.", "PostalCode": "94303",
            "Lat": "37.4238562", "Long": "-122.1141681", "CountrySubDivisionCode": "CA", "Id": "25"},
        "EmailStatus": "NotSet",
        "BillAddr": {"Line4": "Middlefield, CA  94303", "Line3": "5647 Cypress Hill Ave.",
            "Line2": "Sonnenschein Family Store", "Line1": "Russ Sonnenschein", "Long": "-122.1141681",
            "Lat": "37.4238562", "Id": "95"},
        "MetaData": {"CreateTime": "2014-09-19T13:16:17-07:00", "LastUpdatedTime": "2014-09-19T13:16:17-07:00"},
        "CustomField": [{"DefinitionId": "1", "StringValue": "102", "Type": "StringType", "Name": "Crew #"}],
        "Id": "130"})
}

/// Invoices 106–129, untaxed copies of the sample for other customers, a
/// day apart, each one of its lines; then the sample (130).
fn invoices(customers: &[Value]) -> Vec<Value> {
    let sample = invoice();
    let mut out = Vec::new();
    for k in 0..24_i64 {
        // 116 was saved in the same second as 115.
        let day = if k == 10 { 9 } else { k };
        let after = day * DAY + day * 37_000;
        let when = parse_time("2014-08-25T09:00:00-07:00").unwrap_or_default() + after;
        let c = &customers[(k as usize * 7) % customers.len()];
        let mut line = sample["Line"][k as usize % 3].clone();
        let qty = 1 + k % 4;
        let amount = money(qty * cents(&line["SalesItemLineDetail"]["UnitPrice"]));
        let fields = json!({"Qty": qty, "TaxCodeRef": {"value": "NON"}});
        line["SalesItemLineDetail"] = copy(&line["SalesItemLineDetail"], fields);
        line = copy(&line, json!({"Amount": amount, "LineNum": 1, "Id": "1"}));
        let subtotal =
            json!({"DetailType": "SubTotalLineDetail", "Amount": amount, "SubTotalLineDetail": {}});
        out.push(copy(&sample, json!({"Id": (106 + k).to_string(), "DocNumber": (1013 + k).to_string(),
            "TxnDate": day_of(when), "DueDate": day_of(when + 30 * DAY), "Line": [line, subtotal],
            "CustomerRef": {"name": c["DisplayName"], "value": c["Id"]}, "BillAddr": c["BillAddr"],
            "ShipAddr": c["BillAddr"], "BillEmail": c["PrimaryEmailAddr"], "TxnTaxDetail": {"TotalTax": 0},
            "TotalAmt": amount, "Balance": if k % 4 == 0 { money(0) } else { amount.clone() },
            "LinkedTxn": [], "EmailStatus": if k % 2 == 0 { "EmailSent" } else { "NotSet" },
            "CustomField": [{"DefinitionId": "1", "StringValue": (80 + k).to_string(),
                "Type": "StringType", "Name": "Crew #"}], "MetaData": meta("2014-08-25T09:00:00-07:00", after)})));
    }
    out.push(sample);
    out
}

/// The Bill sample.
fn bill() -> Value {
    json!({"SyncToken": "2", "domain": "QBO",
        "APAccountRef": {"name": "Accounts Payable (A/P)", "value": "33"},
        "VendorRef": {"name": "Norton Lumber and Building Materials", "value": "46"},
        "TxnDate": "2014-11-06", "TotalAmt": 103.55, "CurrencyRef": {"name": "United States Dollar", "value": "USD"},
        "LinkedTxn": [{"TxnId": "118", "TxnType": "BillPaymentCheck"}], "SalesTermRef": {"value": "3"},
        "DueDate": "2014-12-06", "sparse": false,
        "Line": [{"Description": "Lumber", "DetailType": "AccountBasedExpenseLineDetail",
            "ProjectRef": {"value": "39298034"}, "Amount": 103.55, "Id": "1",
            "AccountBasedExpenseLineDetail": {"TaxCodeRef": {"value": "TAX"},
                "AccountRef": {"name": "Job Expenses:Job Materials:Decks and Patios", "value": "64"},
                "BillableStatus": "Billable", "CustomerRef": {"name": "Travis Waldron", "value": "26"}}}],
        "Balance": 0, "Id": "25",
        "MetaData": {"CreateTime": "2014-11-06T15:37:25-08:00", "LastUpdatedTime": "2015-02-09T10:11:11-08:00"}})
}

/// Bills 14–24, copies of the sample for other vendors and accounts, then
/// the sample (25).
fn bills(vendors: &[Value], accounts: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for k in 0..11_i64 {
        let after = k * (DAY + 3 * HOUR);
        let when = parse_time("2014-10-20T10:00:00-07:00").unwrap_or_default() + after;
        let v = &vendors[(k as usize * 4 + 1) % vendors.len()];
        let code = EXPENSES[k as usize % EXPENSES.len()];
        let account = accounts.iter().find(|a| a["Id"] == code);
        let account = account.cloned().unwrap_or_default();
        let amount = money(4_750 + k * 6_125);
        let line = json!({"Description": account["Name"], "DetailType": "AccountBasedExpenseLineDetail",
            "Amount": amount, "Id": "1", "AccountBasedExpenseLineDetail": {"TaxCodeRef": {"value": "NON"},
                "AccountRef": {"name": account["FullyQualifiedName"], "value": code},
                "BillableStatus": "NotBillable"}});
        let fields = json!({"Id": (14 + k).to_string(), "SyncToken": "0",
            "VendorRef": {"name": v["DisplayName"], "value": v["Id"]}, "TxnDate": day_of(when),
            "DueDate": day_of(when + 30 * DAY), "TotalAmt": amount, "LinkedTxn": [], "Line": [line],
            "Balance": if k % 3 == 0 { money(0) } else { amount.clone() },
            "MetaData": meta("2014-10-20T10:00:00-07:00", after)});
        out.push(copy(&bill(), fields));
    }
    out.push(bill());
    out
}
