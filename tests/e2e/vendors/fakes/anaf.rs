//! A fake ANAF: its OAuth2 server, the public VAT registry and RO
//! e-Factura, from ANAF's published service descriptions (details and
//! sources in `docs/vendors/anaf.md`;
//! <https://mfinante.gov.ro/ro/web/efactura/informatii-tehnice>):
//!
//! - `logincert`: `GET /anaf-oauth2/v1/authorize` (`token_content_type=jwt`),
//!   `POST /anaf-oauth2/v1/token` with the client in HTTP Basic; a refresh
//!   returns a new access *and* refresh token (the old refresh token dies).
//! - `POST /api/PlatitorTvaRest/v9/tva`: at most 100 `{cui, data}`;
//!   `{"found": [...], "notFound": [...]}` without the documented envelope,
//!   as the service answers today.
//! - `/{env}/FCTEL/rest/upload` (XML `header` with `index_incarcare`, or
//!   `ExecutionStatus="1"` with `Errors`), `stareMesaj` (`in prelucrare`
//!   once, then `ok` or `nok` with `id_descarcare`),
//!   `listaMesajePaginatieFactura` (epoch ms within 60 days, pages), and
//!   `descarcare` (a ZIP of `{id}.xml` and `semnatura_{id}.xml`, deflated);
//!   refusals as HTTP 200 with `eroare`, as ANAF does.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::Request;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::Upstream;

pub const CLIENT_ID: &str = "5e1f0b9a8c7d6e5f4a3b2c1d0e9f8a7b";
pub const CLIENT_SECRET: &str = "anaf-client-secret-77";
pub const CIF: &str = "12345674";

#[derive(Clone, Debug)]
pub struct Message {
    pub id: u64,
    pub upload: u64,
    pub kind: &'static str,
    pub created_ms: i64,
    pub xml: String,
}

#[derive(Default)]
pub struct Anaf {
    pub access: Vec<String>,
    pub refresh: Vec<String>,
    pub codes: Vec<String>,
    pub messages: Vec<Message>,
    /// Uploads: index → (xml, polls so far).
    pub uploads: BTreeMap<u64, (String, u32)>,
    pub lookups: Vec<usize>,
    pub page_size: usize,
    next: u64,
}

pub type Shared = Arc<Mutex<Anaf>>;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `YYYYMMDDHHmm` for epoch ms (UTC here; ANAF writes Romania's time).
fn stamp(ms: i64) -> String {
    let secs = ms / 1000;
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = wharf_sdk::time::civil(secs.div_euclid(86_400));
    format!("{y:04}{m:02}{d:02}{:02}{:02}", rem / 3600, rem % 3600 / 60)
}

/// A CIUS-RO invoice (the shape of ANAF's own example).
pub fn invoice(
    number: &str,
    seller: &str,
    seller_cif: &str,
    buyer_cif: &str,
    total: &str,
) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
 <cbc:CustomizationID>urn:cen.eu:en16931:2017#compliant#urn:efactura.mfinante.ro:CIUS-RO:1.0.1</cbc:CustomizationID>
 <cbc:ID>{number}</cbc:ID><cbc:IssueDate>2026-11-15</cbc:IssueDate><cbc:DueDate>2026-12-15</cbc:DueDate>
 <cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode><cbc:DocumentCurrencyCode>RON</cbc:DocumentCurrencyCode>
 <cac:AccountingSupplierParty><cac:Party><cac:PostalAddress><cbc:CityName>SECTOR1</cbc:CityName><cbc:CountrySubentity>RO-B</cbc:CountrySubentity><cac:Country><cbc:IdentificationCode>RO</cbc:IdentificationCode></cac:Country></cac:PostalAddress>
  <cac:PartyTaxScheme><cbc:CompanyID>RO{seller_cif}</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>
  <cac:PartyLegalEntity><cbc:RegistrationName>{seller}</cbc:RegistrationName></cac:PartyLegalEntity></cac:Party></cac:AccountingSupplierParty>
 <cac:AccountingCustomerParty><cac:Party><cac:PartyTaxScheme><cbc:CompanyID>RO{buyer_cif}</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>
  <cac:PartyLegalEntity><cbc:RegistrationName>Buyer SRL</cbc:RegistrationName></cac:PartyLegalEntity></cac:Party></cac:AccountingCustomerParty>
 <cac:TaxTotal><cbc:TaxAmount currencyID="RON">21.00</cbc:TaxAmount></cac:TaxTotal>
 <cac:LegalMonetaryTotal><cbc:TaxExclusiveAmount currencyID="RON">100.00</cbc:TaxExclusiveAmount><cbc:TaxInclusiveAmount currencyID="RON">{total}</cbc:TaxInclusiveAmount><cbc:PayableAmount currencyID="RON">{total}</cbc:PayableAmount></cac:LegalMonetaryTotal>
 <cac:InvoiceLine><cbc:ID>1</cbc:ID><cbc:InvoicedQuantity unitCode="C62">2</cbc:InvoicedQuantity><cbc:LineExtensionAmount currencyID="RON">100.00</cbc:LineExtensionAmount>
  <cac:Item><cbc:Name>Servicii consultanta</cbc:Name></cac:Item><cac:Price><cbc:PriceAmount currencyID="RON">50.00</cbc:PriceAmount></cac:Price></cac:InvoiceLine>
</Invoice>"#
    )
}

