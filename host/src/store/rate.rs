//! The counts behind rate budgets, shared by every node: requests used per
//! connection, host and window (`window` or `day`), and the slots of
//! requests in flight (for `concurrency`). Each step is one statement, so
//! two nodes cannot both take the last request of a window or the same
//! slot.

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
