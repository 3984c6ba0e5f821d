//! The fields of a UBL 2.1 invoice (CIUS-RO) a record carries: number,
//! dates, parties, currency, totals and lines. Elements are matched by
//! local name, whatever prefixes the file uses.

use roxmltree::{Document, Node};
use wharf_sdk::prelude::*;

fn child<'a>(node: Node<'a, 'a>, name: &str) -> Option<Node<'a, 'a>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn path<'a>(node: Node<'a, 'a>, names: &[&str]) -> Option<Node<'a, 'a>> {
    names.iter().try_fold(node, |n, name| child(n, name))
}

fn text(node: Node, names: &[&str]) -> Value {
    path(node, names)
        .and_then(|n| n.text())
        .map(|t| Value::String(t.trim().to_string()))
        .unwrap_or(Value::Null)
}

fn amount(node: Node, names: &[&str]) -> Value {
    match text(node, names) {
        Value::String(s) => s
            .parse::<f64>()
            .map(Value::from)
            .unwrap_or(Value::String(s)),
        other => other,
    }
}

fn party(node: Node, role: &str) -> Value {
    let Some(p) = path(node, &[role, "Party"]) else {
        return Value::Null;
    };
    json!({
        "name": text(p, &["PartyLegalEntity", "RegistrationName"]),
        "vat_id": text(p, &["PartyTaxScheme", "CompanyID"]),
        "legal_id": text(p, &["PartyLegalEntity", "CompanyID"]),
        "city": text(p, &["PostalAddress", "CityName"]),
        "county": text(p, &["PostalAddress", "CountrySubentity"]),
        "country": text(p, &["PostalAddress", "Country", "IdentificationCode"]),
    })
}

/// The invoice (or credit note) in `xml`.
pub fn summary(xml: &str) -> Result<Value> {
    let doc =
        Document::parse(xml).map_err(|e| Error::Fatal(format!("the invoice is not XML: {e}")))?;
    let root = doc.root_element();
    let kind = root.tag_name().name();
    if kind != "Invoice" && kind != "CreditNote" {
        return Err(Error::Fatal(format!(
            "not a UBL invoice (root element `{kind}`)"
        )));
    }
    let line_tag = if kind == "Invoice" {
        "InvoiceLine"
    } else {
        "CreditNoteLine"
    };
    let quantity_tag = if kind == "Invoice" {
        "InvoicedQuantity"
    } else {
        "CreditedQuantity"
    };
    let lines: Vec<Value> = root
        .children()
        .filter(|c| c.tag_name().name() == line_tag)
        .map(|l| {
            json!({
                "id": text(l, &["ID"]),
                "name": text(l, &["Item", "Name"]),
                "quantity": amount(l, &[quantity_tag]),
                "unit": child(l, quantity_tag).and_then(|q| q.attribute("unitCode")),
                "price": amount(l, &["Price", "PriceAmount"]),
                "amount": amount(l, &["LineExtensionAmount"]),
                "vat_percent": amount(l, &["Item", "ClassifiedTaxCategory", "Percent"]),
            })
        })
        .collect();
    Ok(json!({
        "type": kind,
        "number": text(root, &["ID"]),
        "issue_date": text(root, &["IssueDate"]),
        "due_date": text(root, &["DueDate"]),
        "type_code": text(root, &["InvoiceTypeCode"]),
        "currency": text(root, &["DocumentCurrencyCode"]),
        "supplier": party(root, "AccountingSupplierParty"),
        "customer": party(root, "AccountingCustomerParty"),
        "tax": amount(root, &["TaxTotal", "TaxAmount"]),
        "net": amount(root, &["LegalMonetaryTotal", "TaxExclusiveAmount"]),
        "gross": amount(root, &["LegalMonetaryTotal", "TaxInclusiveAmount"]),
        "payable": amount(root, &["LegalMonetaryTotal", "PayableAmount"]),
        "lines": lines,
    }))
}

/// Every `errorMessage` attribute of an ANAF answer or error report.
pub fn error_messages(xml: &str) -> Vec<String> {
    Document::parse(xml)
        .map(|doc| {
            doc.descendants()
                .filter_map(|n| n.attribute("errorMessage"))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invoice_in_cius_ro() {
        let xml = r#"<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
 <cbc:ID>WH-0001</cbc:ID><cbc:IssueDate>2026-01-15</cbc:IssueDate><cbc:DocumentCurrencyCode>RON</cbc:DocumentCurrencyCode>
 <cac:AccountingSupplierParty><cac:Party><cac:PartyTaxScheme><cbc:CompanyID>RO12345674</cbc:CompanyID></cac:PartyTaxScheme><cac:PartyLegalEntity><cbc:RegistrationName>Seller SRL</cbc:RegistrationName></cac:PartyLegalEntity></cac:Party></cac:AccountingSupplierParty>
 <cac:LegalMonetaryTotal><cbc:PayableAmount currencyID="RON">121.00</cbc:PayableAmount></cac:LegalMonetaryTotal>
 <cac:InvoiceLine><cbc:ID>1</cbc:ID><cbc:InvoicedQuantity unitCode="C62">2</cbc:InvoicedQuantity><cac:Item><cbc:Name>Consultanta</cbc:Name></cac:Item></cac:InvoiceLine>
</Invoice>"#;
        let s = summary(xml).unwrap();
        assert_eq!(s["number"], "WH-0001");
        assert_eq!(s["supplier"]["vat_id"], "RO12345674");
        assert_eq!(s["payable"], 121.0);
        assert_eq!(s["lines"][0]["unit"], "C62");
        assert_eq!(s["lines"][0]["quantity"], 2.0);
        assert!(summary("<x/>").is_err());
        assert_eq!(
            error_messages(
                r#"<header xmlns="mfp:anaf:dgti:spv:respUploadFisier:v1" ExecutionStatus="1"><Errors errorMessage="Nu aveti drept in SPV pentru CIF=1234"/></header>"#
            ),
            ["Nu aveti drept in SPV pentru CIF=1234"]
        );
    }
}