impl Anaf {
    fn id(&mut self) -> u64 {
        self.next += 1;
        3_001_474_400 + self.next
    }

    /// An invoice received from a supplier, as ANAF lists it.
    pub fn received(&mut self, xml: String) -> u64 {
        let id = self.id();
        let upload = 5_001_120_000 + self.next;
        self.messages.push(Message {
            id,
            upload,
            kind: "FACTURA PRIMITA",
            created_ms: now_ms() - 3_600_000,
            xml,
        });
        id
    }

    /// The access tokens expire.
    pub fn expire(&mut self) {
        self.access.clear();
    }
}

pub async fn start() -> (Upstream, Shared) {
    let shared = Arc::new(Mutex::new(Anaf {
        page_size: 500,
        ..Anaf::default()
    }));
    let app = Router::new().fallback(serve).with_state(shared.clone());
    (Upstream::start(app).await, shared)
}

/// A ZIP of `(name, bytes)` entries, deflated, as ANAF sends.
fn zip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let mut enc =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        let packed = enc.finish().unwrap();
        let offset = out.len() as u32;
        let head = |sig: u32, central: bool| {
            let mut h = sig.to_le_bytes().to_vec();
            if central {
                h.extend(20u16.to_le_bytes());
            }
            for v in [20u16, 0, 8, 0, 0] {
                h.extend(v.to_le_bytes());
            }
            h.extend(crc.sum().to_le_bytes());
            h.extend((packed.len() as u32).to_le_bytes());
            h.extend((data.len() as u32).to_le_bytes());
            h.extend((name.len() as u16).to_le_bytes());
            h.extend(0u16.to_le_bytes());
            if central {
                for v in [0u16, 0, 0] {
                    h.extend(v.to_le_bytes());
                }
                h.extend(0u32.to_le_bytes());
                h.extend(offset.to_le_bytes());
            }
            h.extend(name.as_bytes());
            h
        };
        out.extend(head(0x0403_4b50, false));
        out.extend(&packed);
        central.extend(head(0x0201_4b50, true));
    }
    let start = out.len() as u32;
    out.extend(&central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    for v in [0u16, 0, entries.len() as u16, entries.len() as u16] {
        out.extend(v.to_le_bytes());
    }
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(start.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

fn xml_header(ns: &str, attrs: &str, inner: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<header xmlns=\"{ns}\" {attrs}>{inner}</header>"
    );
    ([("content-type", "application/xml")], body).into_response()
}

async fn serve(State(anaf): State<Shared>, request: Request) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let q: BTreeMap<String, String> =
        serde_urlencoded::from_str(request.uri().query().unwrap_or("")).unwrap_or_default();
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 16 << 20)
        .await
        .unwrap_or_default()
        .to_vec();
    let mut a = anaf.lock().unwrap();
    match (method.as_str(), path.as_str()) {
        ("GET", "/anaf-oauth2/v1/authorize") => {
            if q.get("client_id").map(String::as_str) != Some(CLIENT_ID)
                || q.get("token_content_type").map(String::as_str) != Some("jwt")
            {
                return (StatusCode::BAD_REQUEST, "invalid_request").into_response();
            }
            let code = format!("anaf-code-{}", a.codes.len() + 1);
            a.codes.push(code.clone());
            let state: String = url::form_urlencoded::byte_serialize(
                q.get("state").cloned().unwrap_or_default().as_bytes(),
            )
            .collect();
            let redirect = format!(
                "{}?code={code}&state={state}",
                q.get("redirect_uri").cloned().unwrap_or_default()
            );
            return (StatusCode::FOUND, [("location", redirect)]).into_response();
        }
        ("POST", "/anaf-oauth2/v1/token") => return token(&mut a, &headers, &body),
        ("POST", "/api/PlatitorTvaRest/v9/tva") => return vat(&mut a, &body),
        _ => {}
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|t| a.access.iter().any(|x| x == t)) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(
                json!({"error": "invalid_token", "error_description": "Access token expired"}),
            ),
        )
            .into_response();
    }
    let Some(op) = path
        .strip_prefix("/test/FCTEL/rest/")
        .or_else(|| path.strip_prefix("/prod/FCTEL/rest/"))
    else {
        return (StatusCode::FORBIDDEN, "Forbidden").into_response();
    };
    match (method.as_str(), op) {
        ("POST", "upload") => {
            let (Some(standard), Some(cif)) = (q.get("standard"), q.get("cif")) else {
                return (StatusCode::BAD_REQUEST, axum::Json(json!({"timestamp": "05-12-2026 10:00:00", "status": 400, "error": "Bad Request", "message": "Parametrii standard si cif sunt obligatorii"}))).into_response();
            };
            let ns = "mfp:anaf:dgti:spv:respUploadFisier:v1";
            if !["UBL", "CN", "CII", "RASP"].contains(&standard.as_str()) {
                return xml_header(
                    ns,
                    "ExecutionStatus=\"1\"",
                    "<Errors errorMessage=\"Valorile acceptate pentru parametrul standard sunt UBL, CN, CII sau RASP\"/>",
                );
            }
            if cif != CIF {
                return xml_header(
                    ns,
                    "ExecutionStatus=\"1\"",
                    &format!("<Errors errorMessage=\"Nu aveti drept in SPV pentru CIF={cif}\"/>"),
                );
            }
            let xml = String::from_utf8_lossy(&body).into_owned();
            if roxml_ok(&xml).is_none() {
                return xml_header(
                    ns,
                    "ExecutionStatus=\"1\"",
                    "<Errors errorMessage=\"Fisierul transmis nu este valid. org.xml.sax.SAXParseException; lineNumber: 1; columnNumber: 1; Content is not allowed in prolog.\"/>",
                );
            }
            let index = 5_001_130_000 + a.uploads.len() as u64 + 1;
            a.uploads.insert(index, (xml, 0));
            xml_header(
                ns,
                &format!(
                    "dateResponse=\"{}\" ExecutionStatus=\"0\" index_incarcare=\"{index}\"",
                    stamp(now_ms())
                ),
                "",
            )
        }
        ("GET", "stareMesaj") => {
            let ns = "mfp:anaf:dgti:efactura:stareMesajFactura:v1";
            let Some(index) = q.get("id_incarcare").and_then(|i| i.parse::<u64>().ok()) else {
                return xml_header(
                    ns,
                    "",
                    "<Errors errorMessage=\"Id_incarcare introdus= aaa nu este un numar intreg\"/>",
                );
            };
            let Some((xml, polls)) = a.uploads.get_mut(&index) else {
                return xml_header(
                    ns,
                    "",
                    &format!(
                        "<Errors errorMessage=\"Nu exista factura cu id_incarcare= {index}\"/>"
                    ),
                );
            };
            *polls += 1;
            if *polls == 1 {
                return xml_header(ns, "stare=\"in prelucrare\"", "");
            }
            let xml = xml.clone();
            let failed = xml.contains("FAIL");
            let id = a.id();
            let kind = if failed {
                "ERORI FACTURA"
            } else {
                "FACTURA TRIMISA"
            };
            if !a.messages.iter().any(|m| m.upload == index) {
                a.messages.push(Message {
                    id,
                    upload: index,
                    kind,
                    created_ms: now_ms() - 60_000,
                    xml,
                });
            }
            let id = a
                .messages
                .iter()
                .find(|m| m.upload == index)
                .map_or(id, |m| m.id);
            xml_header(
                ns,
                &format!(
                    "stare=\"{}\" id_descarcare=\"{id}\"",
                    if failed { "nok" } else { "ok" }
                ),
                "",
            )
        }
        ("GET", "listaMesajePaginatieFactura") => {
            let (Some(start), Some(end), Some(cif), Some(page)) = (
                q.get("startTime").and_then(|v| v.parse::<i64>().ok()),
                q.get("endTime").and_then(|v| v.parse::<i64>().ok()),
                q.get("cif"),
                q.get("pagina").and_then(|v| v.parse::<usize>().ok()),
            ) else {
                return (StatusCode::BAD_REQUEST, axum::Json(json!({"timestamp": "05-12-2026 10:00:00", "status": 400, "error": "Bad Request", "message": "Parametrii startTime, endTime, cif si pagina sunt obligatorii"}))).into_response();
            };
            let lista = |e: String| {
                axum::Json(json!({"eroare": e, "titlu": "Lista Mesaje"})).into_response()
            };
            if cif != CIF {
                return lista(format!("Nu aveti drept in SPV pentru CIF={cif}"));
            }
            if now_ms() - start > 60 * 86_400_000 {
                return lista(format!(
                    "startTime = {start} nu poate fi mai vechi de 60 de zile fata de momentul requestului"
                ));
            }
            if end <= start || end > now_ms() {
                return lista(format!(
                    "endTime = {end} nu poate fi <= startTime = {start} sau in viitor"
                ));
            }
            let filter = q.get("filtru").cloned();
            let matching: Vec<&Message> = a
                .messages
                .iter()
                .filter(|m| m.created_ms >= start && m.created_ms <= end)
                .filter(|m| match filter.as_deref() {
                    Some("E") => m.kind == "ERORI FACTURA",
                    Some("T") => m.kind == "FACTURA TRIMISA",
                    Some("P") => m.kind == "FACTURA PRIMITA",
                    Some(_) => false,
                    None => true,
                })
                .collect();
            if matching.is_empty() {
                return lista("Nu exista mesaje in intervalul selectat".into());
            }
            let size = a.page_size.max(1);
            let pages = matching.len().div_ceil(size);
            if page == 0 || page > pages {
                return lista(format!(
                    "Pagina solicitata {page} este mai mare decat numarul toatal de pagini {pages}"
                ));
            }
            let slice: Vec<Value> = matching.iter().skip((page - 1) * size).take(size).map(|m| json!({
                "data_creare": stamp(m.created_ms), "cif": CIF, "id_solicitare": m.upload.to_string(),
                "detalii": format!("Factura cu id_incarcare={} emisa de cif_emitent=8000000000 pentru cif_beneficiar={CIF}", m.upload),
                "tip": m.kind, "id": m.id.to_string()})).collect();
            axum::Json(json!({"mesaje": slice, "numar_inregistrari_in_pagina": slice.len(), "numar_total_inregistrari_per_pagina": size,
                "numar_total_inregistrari": matching.len(), "numar_total_pagini": pages, "index_pagina_curenta": page,
                "serial": "1234AA456", "cui": CIF, "titlu": "Lista Mesaje disponibile"})).into_response()
        }
        ("GET", "descarcare") => {
            let id = q.get("id").cloned().unwrap_or_default();
            let Some(m) = a.messages.iter().find(|m| m.id.to_string() == id) else {
                return axum::Json(json!({"eroare": format!("Pentru id={id} nu exista inregistrata nici o factura"), "titlu": "Descarcare mesaj"})).into_response();
            };
            let content = if m.kind == "ERORI FACTURA" {
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<header xmlns=\"mfp:anaf:dgti:efactura:mesajEroriFactuta:v1\" Index_incarcare=\"{}\" Cif_emitent=\"{CIF}\"><Error errorMessage=\"E: validari globale SCHEMATRON eroare: [BR-CO-09]-The Seller VAT identifier, the Seller tax representative VAT identifier and the Buyer VAT identifier shall have a prefix in accordance with ISO code ISO 3166-1 alpha-2\"/></header>",
                    m.upload
                )
            } else {
                m.xml.clone()
            };
            let signature = "<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\"><SignedInfo/><SignatureValue>c2ln</SignatureValue></Signature>";
            let bytes = zip(&[
                (format!("{}.xml", m.upload), content.into_bytes()),
                (
                    format!("semnatura_{}.xml", m.upload),
                    signature.as_bytes().to_vec(),
                ),
            ]);
            (
                [
                    ("content-type", "application/octet-stream"),
                    (
                        "content-disposition",
                        "attachment; filename=\"download.zip\"",
                    ),
                ],
                bytes,
            )
                .into_response()
        }
        _ => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"status": 404, "error": "Not Found", "path": path})),
        )
            .into_response(),
    }
}

