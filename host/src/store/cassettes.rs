//! The cassettes of failed runs (`run_cassettes`): per side of the sync,
//! the calls that failed with their HTTP exchanges, redacted, as
//! `crate::runtime::cassette` writes them. They go with the run.

use sqlx::Row;

use super::{Result, Store};

impl Store {
    /// Keep a failed run's cassettes, `(side, cassette JSON)`.
    pub async fn save_run_cassettes(
        &self,
        run_id: &str,
        cassettes: &[(&str, String)],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for (side, cassette) in cassettes {
            sqlx::query(
                "INSERT INTO run_cassettes (run_id, side, cassette) VALUES ($1, $2, $3) \
                 ON CONFLICT (run_id, side) DO UPDATE SET cassette = excluded.cassette",
            )
            .bind(run_id)
            .bind(*side)
            .bind(cassette)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The sides of a run that have a cassette.
    pub async fn run_cassette_sides(&self, run_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT side FROM run_cassettes WHERE run_id = $1 ORDER BY side")
            .bind(run_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| Ok(r.try_get("side")?)).collect()
    }

    /// A run's cassette of `side`.
    pub async fn run_cassette(&self, run_id: &str, side: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT cassette FROM run_cassettes WHERE run_id = $1 AND side = $2")
            .bind(run_id)
            .bind(side)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(r) => Some(r.try_get("cassette")?),
            None => None,
        })
    }
}
