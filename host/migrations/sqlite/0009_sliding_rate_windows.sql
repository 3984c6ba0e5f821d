-- A rate budget's window slides: the times of the requests made in the
-- last window, per connection and host, so no window of that length ever
-- holds more than the budget (a burst across a clock-aligned boundary
-- could hold twice as many). `version` lets every node update the list
-- with a compare-and-swap.
CREATE TABLE rate_log (
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    host          TEXT NOT NULL,
    version       INTEGER NOT NULL,
    times         TEXT NOT NULL,
    PRIMARY KEY (connection_id, host)
);
