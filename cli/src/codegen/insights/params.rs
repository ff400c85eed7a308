//! The parameters of the insight queries, and how a query text that names them (`$from_day`) is
//! turned into each engine's form: DuckDB variables, or Athena's positional `?`s bound once each.

use super::dialect::Engine;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    /// The SQL type the value is cast to (both engines spell these the same).
    pub sql_type: &'static str,
    /// A value as it is written in SQL, for the file's usage comment.
    pub example: &'static str,
    pub doc: &'static str,
}

pub const FROM_DAY: Param = Param {
    name: "from_day",
    sql_type: "DATE",
    example: "'2026-11-01'",
    doc: "first day of the range (UTC), included",
};

pub const TO_DAY: Param = Param {
    name: "to_day",
    sql_type: "DATE",
    example: "'2026-11-30'",
    doc: "last day of the range (UTC), included",
};

pub const STEPS: Param = Param {
    name: "steps",
    sql_type: "VARCHAR",
    example: "'page_viewed,product_viewed,cart_item_added,checkout_completed'",
    doc: "the funnel's event types, in order, separated by commas",
};

pub const WINDOW_SECONDS: Param = Param {
    name: "window_seconds",
    sql_type: "BIGINT",
    example: "86400",
    doc: "conversion window: the most time from the first step to the last",
};

/// A query in both engines' forms: `$name` replaced by the engine's reading of parameter `name`,
/// and for Athena a leading `parameters` CTE that binds each `?` once, in `params` order.
///
/// Panics when the text names a parameter that is not in `params`, or when a parameter in
/// `params` is never used: both are mistakes in a query of this module, caught by its tests.
pub fn render(engine: Engine, text: &str, params: &[Param]) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    let mut used = vec![false; params.len()];
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let len = after
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(after.len());
        if len == 0 {
            // A `$` that starts no name: a JSON path such as '$.seq'.
            out.push('$');
            rest = after;
            continue;
        }
        let name = &after[..len];
        let i = params
            .iter()
            .position(|p| p.name == name)
            .unwrap_or_else(|| panic!("the query reads ${name}, which it does not declare"));
        out.push_str(&engine.param(&params[i]));
        used[i] = true;
        rest = &after[len..];
    }
    out.push_str(rest);
    if let Some(i) = used.iter().position(|u| !u) {
        panic!("the query declares ${} but never reads it", params[i].name);
    }
    match engine {
        Engine::Athena if !params.is_empty() => bind_once(&out, params),
        _ => out,
    }
}

fn bind_once(query: &str, params: &[Param]) -> String {
    let columns: Vec<String> = params
        .iter()
        .map(|p| format!("CAST(? AS {}) AS {}", p.sql_type, p.name))
        .collect();
    let cte = format!(
        "WITH parameters AS (\n  SELECT {}\n)",
        columns.join(",\n         ")
    );
    match query.strip_prefix("WITH ") {
        Some(ctes) => format!("{cte},\n{ctes}"),
        None => format!("{cte}\n{query}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duckdb_reads_each_parameter_from_its_variable() {
        let sql = render(
            Engine::DuckDb,
            "SELECT 1 WHERE d >= $from_day AND d < $from_day + 7 AND j = '$.seq'",
            &[FROM_DAY],
        );
        assert_eq!(
            sql,
            "SELECT 1 WHERE d >= CAST(getvariable('from_day') AS DATE) \
             AND d < CAST(getvariable('from_day') AS DATE) + 7 AND j = '$.seq'"
        );
    }

    #[test]
    fn athena_binds_each_parameter_once_in_declared_order_whatever_the_order_of_use() {
        let sql = render(
            Engine::Athena,
            "WITH a AS (SELECT $to_day AS t)\nSELECT $from_day, $to_day FROM a",
            &[FROM_DAY, TO_DAY],
        );
        assert_eq!(
            sql,
            "WITH parameters AS (\n  SELECT CAST(? AS DATE) AS from_day,\n         CAST(? AS DATE) AS to_day\n),\n\
             a AS (SELECT (SELECT to_day FROM parameters) AS t)\n\
             SELECT (SELECT from_day FROM parameters), (SELECT to_day FROM parameters) FROM a"
        );
    }

    #[test]
    #[should_panic(expected = "does not declare")]
    fn an_undeclared_parameter_is_a_mistake() {
        render(Engine::DuckDb, "SELECT $steps", &[]);
    }

    #[test]
    #[should_panic(expected = "never reads it")]
    fn an_unused_parameter_is_a_mistake() {
        render(Engine::Athena, "SELECT 1", &[STEPS]);
    }
}
