//! The fake org's data: describes of the CRM objects (the fields and flags
//! of Salesforce's `describe` answers, trimmed to what the tests touch) and
//! the Developer Edition's sample records (Edge Communications, Burlington
//! Textiles, GenePoint, …), plus what the tests do to them.

use serde_json::{Map, Value, json};

use super::{Object, Salesforce, USER_ID, USERNAME, now, stamp};

/// A describe field: `c`reateable, `u`pdateable, `n`illable, e`x`ternal id
/// (and unique), `d`efaulted on create, custom (`k`).
fn field(name: &str, kind: &str, flags: &str) -> Value {
    let has = |c: char| flags.contains(c);
    let length = match kind {
        "string" | "picklist" | "url" => 255,
        "phone" => 40,
        "email" => 80,
        "id" | "reference" => 18,
        _ => 0,
    };
    let label = name.trim_end_matches("__c").replace('_', " ");
    json!({"name": name, "label": label, "type": kind, "length": length, "nillable": has('n'),
        "createable": has('c'), "updateable": has('u'), "defaultedOnCreate": has('d') || kind == "id",
        "externalId": has('x'), "unique": has('x'), "idLookup": kind == "id" || has('x'),
        "custom": has('k'), "calculated": false, "filterable": true, "sortable": true,
        "picklistValues": [], "restrictedPicklist": false, "referenceTo": [],
        "relationshipName": null, "soapType": format!("xsd:{kind}")})
}

/// A picklist of `|`-separated values.
fn picklist(name: &str, flags: &str, values: &str) -> Value {
    let mut f = field(name, "picklist", flags);
    f["picklistValues"] = values
        .split('|')
        .map(|v| json!({"active": true, "defaultValue": false, "label": v, "validFor": null, "value": v}))
        .collect();
    f
}

fn reference(name: &str, flags: &str, to: &str, relationship: &str) -> Value {
    let mut f = field(name, "reference", flags);
    f["referenceTo"] = json!([to]);
    f["relationshipName"] = json!(relationship);
    f
}

/// Fields every object has: id, the recycle bin flag (not on User), owner,
/// audit stamps.
fn system(object: &str) -> Vec<Value> {
    let mut f = vec![field("Id", "id", "")];
    if object != "User" {
        f.push(field("IsDeleted", "boolean", "d"));
        f.push(reference("OwnerId", "cud", "User", "Owner"));
    }
    for (name, kind) in [
        ("CreatedDate", "datetime"),
        ("CreatedById", "reference"),
        ("LastModifiedDate", "datetime"),
        ("LastModifiedById", "reference"),
        ("SystemModstamp", "datetime"),
    ] {
        f.push(field(name, kind, "d"));
    }
    f
}

const TYPES: &str = "Prospect|Customer - Direct|Customer - Channel|Channel Partner / Reseller|Installation Partner|Technology Partner|Other";
const INDUSTRIES: &str = "Apparel|Biotechnology|Construction|Consulting|Education|Electronics|Energy|Hospitality|Transportation";
const STAGES: &str = "Prospecting|Qualification|Needs Analysis|Value Proposition|Id. Decision Makers|Perception Analysis|Proposal/Price Quote|Negotiation/Review|Closed Won|Closed Lost";
const LEAD_STATUS: &str =
    "Open - Not Contacted|Working - Contacted|Closed - Converted|Closed - Not Converted";

