//! The entity sets this connector knows, with what SAP's `$metadata`
//! says about each: the key (`CardCode`, `ItemCode`, `DocEntry`, `JdtNum`,
//! `Code`), whether the key is a number (bare in a URL, `Orders(12)`) or
//! text (quoted, `BusinessPartners('C20000')`), and how a pass finds what
//! changed.
//!
//! Business partners, items and marketing documents carry `UpdateDate`
//! (`Edm.DateTimeOffset`, midnight of the day) and `UpdateTime`
//! (`Edm.TimeOfDay`). Payments and journal entries carry neither: they are
//! numbered in order and SAP changes them only by cancelling (a journal
//! entry's reversal is a new entry), so a pass reads those after the last
//! number seen. The chart of accounts has no stamp either; it is small and
//! read whole. Any other entity set (a user-defined object, `ProductionOrders`)
//! is offered when the config names it with its key.

use std::collections::BTreeMap;

use wharf_sdk::prelude::*;

/// How a pass of an entity set finds what changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Changes {
    /// `UpdateDate ge <day>` (and `UpdateTime`, where the set has it, to
    /// drop what the last pass already read).
    Stamped {
        /// The set has `UpdateTime`.
        time: bool,
    },
    /// `<key> gt <last>`: numbered in order, changed only by new entries.
    Numbered,
    /// Read whole every pass.
    Whole,
}

/// What a destination may do to an entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Master data: created with its key, deleted with `DELETE`.
    Master,
    /// A document or posting: SAP numbers it (`DocEntry`) and never deletes
    /// it; it can be cancelled (`POST …(key)/Cancel`).
    Document,
}

/// An entity set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entity {
    pub name: String,
    pub key: String,
    /// The key is an `Edm.Int32`.
    pub numeric: bool,
    pub changes: Changes,
    pub kind: Kind,
    pub description: &'static str,
}

/// A known set: name, key, numeric key, changes, kind, description.
type Known = (
    &'static str,
    &'static str,
    bool,
    Changes,
    Kind,
    &'static str,
);

const STAMPED: Changes = Changes::Stamped { time: true };

/// From SAP Business One 10's Service Layer `$metadata` (OData v4).
const KNOWN: &[Known] = &[
    (
        "BusinessPartners",
        "CardCode",
        false,
        STAMPED,
        Kind::Master,
        "Customers, suppliers and leads (OCRD)",
    ),
    (
        "Items",
        "ItemCode",
        false,
        STAMPED,
        Kind::Master,
        "Items (OITM)",
    ),
    (
        "Orders",
        "DocEntry",
        true,
        STAMPED,
        Kind::Document,
        "Sales orders with their DocumentLines (ORDR)",
    ),
    (
        "Invoices",
        "DocEntry",
        true,
        STAMPED,
        Kind::Document,
        "A/R invoices with their DocumentLines (OINV)",
    ),
    (
        "PurchaseInvoices",
        "DocEntry",
        true,
        STAMPED,
        Kind::Document,
        "A/P invoices with their DocumentLines (OPCH)",
    ),
    (
        "PurchaseOrders",
        "DocEntry",
        true,
        STAMPED,
        Kind::Document,
        "Purchase orders with their DocumentLines (OPOR)",
    ),
    (
        "JournalEntries",
        "JdtNum",
        true,
        Changes::Numbered,
        Kind::Document,
        "Journal entries with their lines, by number (OJDT)",
    ),
    (
        "ChartOfAccounts",
        "Code",
        false,
        Changes::Whole,
        Kind::Master,
        "The chart of accounts (OACT), read whole",
    ),
    (
        "DeliveryNotes",
        "DocEntry",
        true,
        STAMPED,
        Kind::Document,
        "Deliveries with their DocumentLines (ODLN)",
    ),
    (
        "CreditNotes",
        "DocEntry",
        true,
        STAMPED,
        Kind::Document,
        "A/R credit memos with their DocumentLines (ORIN)",
    ),
    (
        "IncomingPayments",
        "DocEntry",
        true,
        Changes::Numbered,
        Kind::Document,
        "Incoming payments, by number (ORCT)",
    ),
    (
        "VendorPayments",
        "DocEntry",
        true,
        Changes::Numbered,
        Kind::Document,
        "Outgoing payments, by number (OVPM)",
    ),
];

/// The entity sets offered when the config names none.
pub fn defaults() -> Vec<String> {
    KNOWN.iter().map(|k| k.0.to_string()).collect()
}

