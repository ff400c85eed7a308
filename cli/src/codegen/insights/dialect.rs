//! What differs between DuckDB and Athena (Trino) in the insight queries: how a parameter is
//! passed, and the few functions the two engines spell differently. Everything else (CASE,
//! `count_if`, `min_by`, `FILTER`, `date_trunc`, `date_diff`, `UNNEST ... WITH ORDINALITY`,
//! `INTERVAL '1' SECOND` arithmetic) is written once, in the syntax both accept.

use super::params::Param;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    DuckDb,
    Athena,
}

impl Engine {
    /// `date` (a DATE expression) moved by `days`, still a DATE.
    pub fn add_days(self, date: &str, days: i32) -> String {
        match self {
            // DATE + INTEGER is a DATE; `+ INTERVAL` would give a TIMESTAMP.
            Engine::DuckDb => format!("({date} + {days})"),
            Engine::Athena => format!("date_add('day', {days}, {date})"),
        }
    }

    /// A scalar of a JSON text column as VARCHAR (NULL when absent).
    pub fn json_text(self, json: &str, path: &str) -> String {
        match self {
            Engine::DuckDb => format!("json_extract_string({json}, '{path}')"),
            Engine::Athena => format!("json_extract_scalar({json}, '{path}')"),
        }
    }

    /// The `p` quantile of `expr`: exact in DuckDB, Trino's approximation (error under 1%) in
    /// Athena, where an exact one over billions of rows would not fit one node.
    pub fn percentile(self, expr: &str, p: &str) -> String {
        match self {
            Engine::DuckDb => format!("quantile_disc({expr}, {p})"),
            Engine::Athena => format!("approx_percentile({expr}, {p})"),
        }
    }

    /// Several quantiles of `expr` at once, as an array (one sort instead of one per quantile).
    pub fn percentiles(self, expr: &str, ps: &[&str]) -> String {
        let ps = ps.join(", ");
        match self {
            Engine::DuckDb => format!("quantile_disc({expr}, ARRAY[{ps}])"),
            Engine::Athena => format!("approx_percentile({expr}, ARRAY[{ps}])"),
        }
    }

    /// The UTC day (a DATE) of a timestamp column.
    pub fn utc_day(self, ts: &str) -> String {
        match self {
            // Casting a TIMESTAMPTZ goes through the time zone library, row by row: five times
            // slower than this arithmetic on its epoch milliseconds, which is UTC whatever the
            // session's time zone.
            Engine::DuckDb => {
                format!("(DATE '1970-01-01' + CAST(epoch_ms({ts}) // 86400000 AS INTEGER))")
            }
            Engine::Athena => format!("CAST({ts} AS DATE)"),
        }
    }

    /// Milliseconds from timestamp `from` to timestamp `to`, as a BIGINT.
    pub fn millis_between(self, from: &str, to: &str) -> String {
        match self {
            // date_diff on TIMESTAMPTZ also takes the time zone library's path: 15 times slower.
            Engine::DuckDb => format!("(epoch_ms({to}) - epoch_ms({from}))"),
            Engine::Athena => format!("date_diff('millisecond', {from}, {to})"),
        }
    }

    /// An expression that stops the query with `message`, evaluated only where it is reached.
    pub fn fail(self, message: &str) -> String {
        let message = message.replace('\'', "''");
        match self {
            Engine::DuckDb => format!("error('{message}')"),
            Engine::Athena => format!("fail('{message}')"),
        }
    }

    /// An array of every day from `from` to `to` (DATE expressions), both included, to UNNEST.
    /// DuckDB's series is of TIMESTAMPs: cast each element back with `CAST(... AS DATE)`.
    pub fn day_series(self, from: &str, to: &str) -> String {
        match self {
            Engine::DuckDb => format!("generate_series({from}, {to}, INTERVAL 1 DAY)"),
            Engine::Athena => format!("sequence({from}, {to})"),
        }
    }

    /// How a CTE that several later ones read is introduced: DuckDB is told to compute it once
    /// (it may otherwise inline it into each reader and scan the lake again); Trino has no such
    /// hint and plans it itself.
    pub fn materialized(self) -> &'static str {
        match self {
            Engine::DuckDb => "AS MATERIALIZED",
            Engine::Athena => "AS",
        }
    }

    /// A parameter's value where the query reads it.
    pub fn param(self, param: &Param) -> String {
        match self {
            // getvariable() is folded to a constant when the query is planned, so a filter on
            // `dt` prunes partitions. (A guard that stops the query when the variable is unset
            // cannot be folded, and would keep the filter out of the scan.)
            Engine::DuckDb => format!("CAST(getvariable('{}') AS {})", param.name, param.sql_type),
            // Athena binds positional `?`s; each parameter is bound once, in the leading
            // `parameters` CTE, and read from there (see `params::render`).
            Engine::Athena => format!("(SELECT {} FROM parameters)", param.name),
        }
    }
}