/// Each object: API name, key prefix, its own fields.
fn describes() -> Vec<(&'static str, &'static str, Vec<Value>)> {
    let account = vec![
        field("Name", "string", "cu"),
        picklist("Type", "cun", TYPES),
        picklist("Industry", "cun", INDUSTRIES),
        picklist("Rating", "cun", "Hot|Warm|Cold"),
        field("AnnualRevenue", "currency", "cun"),
        field("NumberOfEmployees", "int", "cun"),
        field("Phone", "phone", "cun"),
        field("Website", "url", "cun"),
        field("BillingCity", "string", "cun"),
        field("BillingCountry", "string", "cun"),
        field("BillingAddress", "address", "n"),
        field("Legacy_Id__c", "string", "cunxk"),
    ];
    let contact = vec![
        reference("AccountId", "cun", "Account", "Account"),
        field("FirstName", "string", "cun"),
        field("LastName", "string", "cu"),
        field("Title", "string", "cun"),
        field("Email", "email", "cun"),
        field("Phone", "phone", "cun"),
        field("DoNotCall", "boolean", "cud"),
        field("Birthdate", "date", "cun"),
        field("MailingAddress", "address", "n"),
    ];
    let lead = vec![
        field("FirstName", "string", "cun"),
        field("LastName", "string", "cu"),
        field("Company", "string", "cu"),
        picklist("Status", "cud", LEAD_STATUS),
        field("Email", "email", "cun"),
        picklist(
            "LeadSource",
            "cun",
            "Web|Phone Inquiry|Partner Referral|Purchased List|Other",
        ),
        field("AnnualRevenue", "currency", "cun"),
    ];
    let opportunity = vec![
        reference("AccountId", "cun", "Account", "Account"),
        field("Name", "string", "cu"),
        picklist("StageName", "cu", STAGES),
        field("CloseDate", "date", "cu"),
        field("Amount", "currency", "cun"),
        field("Probability", "percent", "cun"),
        field("IsWon", "boolean", "d"),
    ];
    let case = vec![
        field("CaseNumber", "string", "d"),
        reference("AccountId", "cun", "Account", "Account"),
        reference("ContactId", "cun", "Contact", "Contact"),
        field("Subject", "string", "cun"),
        picklist("Status", "cud", "New|Working|Escalated|Closed"),
        picklist("Priority", "cun", "High|Medium|Low"),
        picklist("Origin", "cun", "Phone|Email|Web"),
    ];
    let user = vec![
        field("Username", "string", "cu"),
        field("FirstName", "string", "cun"),
        field("LastName", "string", "cu"),
        field("Email", "email", "cu"),
        field("Alias", "string", "cu"),
        field("IsActive", "boolean", "cud"),
    ];
    vec![
        ("Account", "001", account),
        ("Contact", "003", contact),
        ("Lead", "00Q", lead),
        ("Opportunity", "006", opportunity),
        ("Case", "500", case),
        ("User", "005", user),
    ]
}

/// name|type|industry|rating|annual revenue|employees|phone|website|city|country
const ACCOUNTS: &str = "\
Edge Communications|Customer - Direct|Electronics|Hot|139000000|1000|(512) 757-6000|http://edgecomm.com|Austin|USA
Burlington Textiles Corp of America|Customer - Direct|Apparel|Warm|350000000|9000|(336) 222-7000|www.burlington.com|Burlington|USA
Pyramid Construction Inc.|Customer - Channel|Construction||950000000|2680|(014) 427-4427|www.pyramid.com|Paris|France
Dickenson plc|Customer - Channel|Consulting||50000000|120|(785) 241-6200|dickenson-consulting.com|Lawrence|USA
Grand Hotels & Resorts Ltd|Customer - Direct|Hospitality|Warm|500000000|5600|(312) 596-1000|www.grandhotels.com|Chicago|USA
United Oil & Gas Corp.|Customer - Direct|Energy|Hot|5600000000|145000|(212) 842-5500|http://www.uos.com|New York|USA
Express Logistics and Transport|Customer - Channel|Transportation|Cold|950000000|12300|(503) 421-7800|www.expresslandt.net|Portland|USA
University of Arizona|Customer - Direct|Education|Warm||39000|(520) 773-9050|www.universityofarizona.com|Tucson|USA
United Oil & Gas, UK|Customer - Direct|Energy|||24000|+44 191 4956203|http://www.uos.com|London|United Kingdom
United Oil & Gas, Singapore|Customer - Direct|Energy|||3000|(650) 450-8810|http://www.uos.com|Singapore|Singapore
GenePoint|Customer - Channel|Biotechnology|Cold|30000000|265|(650) 867-3450|www.genepoint.com|Mountain View|USA
sForce|Prospect|||||(415) 901-7000|www.sforce.com|San Francisco|USA";