fn roxml_ok(xml: &str) -> Option<()> {
    xml.trim_start().starts_with('<').then_some(())
}

fn token(a: &mut Anaf, headers: &HeaderMap, body: &[u8]) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let form: BTreeMap<String, String> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let ok = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = form.get("code").cloned().unwrap_or_default();
            let known = a.codes.contains(&code);
            a.codes.retain(|c| *c != code);
            known
        }
        Some("refresh_token") => {
            let r = form.get("refresh_token").cloned().unwrap_or_default();
            let known = a.refresh.contains(&r);
            // Rotation: a refresh token works once.
            a.refresh.retain(|x| *x != r);
            known
        }
        _ => false,
    };
    if !ok {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    }
    let n = a.access.len() + a.refresh.len() + a.codes.len() + 1;
    let access =
        format!("eyJhbGciOiJSUzUxMiJ9.eyJpc3MiOiJodHRwczovL2xvZ2luY2VydC5hbmFmLnJvIn0.access{n}");
    let refresh = format!("eyJhbGciOiJSUzUxMiJ9.eyJ0eXBlIjoicmVmcmVzaCJ9.refresh{n}");
    a.access.push(access.clone());
    a.refresh.push(refresh.clone());
    axum::Json(json!({"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": 7_776_000})).into_response()
}