/// Whether `name` can be an entity set's name in a URL.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The entity set `name`: a known one (its key overridable by `keys`), or
/// one the config gives a key for (by `UpdateDate` when `cursors` says so,
/// by a growing number when it names another field, else read whole).
pub fn lookup(
    name: &str,
    keys: &BTreeMap<String, String>,
    cursors: &BTreeMap<String, String>,
) -> Result<Entity> {
    if !valid_name(name) {
        return Err(Error::Config(format!(
            "`{name}` is not an entity set name (letters, digits and `_`)"
        )));
    }
    if let Some(&(n, key, numeric, changes, kind, description)) = KNOWN.iter().find(|k| k.0 == name)
    {
        // Another key than SAP's is the administrator's choice; whether it
        // is a number is then read from each record's value.
        let chosen = keys.get(n).filter(|k| k.as_str() != key);
        return Ok(Entity {
            numeric: numeric && chosen.is_none(),
            name: n.to_string(),
            key: chosen.cloned().unwrap_or_else(|| key.to_string()),
            changes,
            kind,
            description,
        });
    }
    let key = keys.get(name).cloned().ok_or_else(|| {
        Error::Config(format!(
            "`{name}` is not an entity set this connector knows: give its key in the config's `keys` (e.g. {{\"{name}\": \"DocEntry\"}})"
        ))
    })?;
    let changes = match cursors.get(name).map(String::as_str) {
        Some("UpdateDate") => Changes::Stamped { time: false },
        Some(f) if f == key => Changes::Numbered,
        Some(other) => {
            return Err(Error::Config(format!(
                "the cursor of `{name}` must be `UpdateDate` or its key `{key}`, not `{other}`"
            )));
        }
        None => Changes::Whole,
    };
    Ok(Entity {
        name: name.to_string(),
        numeric: key == "DocEntry" || key == "DocNum" || key == "AbsoluteEntry",
        kind: if key == "DocEntry" {
            Kind::Document
        } else {
            Kind::Master
        },
        key,
        changes,
        description: "An entity set named in the config",
    })
}

impl Entity {
    /// Payments are read by number, but a payment already read can be
    /// cancelled later (`Cancelled` turns `tYES` on the same `DocEntry`):
    /// an incremental pass reads the cancelled ones again.
    pub fn cancellable(&self) -> bool {
        self.changes == Changes::Numbered
            && matches!(self.name.as_str(), "IncomingPayments" | "VendorPayments")
    }

    /// The field a stream's records are ordered by for incremental syncs.
    pub fn cursor_field(&self) -> Option<&str> {
        match self.changes {
            Changes::Stamped { .. } => Some("UpdateDate"),
            Changes::Numbered => Some(&self.key),
            Changes::Whole => None,
        }
    }

    /// The key as it goes in a URL, `('C20000')` or `(12)`, from a record's
    /// key value; `None` when a numeric key is not a whole number.
    pub fn key_segment(&self, value: &Value) -> Option<String> {
        let text = wharf_sdk::scalar_text(value)?;
        if self.numeric || (value.is_number() && !self.numeric_text_key()) {
            let n: i64 = text.trim().parse().ok()?;
            return Some(format!("({n})"));
        }
        if text.is_empty() {
            return None;
        }
        // An OData string literal doubles its quotes; the rest is
        // percent-encoded so `/`, `#`, `?` and spaces stay in the segment.
        let literal = text.replace('\'', "''");
        Some(format!(
            "('{}')",
            wharf_sdk::http::encode(&literal).replace("%27", "'")
        ))
    }

    /// A known set whose key is text even when a record holds a number
    /// (an item code `1001`).
    fn numeric_text_key(&self) -> bool {
        KNOWN.iter().any(|k| k.0 == self.name && !k.2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    #[test]
    fn keys_as_sap_writes_them() {
        let bp = lookup("BusinessPartners", &none(), &none()).unwrap();
        assert_eq!(bp.key, "CardCode");
        assert_eq!(bp.key_segment(&json!("C20000")).unwrap(), "('C20000')");
        assert_eq!(
            bp.key_segment(&json!("O'Brien & Co")).unwrap(),
            "('O''Brien%20%26%20Co')"
        );
        let items = lookup("Items", &none(), &none()).unwrap();
        assert_eq!(items.key_segment(&json!(1001)).unwrap(), "('1001')");
        let orders = lookup("Orders", &none(), &none()).unwrap();
        assert_eq!(orders.key_segment(&json!(12)).unwrap(), "(12)");
        assert_eq!(orders.key_segment(&json!("12")).unwrap(), "(12)");
        assert_eq!(orders.key_segment(&json!("12); DROP")), None);
        assert_eq!(orders.cursor_field(), Some("UpdateDate"));
        let journal = lookup("JournalEntries", &none(), &none()).unwrap();
        assert_eq!(journal.changes, Changes::Numbered);
        assert_eq!(journal.cursor_field(), Some("JdtNum"));
        assert_eq!(
            lookup("ChartOfAccounts", &none(), &none())
                .unwrap()
                .cursor_field(),
            None
        );
    }

    #[test]
    fn other_sets_need_a_key() {
        assert!(
            matches!(lookup("ProductionOrders", &none(), &none()), Err(Error::Config(m)) if m.contains("keys"))
        );
        assert!(lookup("Orders/../Login", &none(), &none()).is_err());
        let keys = BTreeMap::from([("ProductionOrders".to_string(), "AbsoluteEntry".to_string())]);
        let cursors =
            BTreeMap::from([("ProductionOrders".to_string(), "AbsoluteEntry".to_string())]);
        let p = lookup("ProductionOrders", &keys, &cursors).unwrap();
        assert_eq!(p.changes, Changes::Numbered);
        assert_eq!(p.key_segment(&json!(7)).unwrap(), "(7)");
        let udt = BTreeMap::from([("U_PRICES".to_string(), "Code".to_string())]);
        let u = lookup("U_PRICES", &udt, &none()).unwrap();
        assert_eq!((u.changes, u.kind), (Changes::Whole, Kind::Master));
        assert_eq!(u.key_segment(&json!("P1")).unwrap(), "('P1')");
        assert_eq!(defaults().len(), 12);
    }
}