/// first|last|account (line number)|title|email; `¶` is a line break.
const CONTACTS: &str = "\
Rose|Gonzalez|0|SVP, Procurement|rose@edge.com
Sean|Forbes|0|CFO|sean@edge.com
Jack|Rogers|1|VP, Facilities|jrogers@burlington.com
Pat|Stumuller|2|SVP, Administration and Finance|pat@pyramid.net
Andy|Young|3|SVP, Operations|a_young@dickenson.com
Tim|Barr|4|SVP, Administration and Finance|barr_tim@grandhotels.com
John|Bond|4|VP, Facilities|bond_john@grandhotels.com
Stella|Pavlova|5|SVP, Production|spavlova@uog.com
Lauren|Boyle|5|SVP, Technology|lboyle@uog.com
Babara|Levy|6|SVP, Operations|b.levy@expressl&t.net
Josh|Davis|6|Director, \"Warehouse\" Mgmt¶Portland|j.davis@expressl&t.net
Jane|Grey|7|Dean of Administration|jane_gray@uoa.edu
Arthur|Song|5|CEO|asong@uog.com
Ashley|James|8|VP, Finance|ajames@uog.com
Tom|Ripley|9|Regional General Manager|tripley@uog.com
Liz|D'Cruz|9|VP, Production|ldcruz@uog.com
Edna|Frank|10|VP, Technology|efrank@genepoint.com
Avi|Green|5|CFO|agreen@uog.com
Siddartha|Nedaerk|11||";

/// first|last|company|status|source
const LEADS: &str = "\
Bertha|Boxer|Farmers Coop. of Florida|Working - Contacted|Web
Phyllis|Cotton|Abbott Insurance|Open - Not Contacted|Web
Jeff|Glimpse|Jackson Controls|Open - Not Contacted|Phone Inquiry
Mike|Braund|Metropolitan Health Services|Open - Not Contacted|Purchased List
Patricia|Feager|International Shipping Co.|Working - Contacted|Partner Referral
Brenda|Mcclure|Cardinal Inc.|Working - Contacted|Web
Violet|Maccleod|Emerson Transport|Working - Contacted|Phone Inquiry
Kathy|Snyder|TNR Corp.|Working - Contacted|Purchased List
Tom|James|Delphi Chemicals|Working - Contacted|Web
Shelly|Brownell|Western Telecommunications Corp.|Working - Contacted|Web";

/// name|account|stage|amount|close date|probability
const OPPORTUNITIES: &str = "\
Edge Emergency Generator|0|Closed Won|75000|2024-01-12|100
Edge Installation|0|Closed Won|50000|2024-02-20|100
Burlington Textiles Weaving Plant Generator|1|Closed Won|235000|2024-03-01|100
Pyramid Emergency Generators|2|Prospecting|100000|2024-06-30|10
Dickenson Mobile Generators|3|Qualification|15000|2024-07-15|10
Grand Hotels Kitchen Generator|4|Id. Decision Makers|15000|2024-07-20|60
United Oil Installations|5|Negotiation/Review|270000|2024-08-01|90
Express Logistics Standby Generator|6|Closed Won|220000|2024-04-10|100
University of AZ Portable Generators|7|Closed Won|50000|2024-04-22|100
GenePoint Standby Generator|10|Closed Won|85000|2024-05-05|100";