fn vat(a: &mut Anaf, body: &[u8]) -> Response {
    let Ok(Value::Array(asked)) = serde_json::from_slice::<Value>(body) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"cod": 400, "message": "Request invalid"})),
        )
            .into_response();
    };
    if asked.len() > 100 {
        return axum::Json(
            json!({"cod": 400, "message": "Un request poate contine maxim 100 de CUI-uri"}),
        )
        .into_response();
    }
    a.lookups.push(asked.len());
    let mut found = Vec::new();
    let mut not_found = Vec::new();
    for item in asked {
        let (Some(cui), Some(date)) = (item["cui"].as_u64(), item["data"].as_str()) else {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"cod": 400, "message": "cui si data sunt obligatorii"})),
            )
                .into_response();
        };
        if cui == 1_590_082 {
            found.push(json!({"date_generale": {"cui": 1590082, "data": date, "denumire": "OMV PETROM S.A.",
                "adresa": "MUN. BUCUREŞTI, SECT. 1, STR. CORALILOR, NR.22", "nrRegCom": "J40/8302/1997", "telefon": "0372868930",
                "codPostal": "013329", "act": "", "stare_inregistrare": "INREGISTRAT din data 02.01.1998", "data_inregistrare": "1998-01-02",
                "cod_CAEN": "610", "iban": "", "statusRO_e_Factura": true, "data_inreg_Reg_RO_e_Factura": "2022-03-01",
                "organFiscalCompetent": "Administraţie pentru Contribuabili Mari", "forma_organizare": "PERSOANA JURIDICA",
                "forma_juridica": "SOCIETATE COMERCIALA PE ACTIUNI"},
                "inregistrare_scop_Tva": {"scpTVA": true, "perioade_TVA": [{"data_inceput_ScpTVA": "1993-07-01", "data_sfarsit_ScpTVA": "", "data_anul_imp_ScpTVA": "", "mesaj_ScpTVA": ""}]},
                "inregistrare_RTVAI": {"dataInceputTvaInc": "", "dataSfarsitTvaInc": "", "dataActualizareTvaInc": "", "dataPublicareTvaInc": "", "tipActTvaInc": "", "statusTvaIncasare": false},
                "stare_inactiv": {"dataInactivare": "", "dataReactivare": "", "dataPublicare": "", "dataRadiere": "", "statusInactivi": false},
                "inregistrare_SplitTVA": {"dataInceputSplitTVA": "", "dataAnulareSplitTVA": "", "statusSplitTVA": false}}));
        } else {
            not_found.push(json!(cui));
        }
    }
    axum::Json(json!({"found": found, "notFound": not_found})).into_response()
}
