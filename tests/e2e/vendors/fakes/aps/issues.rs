//! The fake's ACC Issues API: `GET construction/issues/v1/projects/{projectId}/issues`
//! with `limit`/`offset` paging (`pagination.totalResults`), `sortBy`,
//! `filter[updatedAt]` and `filter[deleted]`, and `x-ads-region`.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Aps, Query, ms_of, param};

/// `sortBy` values the reference lists.
const SORTABLE: &str = "displayId title description status assignedTo assignedToType dueDate \
    locationDetails published closedBy closedAt createdBy createdAt updatedAt issueSubType issueType \
    customAttributes startDate rootCause";
/// Filters the reference lists (the fake models `updatedAt` and `deleted`).
const FILTERS: &str = "id issueTypeId issueSubtypeId status linkedDocumentUrn dueDate startDate \
    deleted createdAt createdBy updatedAt updatedBy assignedTo rootCauseId locationId subLocationId \
    closedBy closedAt search displayId assignedToType valid";
const REGIONS: [&str; 8] = ["US", "EMEA", "AUS", "CAN", "DEU", "IND", "JPN", "GBR"];

fn problem(status: StatusCode, detail: &str) -> Response {
    let title = status.canonical_reason().unwrap_or_default();
    (
        status,
        axum::Json(json!({"title": title, "detail": detail})),
    )
        .into_response()
}

/// A `filter[…]` date value as a range of Unix ms: `a..b`, `a..`, `..b`,
/// a day (all of it) or an instant.
fn range(value: &str) -> Option<(i64, i64)> {
    let bound = |text: &str, end: bool| -> Option<i64> {
        let ms = ms_of(text)?;
        Some(if end && text.len() == 10 {
            ms + 86_400_000 - 1
        } else {
            ms
        })
    };
    match value.split_once("..") {
        Some((from, to)) => {
            let from = if from.is_empty() {
                i64::MIN
            } else {
                bound(from, false)?
            };
            let to = if to.is_empty() {
                i64::MAX
            } else {
                bound(to, true)?
            };
            Some((from, to))
        }
        None => Some((bound(value, false)?, bound(value, true)?)),
    }
}

pub fn list(a: &mut Aps, project: &str, query: &Query, headers: &HeaderMap) -> Response {
    if project.starts_with("b.") {
        a.violations.push(format!(
            "issues of {project}: the Issues API takes the project id without `b.`"
        ));
        return problem(StatusCode::NOT_FOUND, "The project was not found.");
    }
    let Some(p) = a
        .account
        .projects
        .iter()
        .find(|p| p.id.trim_start_matches("b.") == project)
    else {
        return problem(StatusCode::NOT_FOUND, "The project was not found.");
    };
    let hub_region = a
        .account
        .hubs
        .iter()
        .find(|h| h.id == p.hub)
        .map(|h| h.region);
    let acc = p.project_type == Some("ACC");
    if let Some(region) = headers.get("x-ads-region").and_then(|v| v.to_str().ok()) {
        if !REGIONS.contains(&region) {
            return problem(
                StatusCode::BAD_REQUEST,
                "x-ads-region is not a supported region.",
            );
        }
        if Some(region) != hub_region {
            a.violations.push(format!(
                "issues of {project}: x-ads-region {region}, the hub is in {hub_region:?}"
            ));
        }
    }
    for (k, _) in query {
        let filter = k.strip_prefix("filter[").and_then(|f| f.strip_suffix(']'));
        let documented = matches!(k.as_str(), "limit" | "offset" | "sortBy" | "fields")
            || filter.is_some_and(|f| FILTERS.split_whitespace().any(|x| x == f));
        let modelled = matches!(
            k.as_str(),
            "limit" | "offset" | "sortBy" | "filter[updatedAt]" | "filter[deleted]"
        );
        if !documented {
            a.violations
                .push(format!("issues: the reference does not list `{k}`"));
        } else if !modelled {
            a.violations
                .push(format!("issues: the fake does not model `{k}`"));
        }
    }
    if !acc {
        return problem(
            StatusCode::NOT_FOUND,
            "The project is not an Autodesk Construction Cloud project.",
        );
    }
    let limit: usize = match param(query, "limit").map(str::parse) {
        None => 100,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => return problem(StatusCode::BAD_REQUEST, "limit must be between 1 and 100."),
    };
    let Ok(offset) = param(query, "offset").unwrap_or("0").parse::<usize>() else {
        return problem(StatusCode::BAD_REQUEST, "offset must be a number.");
    };
    let deleted = match param(query, "filter[deleted]") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "filter[deleted] must be true or false.",
            );
        }
    };
    let window = match param(query, "filter[updatedAt]") {
        None => (i64::MIN, i64::MAX),
        Some(v) if v.contains(',') => {
            a.violations
                .push("issues: several filter[updatedAt] values are not modelled".into());
            (i64::MIN, i64::MAX)
        }
        Some(v) => match range(v) {
            Some(r) => r,
            None => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    &format!("filter[updatedAt] `{v}` is not a date range."),
                );
            }
        },
    };
    let sort = param(query, "sortBy").unwrap_or("createdAt").to_string();
    let first = sort.split(',').next().unwrap_or_default();
    if sort.split(',').any(|s| {
        !SORTABLE
            .split_whitespace()
            .any(|x| x == s.trim_start_matches('-'))
    }) {
        return problem(
            StatusCode::BAD_REQUEST,
            &format!("sortBy `{sort}` is not supported."),
        );
    }
    let field = first.trim_start_matches('-').to_string();
    if !matches!(field.as_str(), "createdAt" | "updatedAt" | "displayId") {
        a.violations
            .push(format!("issues: the fake does not sort by `{field}`"));
    }
    let when = |i: &Value, f: &str| i[f].as_str().and_then(ms_of).unwrap_or_default();
    let mut rows: Vec<Value> = a
        .account
        .issues
        .iter()
        .filter(|i| i.project == project && i.value["deleted"] == json!(deleted))
        .map(|i| i.value.clone())
        .filter(|i| (window.0..=window.1).contains(&when(i, "updatedAt")))
        .collect();
    rows.sort_by_key(|i| match field.as_str() {
        "displayId" => i["displayId"].as_i64().unwrap_or_default(),
        "updatedAt" => when(i, "updatedAt"),
        _ => when(i, "createdAt"),
    });
    if first.starts_with('-') {
        rows.reverse();
    }
    let total = rows.len();
    let take = limit.min(a.issues_page_cap.max(1));
    let results: Vec<Value> = rows.into_iter().skip(offset).take(take).collect();
    axum::Json(
        json!({"pagination": {"limit": take, "offset": offset, "totalResults": total},
        "results": results}),
    )
    .into_response()
}