/// subject|account|contact|status|priority|origin
const CASES: &str = "\
Starting generator after electrical failure|0|0|Closed|High|Phone
Performance inadequate for second consecutive week|1|2|Working|Medium|Phone
Design issue with mechanical rotor|5|7|Closed|Medium|Web
Maintenance guidelines for generator unclear|4|5|New|Low|Email
Cannot track our order|6|10|New|Medium|Web
Generator GC3060 platform structure is weakening|5|8|Escalated|High|Web
Seeking guidance on electrical wiring installation for GC5060|7|11|Closed|Low|Web
Power generation below stated level|10|16|New|High|Phone";

/// first|last|username|alias
const USERS: &str = "\
Integration|User|{user}|iuser
Ada|Admin|admin@wharf-demo.example|aadmin
Chatter|Expert|noreply@chatter.salesforce.com|Chatter";

/// A text cell: empty is null.
fn text(s: &str) -> Value {
    if s.is_empty() {
        Value::Null
    } else {
        json!(s.replace('¶', "\n"))
    }
}

/// A number cell: empty is null.
fn number(s: &str) -> Value {
    s.parse::<i64>().map_or(Value::Null, |n| json!(n))
}

/// The id on line `n` of an earlier table.
fn of(ids: &[String], n: &str) -> String {
    ids[n.parse::<usize>().expect("a line number")].clone()
}

fn cells(table: &str) -> impl Iterator<Item = Vec<&str>> {
    table.lines().map(|l| l.split('|').collect())
}

impl Salesforce {
    /// An org with the sample objects and no records.
    pub fn empty() -> Self {
        let mut s = Salesforce::default();
        for (name, prefix, own) in describes() {
            let mut fields = system(name);
            fields.extend(own);
            let label = name.to_string();
            let rows = Vec::new();
            let o = Object {
                label,
                prefix,
                fields,
                rows,
            };
            s.objects.insert(name.to_string(), o);
        }
        s
    }

    /// The Developer Edition's sample data, an hour apart from March 2024.
    pub fn demo() -> Self {
        let mut s = Self::empty();
        let mut at = 1_709_283_600; // 2024-03-01T09:00:00Z
        let mut tick = || {
            at += 3600;
            at
        };
        for c in cells(USERS) {
            let user = c[2].replace("{user}", USERNAME);
            let data = json!({"Username": user, "FirstName": c[0], "LastName": c[1],
                "Email": user, "Alias": c[3], "IsActive": true});
            s.insert("User", data, tick());
        }
        let mut accounts = Vec::new();
        for c in cells(ACCOUNTS) {
            let data = json!({"Name": c[0], "Type": text(c[1]), "Industry": text(c[2]),
                "Rating": text(c[3]), "AnnualRevenue": number(c[4]), "NumberOfEmployees": number(c[5]),
                "Phone": c[6], "Website": c[7], "BillingCity": c[8], "BillingCountry": c[9],
                "Legacy_Id__c": null});
            accounts.push(s.insert("Account", data, tick()));
        }
        let mut contacts = Vec::new();
        for c in cells(CONTACTS) {
            let data = json!({"AccountId": of(&accounts, c[2]), "FirstName": c[0], "LastName": c[1],
                "Title": text(c[3]), "Email": text(c[4]), "Phone": null,
                "DoNotCall": c[0] == "Babara", "Birthdate": null});
            contacts.push(s.insert("Contact", data, tick()));
        }
        for c in cells(LEADS) {
            let domain: String = c[2].chars().filter(char::is_ascii_alphanumeric).collect();
            let email = format!("{}@{}.example", c[0].to_lowercase(), domain.to_lowercase());
            let data = json!({"FirstName": c[0], "LastName": c[1], "Company": c[2], "Status": c[3],
                "LeadSource": c[4], "Email": email, "AnnualRevenue": null});
            s.insert("Lead", data, tick());
        }
        for c in cells(OPPORTUNITIES) {
            let data = json!({"AccountId": of(&accounts, c[1]), "Name": c[0], "StageName": c[2],
                "Amount": number(c[3]), "CloseDate": c[4], "Probability": number(c[5]),
                "IsWon": c[2] == "Closed Won"});
            s.insert("Opportunity", data, tick());
        }
        for (n, c) in cells(CASES).enumerate() {
            let data = json!({"CaseNumber": format!("{:08}", 1001 + n),
                "AccountId": of(&accounts, c[1]), "ContactId": of(&contacts, c[2]), "Subject": c[0],
                "Status": c[3], "Priority": c[4], "Origin": c[5]});
            s.insert("Case", data, tick());
        }
        s
    }

