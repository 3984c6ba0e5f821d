//! The QuickBooks entities this connector reads and writes, by stream.

/// What a deleted entity becomes when a record asks to delete it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Removal {
    /// Transactions are deleted (`?operation=delete`).
    Delete,
    /// Names and accounts cannot be deleted: they are made inactive
    /// (`Active: false`), as QuickBooks itself does.
    Deactivate,
}

/// A stream and its entity.
pub struct Entity {
    /// The stream's name.
    pub stream: &'static str,
    /// The entity's name in queries, CDC and answers (`Invoice`).
    pub name: &'static str,
    pub removal: Removal,
    pub description: &'static str,
}

impl Entity {
    /// The entity's path segment for reads and writes (`invoice`).
    pub fn path(&self) -> String {
        self.name.to_ascii_lowercase()
    }
}

pub const ENTITIES: &[Entity] = &[
    Entity {
        stream: "invoices",
        name: "Invoice",
        removal: Removal::Delete,
        description: "Sales invoices with their lines, customer, amounts and balance",
    },
    Entity {
        stream: "bills",
        name: "Bill",
        removal: Removal::Delete,
        description: "Supplier bills (accounts payable) with their expense lines",
    },
    Entity {
        stream: "payments",
        name: "Payment",
        removal: Removal::Delete,
        description: "Customer payments and the invoices they settle",
    },
    Entity {
        stream: "bill_payments",
        name: "BillPayment",
        removal: Removal::Delete,
        description: "Payments of supplier bills",
    },
    Entity {
        stream: "purchases",
        name: "Purchase",
        removal: Removal::Delete,
        description: "Expenses, cheques and card charges with their account lines",
    },
    Entity {
        stream: "sales_receipts",
        name: "SalesReceipt",
        removal: Removal::Delete,
        description: "Sales paid at once",
    },
    Entity {
        stream: "credit_memos",
        name: "CreditMemo",
        removal: Removal::Delete,
        description: "Credits to customers",
    },
    Entity {
        stream: "estimates",
        name: "Estimate",
        removal: Removal::Delete,
        description: "Quotes to customers",
    },
    Entity {
        stream: "deposits",
        name: "Deposit",
        removal: Removal::Delete,
        description: "Bank deposits",
    },
    Entity {
        stream: "journal_entries",
        name: "JournalEntry",
        removal: Removal::Delete,
        description: "Manual journal entries with debit and credit lines",
    },
    Entity {
        stream: "customers",
        name: "Customer",
        removal: Removal::Deactivate,
        description: "Customers",
    },
    Entity {
        stream: "vendors",
        name: "Vendor",
        removal: Removal::Deactivate,
        description: "Suppliers",
    },
    Entity {
        stream: "accounts",
        name: "Account",
        removal: Removal::Deactivate,
        description: "The chart of accounts (names, types, account numbers)",
    },
    Entity {
        stream: "items",
        name: "Item",
        removal: Removal::Deactivate,
        description: "Products and services",
    },
];

/// The entity behind `stream`, or a config error naming the streams.
pub fn by_stream(stream: &str) -> wharf_sdk::Result<&'static Entity> {
    ENTITIES.iter().find(|e| e.stream == stream).ok_or_else(|| {
        let names: Vec<&str> = ENTITIES.iter().map(|e| e.stream).collect();
        wharf_sdk::Error::Config(format!(
            "unknown stream `{stream}` (QuickBooks streams: {})",
            names.join(", ")
        ))
    })
}

/// The entity named `name` in an answer or an event (`Invoice`).
pub fn by_name(name: &str) -> Option<&'static Entity> {
    ENTITIES.iter().find(|e| e.name.eq_ignore_ascii_case(name))
}
