//! The counts behind rate budgets, shared by every node: the times of the
//! requests in a connection's sliding window per host, requests used per
//! UTC day, and the slots of requests in flight (for `concurrency`). A day
//! or a slot is taken in one statement and the window's times by
//! compare-and-swap, so two nodes cannot both take the last request of a
//! window or the same slot.

use super::{Result, Store};

impl Store {
    /// Count one request in the window that started at `window_start`
    /// (a new window resets the count); false, with nothing counted, when
    /// `limit` requests were already made in it.
    pub async fn rate_take(
        &self,
        connection_id: &str,
        host: &str,
        kind: &str,
        window_start: i64,
        limit: u32,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO rate_usage (connection_id, host, kind, window_start, used) VALUES ($1, $2, $3, $4, 1) \
             ON CONFLICT (connection_id, host, kind) DO UPDATE SET \
             used = CASE WHEN rate_usage.window_start < $4 THEN 1 ELSE rate_usage.used + 1 END, \
             window_start = CASE WHEN rate_usage.window_start < $4 THEN $4 ELSE rate_usage.window_start END \
             WHERE rate_usage.window_start < $4 OR rate_usage.used < $5",
        )
        .bind(connection_id)
        .bind(host)
        .bind(kind)
        .bind(window_start)
        .bind(i64::from(limit))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Admit one request at `now` (Unix ms) to the sliding window of
    /// `window_ms` that holds at most `limit`: `None` when it is counted,
    /// or how many ms until it could be, with nothing counted.
    pub async fn rate_slide(
        &self,
        connection_id: &str,
        host: &str,
        now: i64,
        window_ms: i64,
        limit: u32,
    ) -> Result<Option<i64>> {
        let limit = limit.max(1) as usize;
        loop {
            let row: Option<(i64, String)> = sqlx::query_as(
                "SELECT version, times FROM rate_log WHERE connection_id = $1 AND host = $2",
            )
            .bind(connection_id)
            .bind(host)
            .fetch_optional(self.pool())
            .await?;
            let (version, text) = row.map_or((None, String::new()), |(v, t)| (Some(v), t));
            let mut times: Vec<i64> = text
                .split(',')
                .filter_map(|t| t.parse().ok())
                .filter(|t| *t > now - window_ms)
                .collect();
            times.sort_unstable();
            if times.len() >= limit {
                // It may go when the `limit`-th newest leaves the window.
                return Ok(Some(times[times.len() - limit] + window_ms - now));
            }
            times.push(now);
            times.sort_unstable();
            let text = times
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let done = match version {
                None => {
                    sqlx::query(
                        "INSERT INTO rate_log (connection_id, host, version, times) VALUES ($1, $2, 1, $3) \
                         ON CONFLICT (connection_id, host) DO NOTHING",
                    )
                    .bind(connection_id)
                    .bind(host)
                    .bind(text)
                    .execute(self.pool())
                    .await?
                }
                Some(version) => {
                    sqlx::query(
                        "UPDATE rate_log SET version = $3, times = $4 \
                         WHERE connection_id = $1 AND host = $2 AND version = $5",
                    )
                    .bind(connection_id)
                    .bind(host)
                    .bind(version + 1)
                    .bind(text)
                    .bind(version)
                    .execute(self.pool())
                    .await?
                }
            };
            if done.rows_affected() == 1 {
                return Ok(None);
            }
            // Another session counted a request in between: read again.
        }
    }

    /// Take a free (or expired) concurrency slot below `slots`, held by
    /// `holder` until `until` (Unix ms); `None` when all are held.
    pub async fn rate_slot(
        &self,
        connection_id: &str,
        host: &str,
        slots: u32,
        holder: &str,
        until: i64,
        now: i64,
    ) -> Result<Option<u32>> {
        for slot in 0..slots {
            let done = sqlx::query(
                "INSERT INTO rate_slots (connection_id, host, slot, holder, until) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (connection_id, host, slot) DO UPDATE SET holder = $4, until = $5 \
                 WHERE rate_slots.until < $6",
            )
            .bind(connection_id)
            .bind(host)
            .bind(i64::from(slot))
            .bind(holder)
            .bind(until)
            .bind(now)
            .execute(self.pool())
            .await?;
            if done.rows_affected() == 1 {
                return Ok(Some(slot));
            }
        }
        Ok(None)
    }

    /// Free a slot `holder` took.
    pub async fn rate_free(
        &self,
        connection_id: &str,
        host: &str,
        slot: u32,
        holder: &str,
    ) -> Result<()> {
        sqlx::query(
            "DELETE FROM rate_slots WHERE connection_id = $1 AND host = $2 AND slot = $3 AND holder = $4",
        )
        .bind(connection_id)
        .bind(host)
        .bind(i64::from(slot))
        .bind(holder)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