    /// An 18-character id with the object's key prefix.
    fn next_id(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}5e0000{:06}AAC", self.counter)
    }

    /// Store a row with its id and stamps; its id.
    pub(super) fn insert(&mut self, object: &str, data: Value, at: i64) -> String {
        let prefix = self.objects[object].prefix;
        let id = self.next_id(prefix);
        let mut row = Map::new();
        row.insert("Id".into(), json!(id));
        for f in &self.objects[object].fields {
            let name = f["name"].as_str().unwrap_or_default();
            let v = match name {
                "IsDeleted" => json!(false),
                "OwnerId" | "CreatedById" | "LastModifiedById" => json!(USER_ID),
                "CreatedDate" | "LastModifiedDate" | "SystemModstamp" => json!(stamp(at)),
                _ => continue,
            };
            row.insert(name.into(), v);
        }
        if let Value::Object(d) = data {
            row.extend(d);
        }
        let o = self.objects.get_mut(object).expect("an object");
        o.rows.push(row);
        id
    }

    /// Add a record now (as a person in the org would); its id.
    pub fn add(&mut self, object: &str, data: Value) -> String {
        self.insert(object, data, now())
    }

    /// The id of the first row whose `field` is `value`.
    pub fn id_of(&self, object: &str, field: &str, value: &str) -> String {
        let rows = &self.objects[object].rows;
        let row = rows.iter().find(|r| r.get(field) == Some(&json!(value)));
        let id = row
            .and_then(|r| r["Id"].as_str())
            .expect("a row with that value");
        id.to_string()
    }

    /// Change a field now: the stamps move.
    pub fn touch(&mut self, object: &str, id: &str, field: &str, value: Value) {
        let o = self.objects.get_mut(object).expect("an object");
        let row = o.rows.iter_mut().find(|r| r["Id"] == id).expect("a row");
        row.insert(field.into(), value);
        row.insert("LastModifiedDate".into(), json!(stamp(now())));
        row.insert("SystemModstamp".into(), json!(stamp(now())));
    }

    /// Move a record to the recycle bin now.
    pub fn delete(&mut self, object: &str, id: &str) {
        self.touch(object, id, "IsDeleted", json!(true));
    }

    /// The rows not deleted.
    pub fn live(&self, object: &str) -> Vec<&Map<String, Value>> {
        let rows = self.objects[object].rows.iter();
        rows.filter(|r| r.get("IsDeleted") != Some(&json!(true)))
            .collect()
    }

    /// Make a picklist restricted to `values`.
    pub fn restrict(&mut self, object: &str, field: &str, values: &[&str]) {
        let o = self.objects.get_mut(object).expect("an object");
        let f = o.fields.iter_mut().find(|f| f["name"] == field);
        let f = f.expect("a field");
        f["restrictedPicklist"] = json!(true);
        f["picklistValues"] = values
            .iter()
            .map(|v| json!({"active": true, "value": v, "label": v}))
            .collect();
    }

    /// A field of an object's describe, by name in any case (as SOQL reads it).
    pub(super) fn describe_field(&self, object: &str, name: &str) -> Option<&Value> {
        let fields = &self.objects.get(object)?.fields;
        let named = |f: &&Value| {
            f["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        };
        fields.iter().find(named)
    }

    /// The API name of an object, given in any case.
    pub(super) fn object_named(&self, name: &str) -> Option<String> {
        let mut names = self.objects.keys();
        names.find(|k| k.eq_ignore_ascii_case(name)).cloned()
    }
}
