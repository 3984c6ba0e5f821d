//! Which AWBs the `tracking` stream follows: those in the config, and the
//! ones this connection created in the last days, kept in the connection's
//! state (one key per day, expiring after the tracking window).

use wharf_sdk::state;

/// Days an AWB created here is tracked.
pub const DAYS: i64 = 14;
/// A state value holds at most 8 KiB: about 500 AWBs a day.
const MAX_BYTES: usize = 8 * 1024;

fn key(day: i64) -> String {
    format!("created:{day}")
}

fn today() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64 / 86_400)
}

/// Note AWBs created now.
pub fn remember(awbs: &[String]) {
    if awbs.is_empty() {
        return;
    }
    let day = today();
    let mut list: Vec<String> = state::get(&key(day))
        .and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default();
    list.extend(awbs.iter().cloned());
    let mut text = serde_json::to_string(&list).unwrap_or_default();
    while text.len() > MAX_BYTES && !list.is_empty() {
        // Keep the newest; the oldest of the day fall out of tracking.
        list.remove(0);
        text = serde_json::to_string(&list).unwrap_or_default();
    }
    let ttl = ((DAYS + 1) * 86_400) as u32;
    if let Err(e) = state::set(&key(day), &text, Some(ttl)) {
        wharf_sdk::log::warn(format!("could not note the AWBs for tracking: {e}"));
    }
}

/// The AWBs created in the last [`DAYS`] days.
pub fn recent() -> Vec<String> {
    let today = today();
    (0..DAYS)
        .filter_map(|d| state::get(&key(today - d)))
        .filter_map(|v| serde_json::from_str::<Vec<String>>(&v).ok())
        .flatten()
        .collect()
}
