# Xero bank transactions → emission entries (kg CO2e), one per spend line.
#
# `.` is a bank transaction as the `xero` connector emits it; `$factors`
# is factors.json (kg CO2e per unit of currency, by account code), `$key`
# the transaction's id. A line whose account has no factor refuses the
# whole transaction into the run's errors, so nothing is half counted.
select(.Type == "SPEND" and .Status == "AUTHORISED")
| .BankTransactionID as $tx
| .Date as $date
| .CurrencyCode as $currency
| .LineItems
| to_entries[]
| .key as $n
| .value
| ($factors[.AccountCode]
    // error("no emission factor for account \(.AccountCode) (transaction \($key), line \($n + 1))")) as $f
| {
    id: "\($tx)/\($n)",
    date: ($date[:10]),
    account: .AccountCode,
    category: $f.category,
    scope: $f.scope,
    amount: .LineAmount,
    currency: $currency,
    kg_co2e: (.LineAmount * $f.kg_per_unit * 1000 | round / 1000),
    factor_source: $f.source
  }
